"""Transactions -> customers: roll an order-line log up to one row per customer (RFM and friends).

Vectorised groupbys only; no per-customer Python loops. Column names are arguments with inferred
defaults, so any export shape works.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from lib.data.orders import (
    NON_PRODUCT_CODES,
    RETURNED,
    LineRules,
    TransactionColumns,
    classify_lines,
    infer_transaction_columns,
    order_dates,
    order_timestamp,
    plausible_end,
)
from lib.data.quality import log_problems
from lib.errors import DataValidationError
from lib.text.i18n import t

# Where other code has always found them: what an order line is lives in lib.data.orders.
__all__ = ["NON_PRODUCT_CODES", "CustomerTable", "TransactionColumns", "customers_from_transactions",
           "default_cutoff", "infer_transaction_columns", "repurchase_labels"]


@dataclass(frozen=True)
class CustomerTable:
    """One row per customer plus the facts of the roll-up."""

    customers: pd.DataFrame
    columns: TransactionColumns
    as_of: pd.Timestamp
    lines_used: int
    lines_dropped_no_customer: int
    cancellation_lines: int
    non_product_lines: int
    warnings: tuple[str, ...]
    lines_after_end: int = 0  # lines dated after the export's plausible end (lib.data.orders.plausible_end): left out
    source_problems: tuple = ()  # the log's own problems, in log terms (lib.data.quality.log_problems)
    suggested_as_of: pd.Timestamp | None = None  # the as-of date without a choice: the day after the plausible end's last line
    lines_after_as_of: int = 0  # usable lines on or after a chosen as-of date: left out
    first_date: pd.Timestamp | None = None  # first and last usable line (stray ones included)
    last_date: pd.Timestamp | None = None
    line_rules: LineRules | None = None  # the log-wide line rules it was classified by: a later step on the
    #                                      same log (the risk check) reuses them instead of learning them again


@dataclass(frozen=True)
class _Window:
    """Which usable lines a roll-up counts, and what it says about the ones it leaves out."""

    keep: pd.Series
    after_end: int
    after_as_of: int
    suggested: pd.Timestamp | None
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    warnings: tuple[str, ...]


def _window(dates: pd.Series, usable: pd.Series, cutoff: pd.Timestamp | None, end: pd.Timestamp | None) -> _Window:
    """The lines counted: usable ones up to the export's plausible end (stray late lines must not set the
    as-of date), or, when the user chose an as-of date (``cutoff``), the ones before it: a choice wins
    over the plausible end. ``end`` given: found on the whole log by a caller rolling it up in parts,
    who says once what it left out. Either way the lines left out are counted and said."""
    keep = usable.copy()
    found = dates[keep]
    whole_log_end = end is not None
    if end is None:
        end = plausible_end(found)
    suggested = found[found <= end].max().normalize() + pd.Timedelta(days=1) if end is not None else None
    warnings = []
    after_end = keep & (dates > end) if end is not None and (cutoff is None or whole_log_end) else keep & False
    n_after = int(after_end.sum())
    keep &= ~after_end
    if n_after and not whole_log_end:
        warnings.append(after_end_warning(n_after, end, dates[after_end].max()))
    n_later = 0
    if cutoff is not None:
        later = keep & (dates >= cutoff)
        n_later = int(later.sum())
        keep &= ~later
        if n_later:
            warnings.append(t("{n:,} lines dated on or after the as-of date {date} were left out.", n=n_later,
                              date=cutoff.date()))
    first, last = (found.min(), found.max()) if len(found) else (None, None)
    return _Window(keep, n_after, n_later, suggested, first, last, tuple(warnings))


def customers_from_transactions(
    frame: pd.DataFrame,
    customer_col: str | None = None,
    date_col: str | None = None,
    amount_col: str | None = None,
    as_of: str | pd.Timestamp | None = None,
    rules: LineRules | None = None,
    end: pd.Timestamp | None = None,
) -> CustomerTable:
    """Roll an order-line log up to one row per customer.

    What each line is (sale, free, return, cancellation, fee) is decided by ``lib.data.orders``: orders,
    recency and products count sales; money counts every product line, net of returns and
    cancellations; fees count nowhere.

    Parameters
    ----------
    frame
        One row per order line (not modified).
    as_of
        Only lines strictly before this date count; recency is measured to it. Defaults to the day
        after the last line, so recency 0 means "bought on the last day". Lines after the export's
        plausible end (``plausible_end``: a few stray future dates) are left out either way, and said.
    rules
        The log-wide line rules when ``frame`` is only part of a log (``lib.data.orders.LineTally``).
    end
        The export's plausible end found on the whole log when ``frame`` is only part of it
        (``lib.scale.log_parts``): lines after it are left out and counted, and the caller, who saw the
        whole log, says so once (``after_end_warning``).
    """
    cols = infer_transaction_columns(frame, customer_col, date_col, amount_col)
    ol = classify_lines(frame, cols, rules)
    warnings: list[str] = []
    dates = ol.lines["date"]
    bad = ol.counts["unreadable date"]
    if bad:
        warnings.append(t("{bad:,} lines have an unreadable date in '{col}' and were ignored.", bad=bad, col=cols.date))
    if dates.notna().sum() == 0:
        example = frame[cols.date].dropna().iloc[0] if frame[cols.date].notna().any() else ""
        raise DataValidationError(t("Column '{col}' has no readable dates (e.g. '{example}'). Choose the column that "
                                    "holds the order date.", col=cols.date, example=example))
    cutoff = order_timestamp(as_of) if as_of is not None else None
    window = _window(dates, ol.usable, cutoff, end)
    keep = window.keep
    warnings += window.warnings
    n_no_customer = ol.counts["no customer id"]
    if n_no_customer:
        warnings.append(t("{n:,} lines have no customer id and were left out of the customer table.", n=n_no_customer))
    kept = ol.lines[keep]
    if kept.empty:
        raise DataValidationError(
            t("No usable lines: every line lacks a customer id, a date or an amount, or falls after the cutoff {date}.",
              date=cutoff.date()) if cutoff is not None
            else t("No usable lines: every line lacks a customer id, a date or an amount."))
    ref = cutoff if cutoff is not None else kept["date"].max().normalize() + pd.Timedelta(days=1)
    out = _roll_up(kept, ref, has_products=cols.product is not None)
    for cat in cols.categorical:
        values = frame.loc[keep, cat].astype("str").to_numpy()
        mode = (
            pd.DataFrame({"customer": kept["customer"].to_numpy(), "v": values})
            .groupby(["customer", "v"]).size().reset_index(name="n")
            .sort_values(["customer", "n", "v"], ascending=[True, False, True])
            .drop_duplicates("customer").set_index("customer")["v"]
        )
        out[f"top_{_slug(cat)}"] = mode.reindex(out.index)
    return CustomerTable(
        customers=out.reset_index(),
        columns=cols,
        as_of=ref,
        lines_used=int(keep.sum()),
        lines_dropped_no_customer=n_no_customer,
        cancellation_lines=int((kept["kind"] == "cancellation").sum()),
        non_product_lines=int((kept["kind"] == "non_product").sum()),
        warnings=tuple(warnings),
        lines_after_end=window.after_end,
        source_problems=log_problems(frame, ol, window.after_end),
        suggested_as_of=window.suggested,
        lines_after_as_of=window.after_as_of,
        first_date=window.first,
        last_date=window.last,
        line_rules=ol.rules,
    )


def after_end_warning(n: int, end: pd.Timestamp, last: pd.Timestamp) -> str:
    """What is said when ``n`` lines dated up to ``last`` fall after the export's plausible ``end``."""
    return t("{n:,} lines are dated after the export's plausible end ({end}, up to {last}) and were left "
             "out; give an as-of date to choose another.", n=n, end=end.date(), last=last.date())


