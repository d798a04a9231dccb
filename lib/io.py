"""Load any table a marketer is likely to export: CSV/TSV/TXT (any delimiter, encoding, decimal comma),
gzip or single-file zip, Excel, Parquet.

The loader never guesses silently: what it detected (encoding, delimiter, decimal mark) and what it
had to fix (duplicate names, skipped ragged rows) is returned with the frame, and a file it cannot read
raises ``DataValidationError`` saying what is wrong and what to do.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import logging
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from lib.errors import DataValidationError

log = logging.getLogger(__name__)

#: Default upload/file size limit; matches ``server.maxUploadSize`` (MB) in .streamlit/config.toml.
DEFAULT_MAX_BYTES = 1024 * 1024 * 1024
SUPPORTED_EXTENSIONS = ("csv", "tsv", "txt", "gz", "zip", "xlsx", "parquet")
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# Tokens that mean "no value" in real exports. "unknown" is deliberately NOT here: it is a real
# category in many files (bank-full) and the quality report flags it as a sentinel instead.
NA_TOKENS = ["", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "#N/A"]
_SAMPLE_BYTES = 1 << 20
_CURRENCY = "$€£¥₹"


@dataclass(frozen=True)
class LoadResult:
    """A loaded table plus what the loader detected and had to fix."""

    frame: pd.DataFrame
    source_name: str
    file_format: str  # "csv", "excel" or "parquet"
    encoding: str | None
    delimiter: str | None
    decimal: str
    warnings: tuple[str, ...]
    digest: str  # sha256 of the raw bytes: the cache key for everything computed from this file
    size_bytes: int


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_table(
    source: str | Path | bytes,
    name: str | None = None,
    *,
    sep: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> LoadResult:
    """Load a table from a path or raw bytes.

    Parameters
    ----------
    source
        A file path, or the raw bytes of an upload.
    name
        The file name (used for the extension and in messages); defaults to the path's name.
    sep, encoding, sheet
        Override the detected delimiter / encoding, or pick an Excel sheet by name.
    max_bytes
        Refuse files larger than this, before reading them into memory.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = name or path.name
        if not path.exists():
            raise DataValidationError(f"File not found: {path}. Check the path and try again.")
        if path.stat().st_size > max_bytes:
            raise DataValidationError(_too_big(name, path.stat().st_size, max_bytes))
        data = path.read_bytes()
    else:
        data = bytes(source)
        name = name or "upload"
    if len(data) > max_bytes:
        raise DataValidationError(_too_big(name, len(data), max_bytes))
    check_memory(name, len(data), compressed=data[:2] == b"\x1f\x8b" or data[:4] == b"PK\x03\x04")
    if sep is not None:
        sep = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(sep, sep)
    digest = file_digest(data)
    frame, fmt, enc, delim, decimal, warnings = _load_bytes(data, name, sep, encoding, sheet, max_bytes)
    frame, more = _finish_frame(frame, decimal)
    return LoadResult(
        frame=frame,
        source_name=name,
        file_format=fmt,
        encoding=enc,
        delimiter=delim,
        decimal=decimal,
        warnings=tuple(warnings + more),
        digest=digest,
        size_bytes=len(data),
    )


# A CSV takes about this many times its size in memory once parsed (text columns, copies while
# converting); compressed files expand ~8x first.
MEMORY_FACTOR = 4
COMPRESSED_FACTOR = 8


