"""Transaction logs bigger than memory: filed by customer in partitions, each rolled up by the code a log
read whole goes through (``lib.data.features.customers_from_transactions``), with the line rules of the
whole log (``lib.data.orders.LineTally``)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lib.data.schema import ids_as_text
from lib.errors import DataValidationError
from lib.flow.model_file import ModelBundle
from lib.scale.parts import Source, batches, clean
from lib.text.i18n import t

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


LOG_PARTITIONS = 32


def roll_up_log(source: Source, customer_col: str | None = None, date_col: str | None = None,
                amount_col: str | None = None, batch_rows: int = 1_000_000, partitions: int = LOG_PARTITIONS,
                say: Progress | None = None):
    """A transaction log rolled up to one row per customer without holding the log in memory.

    Pass 1 reads the log in batches and files each line under one of ``partitions`` Parquet files by a
    hash of its customer id, keeping only the columns the roll-up reads. Pass 2 rolls each file up with
    ``lib.data.features.customers_from_transactions``, the code a log read whole goes through, so the
    features are the same, and stacks them. Memory holds one batch, then one partition (~1/32 of the lines).
    Returns a ``CustomerTable`` like ``customers_from_transactions``, with the same as-of date: the
    export's plausible end (``lib.data.orders.plausible_end``) is found on the dates of the whole log,
    gathered in pass 1 (8 bytes a line), and lines after it are left out and said once.
    """
    import tempfile

    from lib.data.features import CustomerTable, customers_from_transactions, infer_transaction_columns
    from lib.data.orders import LineTally, usable_dates

    say = say or (lambda m: log.info(m))
    folder = Path(tempfile.mkdtemp(prefix="bullseye-log-"))
    writers: dict[int, pq.ParquetWriter] = {}
    cols = None
    dates: list[np.ndarray] = []  # the usable lines' dates, as plausible_end reads them on a log read whole
    lines = 0
    try:
        for raw in batches(source, None, batch_rows):
            frame, _ = clean(raw, source.decimal)
            if cols is None:
                cols = infer_transaction_columns(frame, customer_col, date_col, amount_col)
                tally = LineTally(cols)  # what a line is follows from the whole log, not from one partition
                keep = [c for c in dict.fromkeys([cols.customer, cols.date, cols.order, cols.amount, cols.quantity,
                                                  cols.unit_price, cols.product, *cols.categorical]) if c]
                # Ids and codes are text whatever they look like: the roll-up reads them as text anyway.
                codes = {cols.customer, cols.order, cols.product}
                kinds = {c: ("text" if c in codes else "date" if pd.api.types.is_datetime64_any_dtype(frame[c]) else
                             "number" if pd.api.types.is_numeric_dtype(frame[c]) else "text") for c in keep}
            tally.add(frame)
            dates.append(usable_dates(frame, cols).to_numpy(dtype="datetime64[ns]"))
            part = _typed_part(frame[keep].copy(), kinds, cols.customer)
            bucket = pd.util.hash_pandas_object(ids_as_text(part[cols.customer]), index=False).to_numpy() % partitions
            for b in np.unique(bucket):
                table = pa.Table.from_pandas(part[bucket == b], preserve_index=False)
                if b not in writers:
                    writers[b] = pq.ParquetWriter(folder / f"p{b:03d}.parquet", table.schema)
                writers[b].write_table(table.cast(writers[b].schema))
            lines += len(part)
            say(t("{n} log lines filed by customer", n=f"{lines:,}"))
        for w in writers.values():
            w.close()
        writers.clear()
        if cols is None:
            raise DataValidationError(t("{file} has a header but no data rows.", file=Path(source.path).name))
        dates = np.concatenate(dates)
        end, as_of, after = _end_of_log(dates)
        rules = tally.rules()
        tables = []
        for path in sorted(folder.glob("p*.parquet")):
            lines_part = pq.read_table(path).to_pandas()
            try:
                tables.append(customers_from_transactions(lines_part, cols.customer, cols.date, cols.amount,
                                                          as_of=as_of, rules=rules, end=end))
            except DataValidationError:
                continue  # a partition with no usable line; the whole log is checked below
        if not tables:
            raise DataValidationError(t("No usable lines: every line lacks a customer id, a date or an amount."))
    finally:
        for w in writers.values():
            w.close()
        shutil.rmtree(folder, ignore_errors=True)
    customers = pd.concat([t.customers for t in tables], ignore_index=True)
    customers = customers.sort_values("customer_id", kind="stable").reset_index(drop=True)
    warnings = _merged_warnings(tables) + ((after,) if after else ())
    return CustomerTable(customers=customers, columns=tables[0].columns, as_of=tables[0].as_of,
                         lines_used=sum(t.lines_used for t in tables),
                         lines_dropped_no_customer=sum(t.lines_dropped_no_customer for t in tables),
                         cancellation_lines=sum(t.cancellation_lines for t in tables),
                         non_product_lines=sum(t.non_product_lines for t in tables), warnings=warnings,
                         lines_after_end=sum(t.lines_after_end for t in tables), suggested_as_of=as_of,
                         first_date=pd.Timestamp(dates.min()), last_date=pd.Timestamp(dates.max()))


def _end_of_log(dates: np.ndarray) -> tuple[pd.Timestamp | None, pd.Timestamp | None, str | None]:
    """From the usable lines' dates of the whole log: its plausible end, the as-of date (the day after the
    last line up to that end, as for a log read whole: each partition alone would differ) and what to
    say about the lines after the end (None when there are none)."""
    from lib.data.features import after_end_warning
    from lib.data.orders import plausible_end

    end = plausible_end(pd.Series(dates))
    if end is None:
        return None, None, None
    kept = dates[dates <= np.datetime64(end)]
    as_of = pd.Timestamp(kept.max()).normalize() + pd.Timedelta(days=1)
    n_after = int((dates > np.datetime64(end)).sum())
    return end, as_of, after_end_warning(n_after, end, pd.Timestamp(dates.max())) if n_after else None


def _typed_part(part: pd.DataFrame, kinds: dict[str, str], customer_col: str) -> pd.DataFrame:
    """One type per column in every batch, as the partition files need: dates by the one order-date
    rule, numbers as float64, ids and codes as text."""
    from lib.data.orders import order_dates

    for c, kind in kinds.items():
        if kind == "date":
            part[c] = order_dates(part[c])
        elif kind == "number":
            part[c] = pd.to_numeric(part[c], errors="coerce").astype("float64")
        elif c == customer_col:
            part[c] = ids_as_text(part[c])
        else:  # in C: pandas' astype(str) on a million numbers takes seconds
            v = part[c]
            if pd.api.types.is_float_dtype(v) and bool(v.dropna().mod(1).eq(0).all()):
                v = v.astype("Int64")
            part[c] = pd.Series(pa.array(v, from_pandas=True).cast(pa.string()), index=part.index,
                                dtype="str") if pd.api.types.is_numeric_dtype(v) else v.astype("str")
    return part


def _merged_warnings(tables) -> tuple[str, ...]:
    """The same warning from several partitions is said once, with the counts added up."""
    import re

    counts: dict[str, int] = {}
    for table in tables:
        for w in table.warnings:
            m = re.match(r"^([\d,]+)(.*)$", w)
            key, n = (m.group(2), int(m.group(1).replace(",", ""))) if m else (w, 0)
            counts[key] = counts.get(key, 0) + n
    return tuple(f"{n:,}{k}" if n else k for k, n in counts.items())


def rolled_up_customers(bundle: ModelBundle, source: Source, digest: str, batch_rows: int, say: Progress):
    """The (LoadResult, Customers) ``pipeline.score_file`` takes, for a transaction-log model on a log
    rolled up in parts: the customer table is small, the log is never held whole."""
    from lib.data.io import LoadResult
    from lib.flow.pipeline import Customers, CustomerSettings

    r = bundle.data.get("rollup") or {}
    table = roll_up_log(source, r.get("customer_col"), r.get("date_col"), r.get("amount_col"),
                        batch_rows=max(batch_rows, 1_000_000), say=say)
    loaded = LoadResult(frame=pd.DataFrame(), source_name=Path(source.path).name, file_format=source.file_format,
                        encoding=source.encoding, delimiter=source.delimiter, decimal=source.decimal, warnings=(),
                        digest=digest, size_bytes=source.size_bytes, fixes=())
    settings = CustomerSettings(True, r.get("customer_col"), r.get("date_col"), r.get("amount_col"))
    cust = Customers(table.customers, table.lines_used + table.lines_dropped_no_customer, len(source.columns),
                     settings, rollup=table, warnings=table.warnings)
    return loaded, cust