def _roll_up(lines: pd.DataFrame, ref: pd.Timestamp, has_products: bool) -> pd.DataFrame:
    """RFM and friends per customer from classified lines (``OrderLines.lines``, usable ones only)."""
    kind = lines["kind"]
    product = lines[kind != "non_product"]
    sales = lines[kind == "sale"]
    g = sales.groupby("customer", sort=True)
    first = g["date"].min()
    last = g["date"].max()
    frequency = g["order"].nunique()
    gross = g["value"].sum()
    net = product.groupby("customer", sort=True)["value"].sum()
    returned = product[product["kind"].isin(RETURNED)].groupby("customer")["value"].sum().abs()
    # Every customer with any line in the window is kept, even one with only fees or returns.
    out = pd.DataFrame(index=lines.groupby("customer", sort=True).size().index)
    out.index.name = "customer_id"
    out["recency_days"] = (ref - last).dt.days
    out["frequency"] = frequency
    out["monetary"] = net.reindex(out.index).fillna(0).round(2)
    out["avg_order_value"] = (gross / frequency).round(2)
    out["tenure_days"] = (ref - first).dt.days
    span = (last - first).dt.days
    out["days_between_orders"] = (span / (frequency - 1)).where(frequency > 1).round(1)
    if has_products:
        out["distinct_products"] = g["product"].nunique()
    out["return_share"] = (returned.reindex(out.index).fillna(0) / gross.reindex(out.index)).fillna(0).clip(0, 1).round(3)
    # Customers whose only lines are returns/cancellations in the window: keep them, with no sales.
    out["frequency"] = out["frequency"].fillna(0).astype(int)
    return out


def _slug(name: str) -> str:
    return re.sub(r"\W+", "_", str(name)).strip("_").lower()


def repurchase_labels(
    frame: pd.DataFrame,
    cols: TransactionColumns,
    cutoff: pd.Timestamp,
    horizon_days: int,
    rules: LineRules | None = None,
) -> pd.Series:
    """1 if the customer bought (a sale line, ``lib.data.orders``) in [cutoff, cutoff + horizon), else 0;
    indexed by customer id as text (the same ids as ``customers_from_transactions``)."""
    ol = classify_lines(frame, cols, rules)
    dates = ol.lines["date"]
    start = order_timestamp(cutoff)
    end = start + pd.Timedelta(days=horizon_days)
    bought = ol.usable & ol.of_kind("sale") & (dates >= start) & (dates < end)
    return pd.Series(1, index=pd.Index(ol.lines.loc[bought, "customer"].unique(), name="customer_id"), dtype="int64")


def log_before(frame: pd.DataFrame, cols: TransactionColumns, as_of: str | pd.Timestamp) -> pd.DataFrame:
    """The lines of ``frame`` dated before ``as_of`` (and those without a readable date, which no step
    counts): the log as it was on that day, read by the order-date rule."""
    dates = order_dates(frame[cols.date])
    return frame[~(dates >= order_timestamp(as_of)).to_numpy()]


def default_cutoff(frame: pd.DataFrame, cols: TransactionColumns, horizon_days: int) -> pd.Timestamp:
    """Last date in the log minus the horizon: the latest cutoff whose outcome window is fully observed."""
    dates = order_dates(frame[cols.date])
    end = plausible_end(dates)
    last = dates[dates <= end].max() if end is not None else dates.max()
    return (last.normalize() + pd.Timedelta(days=1)) - pd.Timedelta(days=horizon_days)
