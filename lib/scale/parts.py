"""Reading a big file in parts, the same way for every engine: the stream engine's batches and a Dask
worker's byte range use one set of CSV options (``csv_options``), count the malformed rows they skip, and
read cells by lib.data.io's rules (``clean``), so a row is read the same way however the file was cut.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lib.data import io as bio
from lib.errors import DataValidationError
from lib.text.i18n import t

log = logging.getLogger(__name__)

BATCH_ROWS = 250_000  # ~60 MB of text per batch at 25 columns: big enough for speed, small for memory
STREAM_ABOVE_BYTES = 256 * 1024 * 1024  # ``engine="auto"`` streams files bigger than this
STREAMABLE = ("csv", "tsv", "txt", "gz", "parquet")

@dataclass(frozen=True)
class Source:
    """A CSV or Parquet file as the batch readers see it: where, how it is written, its columns."""

    path: str
    file_format: str  # "csv" or "parquet"
    columns: tuple[str, ...]
    encoding: str = "utf-8"
    delimiter: str = ","
    decimal: str = "."
    compressed: bool = False
    size_bytes: int = 0
    bytes_per_row: float | None = None  # from the first megabyte: for the time-left estimate


def streamable(path: str | Path) -> bool:
    return Path(path).suffix.lower().lstrip(".") in STREAMABLE


def open_source(path: str | Path, sep: str | None = None, encoding: str | None = None) -> Source:
    """Look at the start of a file (1 MB) to learn its encoding, delimiter, decimal mark and header,
    the way ``lib.data.io.load_table`` does for a whole file."""
    p = Path(path)
    if not p.is_file():
        raise DataValidationError(t("File not found: {path}. Check the path and try again.", path=p))
    ext = p.suffix.lower().lstrip(".")
    if ext not in STREAMABLE:
        raise DataValidationError(t(
            "{file}: only CSV/TSV/TXT (optionally .gz) and Parquet files can be read in parts; save it as one of "
            "those, or score it whole (--engine memory).", file=p.name))
    size = p.stat().st_size
    if ext == "parquet":
        try:
            schema = pq.read_schema(p)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataValidationError(t("{file} is not a readable Parquet file ({why}).", file=p.name, why=exc)) from None
        return Source(str(p), "parquet", tuple(schema.names), size_bytes=size)
    with pa.input_stream(str(p), compression="detect") as f:
        head = f.read(1 << 20)
    if not head.strip():
        raise DataValidationError(t("{file} is empty: it has no header and no rows. Export the data again.", file=p.name))
    if b"\x00" in head[:8192] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataValidationError(t("{file} is a binary file, not a text table (it contains NUL bytes).", file=p.name))
    enc = encoding or bio.detect_encoding(head)
    if enc.lower().replace("-", "").startswith("utf16"):
        raise DataValidationError(t("{file} is UTF-16 text, which cannot be read in parts: save it as UTF-8.", file=p.name))
    text = head.decode(enc, errors="ignore").lstrip("\ufeff")
    delim = sep or bio.sniff_delimiter(text)
    if sep is not None:
        delim = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(sep, sep)
    header = next(csv.reader(io.StringIO(text), delimiter=delim))
    names, _ = bio._unique_names(header)
    with open(p, "rb") as f:
        compressed = ext == "gz" or f.read(2) == b"\x1f\x8b"
    lines = head.count(b"\n")
    return Source(str(p), "csv", tuple(names), enc, delim, bio._detect_decimal(text, delim), compressed=compressed,
                  size_bytes=size, bytes_per_row=len(head) / lines if lines > 1 and not compressed else None)


def csv_options(source: Source, columns: list[str] | None, skipped: list[int] | None = None,
                header: bool = True) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions, pacsv.ConvertOptions]:
    """How every engine reads CSV parts (the stream engine's batches, a Dask worker's byte range): the
    same options, so a row is read the same way, and a malformed row is skipped *and counted* in
    ``skipped`` (one entry per row) by both. ``header``: the text starts with the header line."""
    skipped = [] if skipped is None else skipped

    def on_invalid(row: pacsv.InvalidRow) -> str:
        skipped.append(1)
        return "skip"

    read = pacsv.ReadOptions(column_names=list(source.columns), skip_rows=1 if header else 0, block_size=1 << 24,
                             encoding=source.encoding)
    parse = pacsv.ParseOptions(delimiter=source.delimiter, newlines_in_values=True, invalid_row_handler=on_invalid)
    # Every cell as text: numbers, dates and missing-value codes are read by lib.data.io's rules per batch,
    # and a column that looks like numbers in the first block cannot stop the read further down.
    convert = pacsv.ConvertOptions(column_types={c: pa.string() for c in source.columns}, null_values=[""],
                                   strings_can_be_null=True, quoted_strings_can_be_null=True,
                                   include_columns=columns)
    return read, parse, convert


def skipped_rows_warning(n: int) -> str:
    return t("{n} row(s) with the wrong number of fields were skipped. Fix those lines in the file to include "
             "them.", n=f"{n:,}")


def typed(table: pa.Table) -> pd.DataFrame:
    """A part read as text, with the columns that are plain numbers or ISO dates in this part cast by
    pyarrow (in C), as the whole-file reader would have read them; the rest go through lib.data.io's rules in
    ``clean``.
    Codes with leading zeros (postcodes, '007') stay text, as lib.data.io keeps them."""
    import pyarrow.compute as pc

    cols = {}
    for name, col in zip(table.column_names, table.columns):
        if pa.types.is_string(col.type) and col.null_count < len(col):
            if not pc.any(pc.match_substring_regex(col, r"^\s*[-+]?0\d")).as_py():
                for kind in (pa.int64(), pa.float64(), pa.timestamp("ns")):
                    try:
                        col = pc.cast(col, kind)
                        break
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                        continue
        cols[name] = col
    return pa.table(cols).to_pandas()


def batches(source: Source, columns: list[str] | None = None, batch_rows: int = BATCH_ROWS,
            skipped: list[int] | None = None) -> Iterator[pd.DataFrame]:
    """The file's rows, ``batch_rows`` at a time, as raw frames (CSV cells as text)."""
    skipped = [] if skipped is None else skipped
    if source.file_format == "parquet":
        for rb in pq.ParquetFile(source.path).iter_batches(batch_size=batch_rows, columns=columns):
            yield typed(pa.Table.from_batches([rb]))
        return
    read, parse, convert = csv_options(source, columns, skipped)
    stream = pa.input_stream(source.path, compression="detect")
    try:
        reader = pacsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        stream.close()
        raise DataValidationError(t("{file} could not be read as CSV ({why}).", file=Path(source.path).name, why=exc)) from None
    pending: list[pa.RecordBatch] = []
    held = 0
    with stream:
        for rb in reader:
            pending.append(rb)
            held += rb.num_rows
            while held >= batch_rows:
                table = pa.Table.from_batches(pending)
                yield typed(table.slice(0, batch_rows))
                rest = table.slice(batch_rows)
                pending, held = rest.to_batches(), rest.num_rows
        if held:
            yield typed(pa.Table.from_batches(pending))