def available_memory() -> int:
    """Bytes of memory available to this process right now (Linux /proc/meminfo, else total RAM)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(name: str, size: int, compressed: bool = False) -> None:
    """Refuse, with a message, a file whose estimated in-memory size exceeds what is available."""
    need = size * MEMORY_FACTOR * (COMPRESSED_FACTOR if compressed else 1)
    have = available_memory()
    if need > have:
        raise DataValidationError(
            f"{name} would need about {need / 1e9:,.1f} GB of memory once loaded, but only {have / 1e9:,.1f} GB "
            "is free. Close other programs, drop unused columns, or split the file."
        )


def _too_big(name: str, size: int, limit: int) -> str:
    return (
        f"{name} is {size / 1e6:,.0f} MB, over the {limit / 1e6:,.0f} MB limit. "
        "Split the file, drop unused columns, or compress it (.gz) and try again."
    )


def _load_bytes(data, name, sep, encoding, sheet, max_bytes):
    if len(data) == 0:
        raise DataValidationError(f"{name} is empty (0 bytes). Export the data again and re-upload it.")
    lower = name.lower()
    if data[:2] == b"\x1f\x8b":
        try:
            inner = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise DataValidationError(
                f"{name} looks like a .gz file but could not be decompressed ({exc}). Re-create the archive."
            ) from None
        if len(inner) > max_bytes:
            raise DataValidationError(_too_big(name + " (uncompressed)", len(inner), max_bytes))
        inner_name = lower[:-3] if lower.endswith(".gz") else lower
        return _load_bytes(inner, inner_name, sep, encoding, sheet, max_bytes)
    if data[:4] == b"PK\x03\x04" or lower.endswith((".zip", ".xlsx")):
        return _load_zip_or_excel(data, name, sep, encoding, sheet, max_bytes)
    if data[:4] == b"PAR1" or lower.endswith(".parquet"):
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises many types for a damaged file
            raise DataValidationError(
                f"{name} could not be read as Parquet ({exc}). Re-export it, or save it as CSV."
            ) from None
        return frame, "parquet", None, None, ".", []
    if lower.endswith((".xls",)):
        raise DataValidationError(
            f"{name} is an old Excel .xls file, which Bullseye does not read. "
            "Open it in Excel and save it as .xlsx or CSV."
        )
    return _load_text(data, name, sep, encoding)


def _load_zip_or_excel(data, name, sep, encoding, sheet, max_bytes):
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        names = [n for n in zf.namelist() if not n.endswith("/") and not n.startswith("__MACOSX")]
    except zipfile.BadZipFile:
        kind = "an Excel workbook" if name.lower().endswith(".xlsx") else "a zip archive"
        raise DataValidationError(
            f"{name} could not be opened as {kind}: the file is damaged or not really {kind}. "
            "Re-save it from Excel as .xlsx, or export it as CSV."
        ) from None
    if "[Content_Types].xml" in names:
        return _load_excel(data, name, sheet)
    if len(names) != 1:
        raise DataValidationError(
            f"{name} holds {len(names)} files ({', '.join(names[:5])}); Bullseye reads a zip with exactly "
            "one file. Unzip it and upload the one table you want."
        )
    info = zf.getinfo(names[0])
    if info.file_size > max_bytes:
        raise DataValidationError(_too_big(names[0], info.file_size, max_bytes))
    return _load_bytes(zf.read(names[0]), names[0], sep, encoding, sheet, max_bytes)


def _load_excel(data, name, sheet):
    try:
        book = pd.ExcelFile(io.BytesIO(data), engine="openpyxl")
    except Exception:
        raise DataValidationError(
            f"{name} could not be opened as an Excel workbook: it is damaged or password protected. "
            "Re-save it from Excel as .xlsx (without a password), or export it as CSV."
        ) from None
    sheets = book.sheet_names
    if sheet is not None and sheet not in sheets:
        raise DataValidationError(
            f"{name} has no sheet named '{sheet}'. Its sheets are: {', '.join(sheets)}."
        )
    frame = book.parse(sheet if sheet is not None else 0)
    warnings = []
    if sheet is None and len(sheets) > 1:
        warnings.append(
            f"The workbook has {len(sheets)} sheets; read the first one, '{sheets[0]}'. "
            "Pick another with the sheet option."
        )
    frame.columns = [str(c) for c in frame.columns]
    if frame.empty and len(frame.columns) == 0:
        raise DataValidationError(f"Sheet '{sheet or sheets[0]}' of {name} is empty.")
    return frame, "excel", None, None, ".", warnings


# --- text files -------------------------------------------------------------------------------


def detect_encoding(data: bytes) -> str:
    """Name the text encoding of ``data``: utf-8-sig, utf-8, gb18030 or cp1252/latin-1.

    UTF-8 is tried strictly first (it almost never decodes text in another encoding); then a charset
    detector decides between the Chinese and Western single-byte families.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data[:_SAMPLE_BYTES]).best()
    guess = (best.encoding if best else "").lower()
    candidates = ["cp1252", "latin-1"]
    if guess in {"gb2312", "gbk", "gb18030", "hz", "big5"} or _looks_chinese(data):
        candidates = ["gb18030"] + candidates
    for enc in candidates:
        try:
            data.decode(enc)
            return enc
        except UnicodeDecodeError:
            continue
    return "latin-1"  # decodes any byte string