def clean(raw: pd.DataFrame, decimal: str) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """A raw part read by lib.data.io's rules (numbers in text, missing-value codes, dates, impossible values).
    An all-empty part is an empty frame, not an error."""
    try:
        frame, warnings, _ = bio._finish_frame(raw, decimal)
    except DataValidationError:
        return raw.iloc[:0], ()
    return frame, tuple(warnings)

def latest_dates(source: Source, date_cols: list[str], decimal: str, raws: Iterator[pd.DataFrame]) -> dict[str, str]:
    """Each date column's latest date over all ``raws`` (parts holding only those columns)."""
    best: dict[str, pd.Timestamp] = {}
    for raw in raws:
        frame, _ = clean(raw, decimal)
        for c in date_cols:
            if c in frame.columns:
                top = _max_date(frame[c])
                if top is not None and (c not in best or top > best[c]):
                    best[c] = top
    return {c: v.isoformat() for c, v in best.items()}


def _max_date(s: pd.Series) -> pd.Timestamp | None:
    from lib.models.model import _as_dates

    top = _as_dates(s).max()
    return None if pd.isna(top) else pd.Timestamp(top)

def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()

def estimated_rows(source: Source) -> int | None:
    """Rows in the file: exact for Parquet, estimated from the first megabyte for plain CSV."""
    if source.file_format == "parquet":
        return pq.ParquetFile(source.path).metadata.num_rows
    return int(source.size_bytes / source.bytes_per_row) if source.bytes_per_row else None


# --- a file cut into byte ranges, for a cluster's workers --------------------------------------

PART_BYTES = 64 * 1024 * 1024  # CSV bytes per task: ~250k rows of 25 columns


def pieces(source: Source, part_bytes: int = PART_BYTES, min_parts: int = 1) -> list[tuple[int, int]]:
    """The file cut into tasks: byte ranges of a CSV (each row belongs to the range its first byte is
    in), or ranges of Parquet row groups. At least ``min_parts`` ranges (when the file is big enough),
    so every worker gets work."""
    if source.file_format == "parquet":
        groups = pq.ParquetFile(source.path).metadata.num_row_groups
        return [(i, i + 1) for i in range(groups)]
    if source.compressed:
        raise DataValidationError(t(
            "{file} is compressed, so it cannot be cut into parts for a cluster: decompress it, or save it as "
            "Parquet.", file=Path(source.path).name))
    size = source.size_bytes
    part_bytes = max(1 << 16, min(part_bytes, -(-size // max(min_parts, 1))))
    return [(a, min(a + part_bytes, size)) for a in range(0, size, part_bytes)] or [(0, 0)]


def read_piece(source: Source, piece: tuple[int, int], columns: list[str] | None,
               skipped: list[int] | None = None) -> pd.DataFrame:
    """The raw rows of one piece (CSV cells as text), read with the stream engine's options
    (``csv_options``): malformed rows are skipped and counted in ``skipped`` the same way.
    A CSV range must not cut a quoted cell holding a line break: such files should be Parquet."""
    if source.file_format == "parquet":
        return typed(pq.ParquetFile(source.path).read_row_groups(list(range(*piece)), columns=columns))
    start, end = piece
    with open(source.path, "rb") as f:
        if start == 0:
            f.readline()  # the header
        else:
            f.seek(start - 1)
            f.readline()  # the rest of a row that began in the previous piece
        begin = f.tell()
        data = f.read(max(end - begin, 0)) if begin < end else b""
        if data and not data.endswith(b"\n"):
            data += f.readline()
    if not data.strip():
        return pd.DataFrame({c: pd.Series([], dtype="str") for c in (columns or source.columns)})
    read, parse, convert = csv_options(source, columns, skipped, header=False)
    return typed(pacsv.read_csv(io.BytesIO(data), read_options=read, parse_options=parse, convert_options=convert))