def _looks_chinese(data: bytes) -> bool:
    """True when most high bytes form valid GB18030 two-byte pairs that decode to CJK characters."""
    sample = data[:65536]
    try:
        text = sample.decode("gb18030")
    except UnicodeDecodeError:
        return False
    non_ascii = [ch for ch in text if ord(ch) > 127]
    if not non_ascii:
        return False
    cjk = sum(1 for ch in non_ascii if "\u4e00" <= ch <= "\u9fff" or "\u3000" <= ch <= "\u303f")
    return cjk / len(non_ascii) > 0.6


def sniff_delimiter(text: str) -> str:
    """Pick the delimiter among , ; TAB | that splits the first lines into the most consistent,
    widest rows (quotes respected)."""
    lines = [ln for ln in text.splitlines()[:60] if ln.strip()]
    if not lines:
        return ","
    best, best_score = ",", (-1.0, 0)
    for delim in DELIMITERS:
        try:
            counts = [len(row) for row in csv.reader(lines, delimiter=delim)]
        except csv.Error:
            continue
        if not counts:
            continue
        values, freq = np.unique(counts, return_counts=True)
        mode = int(values[np.argmax(freq)])
        if mode < 2:
            continue
        consistency = float(freq.max()) / len(counts)
        score = (round(consistency, 2), mode)
        if score > best_score:
            best, best_score = delim, score
    return best


def _load_text(data: bytes, name: str, sep: str | None, encoding: str | None):
    head = data[:8192]
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataValidationError(
            f"{name} is a binary file, not a text table (it contains NUL bytes). "
            "If it is an Excel file, give it the .xlsx extension; otherwise export the data as CSV."
        )
    enc = encoding or detect_encoding(data)
    try:
        text = data.decode(enc)
    except (UnicodeDecodeError, LookupError) as exc:
        raise DataValidationError(
            f"{name} could not be decoded as {enc} ({exc}). Leave the encoding on automatic, or save the "
            "file as UTF-8."
        ) from None
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise DataValidationError(f"{name} is empty: it has no header and no rows. Export the data again.")
    delim = sep or sniff_delimiter(text[:_SAMPLE_BYTES])
    lines = text.splitlines()
    non_empty = [ln for ln in lines if ln.strip()]
    if len(non_empty) < 2:
        raise DataValidationError(
            f"{name} has a header but no data rows. Export the data again with its rows."
        )
    decimal = _detect_decimal(text[:_SAMPLE_BYTES], delim)
    # pyarrow reads UTF-8 several times faster than pandas; transcode once so it can.
    utf8 = data if enc in ("utf-8",) else text.encode("utf-8")
    if utf8.startswith(b"\xef\xbb\xbf"):
        utf8 = utf8[3:]
    frame, warnings = _read_csv_bytes(utf8, name, delim)
    return frame, "csv", enc, delim, decimal, warnings


def _detect_decimal(sample: str, delim: str) -> str:
    """',' when numbers in the sample are written with a decimal comma (European exports)."""
    if delim == ",":
        return "."
    comma = len(re.findall(r"(?:^|[" + re.escape(delim) + r"\"])\s*-?\d+,\d+\s*(?=[" + re.escape(delim) + r"\"\r\n]|$)",
                           sample, flags=re.M))
    dot = len(re.findall(r"(?:^|[" + re.escape(delim) + r"\"])\s*-?\d+\.\d+\s*(?=[" + re.escape(delim) + r"\"\r\n]|$)",
                         sample, flags=re.M))
    return "," if comma > dot else "."


def _unique_names(raw: list[str]) -> tuple[list[str], list[str]]:
    names, seen, warnings = [], {}, []
    for i, col in enumerate(raw):
        col = str(col).replace("\ufeff", "").strip() or f"column_{i + 1}"
        base = col
        if base in seen:
            seen[base] += 1
            col = f"{base}_{seen[base]}"
            while col in seen:
                seen[base] += 1
                col = f"{base}_{seen[base]}"
            warnings.append(f"Column name '{base}' appears more than once; the copy is renamed '{col}'.")
        seen.setdefault(col, 1)
        names.append(col)
    return names, warnings


def _read_csv_bytes(utf8: bytes, name: str, delim: str) -> tuple[pd.DataFrame, list[str]]:
    header_line = next(csv.reader(io.StringIO(utf8[:65536].decode("utf-8", "ignore")), delimiter=delim))
    names, warnings = _unique_names(header_line)
    bad_rows: list[tuple[int | None, int, int, str]] = []
    text_columns = _leading_zero_columns(utf8, delim, names)

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad_rows.append((row.number, row.actual_columns, row.expected_columns, row.text))
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(utf8),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(
                delimiter=delim, newlines_in_values=b'"' in utf8, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                null_values=NA_TOKENS, strings_can_be_null=True, quoted_strings_can_be_null=True,
                timestamp_parsers=[pacsv.ISO8601],
                column_types={c: pa.string() for c in text_columns},
            ),
        )
    except pa.ArrowInvalid as exc:
        log.info("pyarrow could not parse %s (%s); falling back to pandas", name, exc)
        return _read_csv_pandas(utf8, name, delim, names, warnings)
    if bad_rows:
        bad_rows = _with_line_numbers(utf8, bad_rows)
        total = table.num_rows + len(bad_rows)
        if len(bad_rows) > max(10, 0.1 * total):
            raise DataValidationError(
                f"{len(bad_rows):,} of {total:,} rows in {name} do not have the {len(names)} fields of the "
                f"header (first at line {_line(bad_rows[0][0])}). The delimiter may be wrong: choose it "
                "by hand, or fix the export."
            )
        shown = ", ".join(
            f"line {_line(n)} ({got} fields, expected {exp})" for n, got, exp, _ in bad_rows[:5]
        )
        more = f" and {len(bad_rows) - 5:,} more" if len(bad_rows) > 5 else ""
        warnings.append(
            f"{len(bad_rows):,} row(s) with the wrong number of fields were skipped: {shown}{more}. "
            "Fix those lines in the file to include them."
        )
    return table.to_pandas(), warnings


def _with_line_numbers(utf8: bytes, bad_rows: list) -> list:
    """pyarrow reads in parallel blocks and often cannot number a bad row; find the first few in the
    file ourselves (1-based line numbers, the header being line 1)."""
    out, pos = [], 0
    for i, (number, got, exp, text) in enumerate(bad_rows):
        if number is None and i < 5 and text:
            at = utf8.find(text.encode("utf-8"), pos)
            if at >= 0:
                number = utf8.count(b"\n", 0, at) + 1
                pos = at + 1
        out.append((number, got, exp, text))
    return out


def _leading_zero_columns(utf8: bytes, delim: str, names: list[str]) -> list[str]:
    """Columns whose values look like 01234 (postcodes, account codes): kept as text, never numbers."""
    sample = utf8[:262144].decode("utf-8", "ignore").splitlines()[1:2000]
    if not sample:
        return []
    counts = [0] * len(names)
    rows = 0
    for row in csv.reader(sample, delimiter=delim):
        rows += 1
        for i, v in enumerate(row[: len(names)]):
            if len(v) > 1 and v[0] == "0" and v.isdigit():
                counts[i] += 1
    return [names[i] for i, c in enumerate(counts) if c and c >= 0.1 * rows]


def _line(n: int | None) -> str:
    return "?" if n is None else f"{n:,}"


def _read_csv_pandas(utf8, name, delim, names, warnings):
    bad: list[int] = []

    def on_bad(fields: list[str]) -> None:
        bad.append(len(fields))
        return None

    try:
        frame = pd.read_csv(
            io.BytesIO(utf8), sep=delim, engine="python", header=0, names=names,
            na_values=NA_TOKENS, keep_default_na=False, on_bad_lines=on_bad, dtype=str,
        )
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        raise DataValidationError(
            f"{name} could not be parsed as a {DELIMITER_NAMES.get(delim, delim)}-separated file ({exc}). "
            "Check the delimiter and quoting, or re-export the file."
        ) from None
    if bad:
        warnings.append(f"{len(bad):,} row(s) with too many fields were skipped.")
    return frame, warnings


# --- turning text columns into numbers and dates ------------------------------------------------

_DATE_FORMATS = (
    "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M", "%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%m-%d-%Y", "%d.%m.%Y", "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%Y年%m月%d日",
    "%d-%b-%Y", "%d %b %Y", "%b %d, %Y", "%d/%m/%y", "%m/%d/%y",
)
_DATE_HINT = re.compile(r"^\s*(\d{4}[-/.年]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{1,2}[ -][A-Za-z]{3}|[A-Za-z]{3} \d)")


def _finish_frame(frame: pd.DataFrame, decimal: str) -> tuple[pd.DataFrame, list[str]]:
    """Parse numbers written as text (thousands separators, currency signs, decimal commas) and dates."""
    warnings: list[str] = []
    names, dup_warnings = _unique_names([str(c) for c in frame.columns])
    if list(frame.columns) != names:
        frame = frame.set_axis(names, axis=1)
        warnings += [w for w in dup_warnings if w not in warnings]
    out = {}
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s):
            parsed = parse_numbers(s, decimal)
            if parsed is None:
                parsed = parse_dates(s)
                if parsed is not None and parsed.attrs.get("mixed_formats"):
                    warnings.append(
                        f"Column '{col}' mixes date formats; each value was read on its own, day first "
                        "(03/04/2024 = 3 April). Check a few dates, or export them in one format (YYYY-MM-DD)."
                    )
            if parsed is not None:
                out[col] = parsed
                continue
            out[col] = _as_text(s)
        else:
            out[col] = s
    frame = pd.DataFrame(out, index=pd.RangeIndex(len(frame)))
    if len(frame) == 0:
        raise DataValidationError("The file has a header but no data rows. Export the data again with its rows.")
    return frame, warnings


def _as_text(s: pd.Series) -> pd.Series:
    if pd.api.types.is_object_dtype(s):
        # Mixed Python objects (Excel): make them text so downstream code sees one type.
        return s.map(lambda v: v if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)).astype("str")
    return s


def parse_numbers(s: pd.Series, decimal: str = ".") -> pd.Series | None:
    """Return ``s`` as float64 if every non-empty value is a number once thousands separators,
    currency signs and (for ``decimal=','``) the decimal comma are handled; otherwise None."""
    values = s.dropna().astype(str).str.strip()
    values = values[values != ""]
    if values.empty:
        return None
    sample = values.iloc[:2000]
    if not sample.str.contains(r"\d", regex=True).all():
        return None
    # Cheap rejection on a sample first: most text columns fail here without touching every row.
    if pd.to_numeric(_clean_numbers(sample, decimal), errors="coerce").isna().any():
        return None
    cleaned = _clean_numbers(s.astype("str"), decimal)
    nums = pd.to_numeric(cleaned, errors="coerce")
    ok = nums.notna() | s.isna() | (s.astype("str").str.strip() == "")
    if not bool(ok.all()):
        return None
    # Long digit strings with leading zeros are codes (postcodes, phone numbers), not numbers.
    if values.str.match(r"^0\d+$").mean() > 0.1:
        return None
    return nums.astype("float64")


def _clean_numbers(s: pd.Series, decimal: str) -> pd.Series:
    t = s.str.strip().str.replace(f"[{_CURRENCY}]", "", regex=True).str.replace(r"^\((.*)\)$", r"-\1", regex=True)
    t = t.str.replace(r"\s", "", regex=True)
    if decimal == ",":
        t = t.str.replace(r"\.(?=\d{3}(\D|$))", "", regex=True).str.replace(",", ".", regex=False)
    else:
        t = t.str.replace(r",(?=\d{3}(\D|$))", "", regex=True)
    return t


def parse_dates(s: pd.Series) -> pd.Series | None:
    """Return ``s`` as datetime64 if its non-empty values are dates in one common format; else None.

    Tries explicit formats (day-first before month-first for slashes, as most exports outside the US)
    so that a column never parses half one way and half another.
    """
    values = s.dropna().astype(str).str.strip()
    values = values[values != ""]
    if values.empty:
        return None
    sample = values.iloc[:500]
    if sample.str.match(_DATE_HINT).mean() < 0.9:
        return None
    for fmt in _DATE_FORMATS:
        parsed = pd.to_datetime(sample, format=fmt, errors="coerce")
        if parsed.notna().all():
            full = pd.to_datetime(s.astype("str").str.strip().replace("", None), format=fmt, errors="coerce")
            if full.notna().sum() == len(values):
                return full
    # Several formats in one column: parse each value on its own, but only if all of them parse.
    full = pd.to_datetime(values, format="mixed", dayfirst=True, errors="coerce")
    if full.notna().all():
        out = pd.to_datetime(s.astype("str").str.strip().replace("", None), format="mixed", dayfirst=True,
                             errors="coerce")
        out.attrs["mixed_formats"] = True
        return out
    return None
