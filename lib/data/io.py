"""Load any table a marketer is likely to export: CSV/TSV/TXT (any delimiter, encoding, decimal comma),
gzip or single-file zip, Excel, Parquet.

The loader never guesses silently: what it detected (encoding, delimiter, decimal mark) and what it
had to fix (duplicate names, skipped ragged rows, empty spreadsheet rows, "N/A" cells read as missing,
impossible numbers set to missing) is returned with the frame, and a file it cannot read raises
``DataValidationError`` saying what is wrong and what to do.
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
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from lib.errors import DataValidationError
from lib.text.i18n import t

log = logging.getLogger(__name__)

#: Default upload/file size limit; matches ``server.maxUploadSize`` (MB) in .streamlit/config.toml.
DEFAULT_MAX_BYTES = 1024 * 1024 * 1024
SUPPORTED_EXTENSIONS = ("csv", "tsv", "txt", "gz", "zip", "xlsx", "parquet")
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# Cells that mean "no value" in any column, text or number, exactly as written. "unknown", "-" and "?"
# are deliberately NOT here: they are real categories in many files (bank-full's job = 'unknown'), so
# in a text column they stay values and the quality report points them out instead.
NA_TOKENS = ["", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "#N/A",
             "#VALUE!", "#DIV/0!", "#REF!", "#NAME?", "#NUM!", "#NULL!"]
# In a column that is otherwise numbers (or dates) these can only mean "no value"; compared stripped
# and case-insensitively.
MISSING_TOKENS = frozenset({
    "na", "n/a", "n.a.", "n.a", "nan", "-nan", "null", "none", "nil", "#n/a", "#n/a n/a", "#na", "#value!",
    "#div/0!", "#ref!", "#name?", "#num!", "#null!", "-", "--", "---", "?", "??", ".", "unknown", "unk",
    "missing", "not available", "(blank)", "blank", "empty", "未知", "无",
})
# A text column becomes numbers when at least this share of its values, after the missing tokens, are
# numbers and the rest are words without digits ('refused'); those are read as missing and named in the
# quality report. Lower would turn real categories with a few numeric-looking codes into numbers.
NUMERIC_SHARE = 0.98
# Numbers larger than this are absurd for anything a customer table measures (money, counts, days)
# when the column's 99th percentile is below ABSURD_P99; beyond float32's range no model can use them.
ABSURD = 1e15
ABSURD_P99 = 1e12
FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_AGE = 120
# How many row numbers a message names before it says "and N more".
SHOW_ROWS = 5
_SAMPLE_BYTES = 1 << 20
_CURRENCY = "$€£¥₹"
# Python's csv module refuses fields over 131,072 characters; a pasted e-mail thread in a notes column
# is longer. The memory guard in check_memory already bounds what a file may cost.
csv.field_size_limit(2**31 - 1)


@dataclass(frozen=True)
class CellFix:
    """Cells of one column the loader read as missing, and why, so the quality report can say so.

    ``kind`` is "missing_token" (a code such as 'N/A' in a column of numbers or dates), "not_a_number"
    (a stray word in a column of numbers), "non_finite" (inf, -inf, 1e309), "absurd" (a magnitude no
    customer measure has) or "impossible_age" (below 0 or above 120). ``value`` is the cell as written
    for the first two kinds. ``rows`` are the first few data rows affected (1 = first row under the
    header), for the kinds where a user will want to look them up.
    """

    column: str
    kind: str
    value: str
    cells: int
    rows: tuple[int, ...] = ()


#: Key of ``LoadResult.fixes`` in ``frame.attrs``, so the quality report finds them on the frame too.
FIXES_ATTR = "bullseye_load_fixes"


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
    fixes: tuple[CellFix, ...] = ()


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
            raise DataValidationError(t("File not found: {path}. Check the path and try again.", path=path))
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
    raw = _load_bytes(data, name, sep, encoding, sheet, max_bytes)
    frame, more, fixes = _finish_frame(raw.frame, raw.decimal, raw.nan_cells)
    # The quality report reads the fixes from here when its caller does not pass them.
    frame.attrs[FIXES_ATTR] = fixes
    return LoadResult(
        frame=frame,
        source_name=name,
        file_format=raw.file_format,
        encoding=raw.encoding,
        delimiter=raw.delimiter,
        decimal=raw.decimal,
        warnings=tuple(raw.warnings + more),
        digest=digest,
        size_bytes=len(data),
        fixes=fixes,
    )


@dataclass(frozen=True)
class _Raw:
    """A table as read, before numbers, dates and leftovers are dealt with."""

    frame: pd.DataFrame
    file_format: str
    encoding: str | None
    delimiter: str | None
    decimal: str
    warnings: list[str]
    nan_cells: dict[str, int]  # column -> cells written 'nan'/'NaN' that pyarrow already read as numbers


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
            t("{name} would need about {need:,.1f} GB of memory once loaded, but only {have:,.1f} GB is free. Close other programs, drop unused columns, or split the file.", name=name, need=need / 1000000000.0, have=have / 1000000000.0)
        )


def _too_big(name: str, size: int, limit: int) -> str:
    return (
        t("{name} is {size:,.0f} MB, over the {limit:,.0f} MB limit. Split the file, drop unused columns, or compress it (.gz) and try again.", name=name, size=size / 1000000.0, limit=limit / 1000000.0)
    )


def _load_bytes(data, name, sep, encoding, sheet, max_bytes) -> _Raw:
    if len(data) == 0:
        raise DataValidationError(t("{name} is empty (0 bytes). Export the data again and re-upload it.", name=name))
    lower = name.lower()
    if data[:2] == b"\x1f\x8b":
        try:
            inner = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise DataValidationError(
                t("{name} looks like a .gz file but could not be decompressed ({exc}). Re-create the archive.", name=name, exc=exc)
            ) from None
        if len(inner) > max_bytes:
            raise DataValidationError(_too_big(name + t(" (uncompressed)"), len(inner), max_bytes))
        inner_name = lower[:-3] if lower.endswith(".gz") else lower
        return _load_bytes(inner, inner_name, sep, encoding, sheet, max_bytes)
    if data[:4] == b"PK\x03\x04" or lower.endswith((".zip", ".xlsx")):
        return _load_zip_or_excel(data, name, sep, encoding, sheet, max_bytes)
    if data[:4] == b"PAR1" or lower.endswith(".parquet"):
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises many types for a damaged file
            raise DataValidationError(
                t("{name} could not be read as Parquet ({exc}). Re-export it, or save it as CSV.", name=name, exc=exc)
            ) from None
        return _Raw(frame, "parquet", None, None, ".", [], {})
    if lower.endswith((".xls",)):
        raise DataValidationError(
            t("{name} is an old Excel .xls file, which Bullseye does not read. Open it in Excel and save it as .xlsx or CSV.", name=name)
        )
    return _load_text(data, name, sep, encoding)


def _load_zip_or_excel(data, name, sep, encoding, sheet, max_bytes):
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        names = [n for n in zf.namelist() if not n.endswith("/") and not n.startswith("__MACOSX")]
    except zipfile.BadZipFile:
        kind = t("an Excel workbook") if name.lower().endswith(".xlsx") else t("a zip archive")
        raise DataValidationError(
            t("{name} could not be opened as {kind}: the file is damaged or not really {kind}. Re-save it from Excel as .xlsx, or export it as CSV.", name=name, kind=kind)
        ) from None
    if "[Content_Types].xml" in names:
        return _load_excel(data, name, sheet)
    if len(names) != 1:
        raise DataValidationError(
            t("{name} holds {n_names} files ({items}); Bullseye reads a zip with exactly one file. Unzip it and upload the one table you want.", name=name, n_names=len(names), items=', '.join(names[:5]))
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
            t("{name} could not be opened as an Excel workbook: it is damaged or password protected. Re-save it from Excel as .xlsx (without a password), or export it as CSV.", name=name)
        ) from None
    sheets = book.sheet_names
    if sheet is not None and sheet not in sheets:
        raise DataValidationError(
            t("{name} has no sheet named '{sheet}'. Its sheets are: {items}.", name=name, sheet=sheet, items=', '.join(sheets))
        )
    # Only truly empty cells are missing here; 'N/A' and friends are counted in _finish_frame so the
    # report can say how many there were.
    frame = pd.read_excel(book, sheet_name=sheet if sheet is not None else 0, keep_default_na=False,
                          na_values=[""])
    warnings = []
    if sheet is None and len(sheets) > 1:
        warnings.append(
            t("The workbook has {n_sheets} sheets; read the first one, '{value}'. Pick another with the sheet option.", n_sheets=len(sheets), value=sheets[0])
        )
    frame.columns = [str(c) for c in frame.columns]
    if frame.empty and len(frame.columns) == 0:
        raise DataValidationError(t("Sheet '{value}' of {name} is empty.", value=sheet or sheets[0], name=name))
    return _Raw(frame, "excel", None, None, ".", warnings, {})


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
    if (guess in {"gb2312", "gbk", "gb18030", "hz", "big5"} or _looks_chinese(data)) and _gb_pairs_plausible(data):
        candidates = ["gb18030"] + candidates
    for enc in candidates:
        try:
            data.decode(enc)
            return enc
        except UnicodeDecodeError:
            continue
    return "latin-1"  # decodes any byte string


def _gb_pairs_plausible(data: bytes) -> bool:
    """False when most two-byte GB pairs would end in an ASCII letter: that is Western text ('Köln' in
    cp1252 is ö + l, which GB18030 happily decodes as '鰈'); common Chinese characters have both
    bytes above 0x80."""
    pairs = re.findall(rb"[\x81-\xfe][\x40-\xfe]", data[:65536])
    if not pairs:
        return False
    ascii_trail = sum(1 for pair in pairs if pair[1] < 0x80)
    return ascii_trail / len(pairs) < 0.3


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
            t("{name} is a binary file, not a text table (it contains NUL bytes). If it is an Excel file, give it the .xlsx extension; otherwise export the data as CSV.", name=name)
        )
    enc = encoding or detect_encoding(data)
    try:
        text = data.decode(enc)
    except (UnicodeDecodeError, LookupError) as exc:
        raise DataValidationError(
            t("{name} could not be decoded as {enc} ({exc}). Leave the encoding on automatic, or save the file as UTF-8.", name=name, enc=enc, exc=exc)
        ) from None
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise DataValidationError(t("{name} is empty: it has no header and no rows. Export the data again.", name=name))
    if "\r" in text and "\n" not in text:
        # Old Mac Excel ends lines with a bare CR; every reader below (and our line numbers) expects LF.
        text = text.replace("\r", "\n")
        data = text.encode(enc)
    delim = sep or sniff_delimiter(text[:_SAMPLE_BYTES])
    lines = text.splitlines()
    non_empty = [ln for ln in lines if ln.strip()]
    if len(non_empty) < 2:
        raise DataValidationError(
            t("{name} has a header but no data rows. Export the data again with its rows.", name=name)
        )
    decimal = _detect_decimal(text[:_SAMPLE_BYTES], delim)
    # pyarrow reads UTF-8 several times faster than pandas; transcode once so it can.
    utf8 = data if enc in ("utf-8",) else text.encode("utf-8")
    if utf8.startswith(b"\xef\xbb\xbf"):
        utf8 = utf8[3:]
    frame, warnings, nan_cells = _read_csv_bytes(utf8, name, delim)
    return _Raw(frame, "csv", enc, delim, decimal, warnings, nan_cells)


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
            warnings.append(t("Column name '{base}' appears more than once; the copy is renamed '{col}'.", base=base, col=col))
        seen.setdefault(col, 1)
        names.append(col)
    return names, warnings


def _read_csv_bytes(utf8: bytes, name: str, delim: str) -> tuple[pd.DataFrame, list[str], dict[str, int]]:
    """Parse UTF-8 CSV bytes with pyarrow (pandas as the fallback). Returns the frame, warnings and, per
    column pyarrow read as numbers, how many cells were written 'nan' (pyarrow reads them as NaN)."""
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
            # Only empty cells are null here: a column of numbers with 'N/A' in it comes back as text and
            # _finish_frame reads it as numbers, counting each token it reads as missing.
            convert_options=pacsv.ConvertOptions(
                null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True,
                timestamp_parsers=[pacsv.ISO8601],
                column_types={c: pa.string() for c in text_columns},
            ),
        )
    except pa.ArrowInvalid as exc:
        log.info("pyarrow could not parse %s (%s); falling back to pandas", name, exc)
        frame, warnings = _read_csv_pandas(utf8, name, delim, names, warnings)
        return frame, warnings, {}
    if bad_rows:
        bad_rows = _with_line_numbers(utf8, bad_rows)
        total = table.num_rows + len(bad_rows)
        if len(bad_rows) > max(10, 0.1 * total):
            raise DataValidationError(
                t("{n_bad_rows:,} of {total:,} rows in {name} do not have the {n_names} fields of the header (first at line {line}). The delimiter may be wrong: choose it by hand, or fix the export.", n_bad_rows=len(bad_rows), total=total, name=name, n_names=len(names), line=_line(bad_rows[0][0]))
            )
        shown = ", ".join(
            t("line {line} ({got} fields, expected {exp})", line=_line(n), got=got, exp=exp) for n, got, exp, _ in bad_rows[:5]
        )
        more = t(" and {more:,} more", more=len(bad_rows) - 5) if len(bad_rows) > 5 else ""
        warnings.append(
            t("{n_bad_rows:,} row(s) with the wrong number of fields were skipped: {shown}{more}. Fix those lines in the file to include them.", n_bad_rows=len(bad_rows), shown=shown, more=more)
        )
    nan_cells = {}
    for col_name, column in zip(table.column_names, table.columns):
        if pa.types.is_floating(column.type):
            count = pc.sum(pc.is_nan(column)).as_py() or 0
            if count:
                nan_cells[col_name] = int(count)
    return table.to_pandas(), warnings, nan_cells


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
            na_values=[""], keep_default_na=False, on_bad_lines=on_bad, dtype=str,
        )
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        raise DataValidationError(
            t("{name} could not be parsed as a {delimiter}-separated file ({exc}). Check the delimiter and quoting, or re-export the file.", name=name, delimiter=t(DELIMITER_NAMES.get(delim, delim)), exc=exc)
        ) from None
    if bad:
        warnings.append(t("{n_bad:,} row(s) with too many fields were skipped.", n_bad=len(bad)))
    return frame, warnings


# --- turning text columns into numbers and dates ------------------------------------------------

_DATE_FORMATS = (
    "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M", "%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%m-%d-%Y", "%d.%m.%Y", "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%Y年%m月%d日",
    "%d-%b-%Y", "%d %b %Y", "%b %d, %Y", "%d/%m/%y", "%m/%d/%y",
)
_ISO_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?$")
_ISO_ZONE = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$")
_DATE_HINT = re.compile(r"^\s*(\d{4}[-/.年]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{1,2}[ -][A-Za-z]{3}|[A-Za-z]{3} \d)")


_UNNAMED = re.compile(r"^(Unnamed: \d+(_level_\d+)?|column_\d+)$")
_AGE_WORD = re.compile(r"(?:^|[^a-z])age(?:$|[^a-z])|年龄")
# An "age" measured in these units, or of something other than a person, can exceed 120.
_NOT_PERSON_AGE = re.compile(r"day|week|month|hour|minute|second|account|tenure|contract|car|vehicle|house|"
                             r"property|product|item|stock|invoice|order|page|mileage", re.I)


def _finish_frame(
    frame: pd.DataFrame, decimal: str, nan_cells: dict[str, int] | None = None
) -> tuple[pd.DataFrame, list[str], tuple[CellFix, ...]]:
    """Drop spreadsheet leftovers (empty rows, empty unnamed columns); parse numbers written as text
    (thousands separators, currency signs, decimal commas, 'N/A' cells) and dates; set numbers no
    customer can have (inf, 1e300, age -3) to missing. Returns the frame, warnings and what was read as
    missing, per column."""
    warnings: list[str] = []
    names, dup_warnings = _unique_names([str(c) for c in frame.columns])
    if list(frame.columns) != names:
        frame = frame.set_axis(names, axis=1)
        warnings += [w for w in dup_warnings if w not in warnings]
    # The index keeps each row's position in the file until the end, so messages can name data rows.
    frame = frame.set_axis(pd.RangeIndex(len(frame)), axis=0)
    frame, dropped = _drop_empty(frame)
    if dropped:
        warnings.append(dropped)
    fixes: list[CellFix] = []
    out = {}
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s):
            s, col_fixes, mixed_dates = _convert_text(col, s, decimal)
            fixes += col_fixes
            if mixed_dates:
                warnings.append(
                    t("Column '{col}' mixes date formats; each value was read on its own, day first (03/04/2024 = 3 April). Check a few dates, or export them in one format (YYYY-MM-DD).", col=col)
                )
        elif (nan_cells or {}).get(col):
            fixes.append(CellFix(col, "missing_token", "nan", nan_cells[col]))
        elif isinstance(s.dtype, pd.DatetimeTZDtype):
            # Dates with a time zone (ISO 8601 with offsets, zoned Parquet): one rule for every date read,
            # lib.data.orders.naive_utc (to UTC, then the zone dropped).
            from lib.data.orders import naive_utc

            s = naive_utc(s)
        s, impossible = _impossible_numbers(col, s)
        fixes += impossible
        out[col] = s
    if len(frame) == 0:
        raise DataValidationError(t("The file has a header but no data rows. Export the data again with its rows."))
    frame = pd.DataFrame(out, index=frame.index).reset_index(drop=True)
    warnings += [t("{sentence} Fix the source if these are typos; until then models treat them as unknown.", sentence=sentence)
                 for _, _, sentence in fix_sentences([f for f in fixes if f.kind in _VALUE_KINDS])]
    return frame, warnings, tuple(fixes)


def _blank(s: pd.Series) -> np.ndarray:
    """True where a cell is empty: missing, or text that is only spaces."""
    blank = s.isna().to_numpy(dtype=bool, copy=True)
    if pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s):
        filled = ~blank
        if filled.any():
            blank[filled] = s[filled].astype("str").str.strip().eq("").to_numpy(dtype=bool)
    return blank


def _drop_empty(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """Drop rows with no value in any column (Excel's 'used range' residue, blank lines between blocks)
    and columns with neither a name nor a value, so neither becomes a phantom customer or feature.
    Named empty columns stay: the quality report says they are empty."""
    empty_cols = [c for c in frame.columns if _UNNAMED.match(str(c)) and _blank(frame[c]).all()]
    if empty_cols:
        frame = frame.drop(columns=empty_cols)
    empty = np.ones(len(frame), dtype=bool)
    # Only rows still empty are checked in the next column: the first filled column settles most rows.
    # Columns that are not text go first: a missing-check there is far cheaper than stripping text.
    order = sorted(frame.columns, key=lambda c: pd.api.types.is_string_dtype(frame[c])
                   or pd.api.types.is_object_dtype(frame[c]))
    for col in order:
        candidates = np.flatnonzero(empty)
        if not len(candidates):
            break
        empty[candidates] = _blank(frame[col].iloc[candidates])
    if len(frame.columns) == 0:
        empty[:] = True
    n_rows = int(empty.sum())
    if n_rows:
        kept = frame[~empty]
        # A column of whole numbers read as floats only because of the empty rows gets its type back.
        frame = kept.astype({
            c: "int64" for c in kept.columns
            if pd.api.types.is_float_dtype(kept[c]) and frame[c].isna().any() and kept[c].notna().all()
            and bool(np.all(np.mod(kept[c].to_numpy(), 1) == 0)) and kept[c].abs().max() < 2**53
        })
    if not n_rows and not empty_cols:
        return frame, None
    parts = []
    if n_rows:
        parts.append(t("{n_rows:,} empty row{plural}", n_rows=n_rows, plural='s' if n_rows != 1 else ''))
    if empty_cols:
        parts.append(t("{n_empty_cols} empty unnamed column{plural}", n_empty_cols=len(empty_cols), plural='s' if len(empty_cols) != 1 else ''))
    return frame, (t("Dropped {items}: they hold no values (often left over from a spreadsheet's formatting). Nothing to do unless they should have had data.", items=t(" and ").join(parts)))


def _convert_text(col: str, s: pd.Series, decimal: str) -> tuple[pd.Series, list[CellFix], bool]:
    """A text column as numbers, dates or text, with the cells read as missing on the way.

    'N/A', '-', 'unknown'... count as missing only when the rest of the column is numbers or dates;
    otherwise they are categories (bank-full's job = 'unknown') and only the unambiguous NA_TOKENS are
    read as missing. Returns the column, its fixes, and whether dates came in mixed formats."""
    filled = s.dropna()
    if len(filled):
        # An evenly spread sample decides cheaply whether the full (slower) checks are worth running.
        pick = np.unique(np.linspace(0, len(filled) - 1, min(len(filled), 2000)).astype(int))
        sample = filled.iloc[pick].astype("str").str.strip()
        sample = sample[(sample != "") & ~sample.str.lower().isin(MISSING_TOKENS)]
    else:
        sample = filled
    maybe_numbers = len(sample) > 0 and _mostly_numbers(sample, decimal)
    maybe_dates = len(sample) > 0 and sample.str.match(_DATE_HINT).mean() >= 0.9
    if maybe_numbers or maybe_dates:
        values = filled.astype("str").str.strip()
        values = values[values != ""]
        token = values.str.lower().isin(MISSING_TOKENS).to_numpy()
        rest = values[~token]
        token_fixes = _token_fixes(col, values[token], "missing_token")
        if maybe_numbers:
            nums = _to_numbers(rest, decimal)
            parsed = nums.notna().to_numpy()
            stray = rest[~parsed]
            if _mostly_numbers(rest, decimal, nums):
                out = pd.Series(np.nan, index=s.index, dtype="float64", name=s.name)
                out.loc[nums.index] = nums.to_numpy()
                return out, token_fixes + _token_fixes(col, stray, "not_a_number"), False
        if maybe_dates:
            dates = parse_dates(s.where(~s.index.isin(values.index[token])) if token.any() else s)
            if dates is not None:
                return dates, token_fixes, bool(dates.attrs.get("mixed_formats"))
    na = s.isin(NA_TOKENS[1:]).to_numpy()
    fixes = _token_fixes(col, s[na], "missing_token") if na.any() else []
    return _as_text(s.where(~na) if na.any() else s), fixes, False


def _mostly_numbers(values: pd.Series, decimal: str, nums: pd.Series | None = None) -> bool:
    """True when ``values`` (stripped text, missing codes removed) are numbers, but for a few stray
    words ('refused'), which will be read as missing. Values with digits that are not numbers
    (InvoiceNo 'C536379', StockCode '85123A', '3+') mean the column holds codes: it stays text; so do
    codes with leading zeros (postcodes, phone numbers)."""
    if nums is None:
        nums = _to_numbers(values, decimal)
    parsed = nums.notna().to_numpy()
    if not len(parsed) or parsed.mean() < NUMERIC_SHARE:
        return False
    if values[~parsed].str.contains(r"\d", regex=True).any():
        return False
    return not values.str.match(r"^0\d+$").mean() > 0.1


def _token_fixes(col: str, cells: pd.Series, kind: str) -> list[CellFix]:
    """One CellFix per distinct value in ``cells``, most frequent first."""
    if cells.empty:
        return []
    counts = cells.astype("str").value_counts()
    return [CellFix(col, kind, str(value), int(n)) for value, n in counts.items()]


def _to_numbers(values: pd.Series, decimal: str) -> pd.Series:
    """``values`` (stripped text) as float64, NaN where a value is not a number."""
    if decimal == ".":
        # Plain numbers need no cleaning; only the rest go through the (slower) regex clean-up.
        nums = pd.to_numeric(values, errors="coerce").astype("float64")
        retry = nums.isna().to_numpy()
        if retry.any():
            nums[retry] = pd.to_numeric(_clean_numbers(values[retry], decimal), errors="coerce")
        return nums
    return pd.to_numeric(_clean_numbers(values, decimal), errors="coerce").astype("float64")


_VALUE_KINDS = ("non_finite", "absurd", "impossible_age")


def _impossible_numbers(col: str, s: pd.Series) -> tuple[pd.Series, list[CellFix]]:
    """Set to missing the numbers no model can use or no customer can have: inf/-inf, magnitudes above
    1e15 in a column whose 99th percentile is below 1e12 (or beyond float32, where XGBoost would see
    inf), and ages below 0 or above 120 in a column of ages in years. Missing, not clipped: a clipped
    typo would still be a wrong number, and every model here handles missing values."""
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return s, []
    x = s.to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(x)
    masks: dict[str, np.ndarray] = {"non_finite": np.isinf(x)}
    size = np.abs(np.where(finite, x, 0.0))
    if size.max(initial=0.0) > ABSURD:
        p99 = float(np.percentile(size[finite], 99))
        masks["absurd"] = (size > ABSURD) & ((p99 <= ABSURD_P99) | (size > FLOAT32_MAX))
    if _AGE_WORD.search(col.lower()) and not _NOT_PERSON_AGE.search(col):
        ok = finite & ~masks.get("absurd", np.zeros(len(x), dtype=bool))
        # Ages in years only: a column whose typical value is above 120 counts something else.
        if ok.any() and 1 <= float(np.median(x[ok])) <= MAX_AGE:
            masks["impossible_age"] = ok & ((x < 0) | (x > MAX_AGE))
    fixes = []
    for kind, mask in masks.items():
        if mask.any():
            where = np.flatnonzero(mask)
            rows = tuple(int(r) + 1 for r in s.index.to_numpy()[where[:SHOW_ROWS]])
            fixes.append(CellFix(col, kind, "", int(mask.sum()), rows))
            x = np.where(mask, np.nan, x)
    if not fixes:
        return s, []
    return pd.Series(x, index=s.index, name=s.name), fixes


def fix_sentences(fixes: list[CellFix] | tuple[CellFix, ...]) -> list[tuple[str, str, str]]:
    """``(column, what, sentence)`` saying, per column, which cells were read as missing and why. ``what``
    is "codes" ("'income': 37 cells held 'N/A' and 4 held '-'; read as missing.") or "numbers"
    (infinite, absurd or impossible values set to missing, with the data rows)."""
    out = []
    for col in dict.fromkeys(f.column for f in fixes):
        mine = [f for f in fixes if f.column == col]
        tokens = sorted((f for f in mine if f.kind in ("missing_token", "not_a_number")), key=lambda f: -f.cells)
        if tokens:
            shown = [t("{cells:,} cell{plural} held '{value}'", cells=tokens[0].cells, plural='s' if tokens[0].cells != 1 else '', value=tokens[0].value)]
            shown += [t("{cells:,} held '{value}'", cells=f.cells, value=f.value) for f in tokens[1:4]]
            rest = sum(f.cells for f in tokens[4:])
            if rest:
                shown.append(t("{rest:,} held {others} other value{plural}", rest=rest, others=len(tokens) - 4, plural='s' if len(tokens) > 5 else ''))
            out.append((col, "codes", t("'{col}': {cells}; read as missing.", col=col, cells=_and(shown))))
        parts = []
        for f in mine:
            if f.kind in _VALUE_KINDS:
                one = f.cells == 1
                what = {"non_finite": t("infinite value") if one else t("infinite values"),
                        "absurd": t("absurdly large value") if one else t("absurdly large values"),
                        "impossible_age": t("impossible age") if one else t("impossible ages")}[f.kind]
                why = {"non_finite": "",
                       "absurd": t("beyond {limit}, far outside the rest of the column; ",
                                   limit=f"{ABSURD:.0e}".replace("e+", "e")),
                       "impossible_age": t("below 0 or above {most}; ", most=MAX_AGE)}[f.kind]
                parts.append(t("{cells:,} {what} ({why}{rows})", cells=f.cells, what=what, why=why, rows=_rows_text(f)))
        if parts:
            total = sum(f.cells for f in mine if f.kind in _VALUE_KINDS)
            out.append((col, "numbers", t("'{col}': {values} were set to missing.", col=col, values=_and(parts))
                        if total != 1 else t("'{col}': {values} was set to missing.", col=col, values=_and(parts))))
    return out


def _rows_text(fix: CellFix) -> str:
    rows = ", ".join(f"{r:,}" for r in fix.rows)
    more = fix.cells - len(fix.rows)
    text = t("data row {rows}", rows=rows) if fix.cells == 1 else t("data rows {rows}", rows=rows)
    return text + (t(" and {more:,} more", more=more) if more > 0 else "")


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else t(", ").join(parts[:-1]) + t(" and ") + parts[-1]


def _as_text(s: pd.Series) -> pd.Series:
    if pd.api.types.is_object_dtype(s):
        # Mixed Python objects (Excel): make them text so downstream code sees one type.
        return s.map(lambda v: v if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)).astype("str")
    return s


def parse_numbers(s: pd.Series, decimal: str = ".") -> pd.Series | None:
    """Return ``s`` as float64 if (nearly) every non-empty value is a number once thousands separators,
    currency signs, (for ``decimal=','``) the decimal comma, and missing-value codes such as 'N/A' are
    handled; otherwise None."""
    if not (pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s)):
        s = s.astype("str")
    out, _, _ = _convert_text(str(s.name), s, decimal)
    return out if pd.api.types.is_float_dtype(out) else None


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
    if sample.str.match(_ISO_TIMESTAMP).all():
        # ISO 8601 ("2024-01-02T10:00:00+02:00", "2024-01-02 10:00Z"): read as ISO, never day first, with
        # time zones by the order dates' rule (lib.data.orders.naive_utc: to UTC, then the zone dropped).
        from lib.data.orders import naive_utc

        full = pd.to_datetime(s.astype("str").str.strip().replace("", None), format="ISO8601", errors="coerce",
                              utc=bool(values.str.contains(_ISO_ZONE).any()))
        if full.notna().sum() == len(values):
            return naive_utc(full)
    # Several formats in one column: parse each value on its own, but only if all of them parse.
    full = pd.to_datetime(values, format="mixed", dayfirst=True, errors="coerce")
    if full.notna().all():
        out = pd.to_datetime(s.astype("str").str.strip().replace("", None), format="mixed", dayfirst=True,
                             errors="coerce")
        out.attrs["mixed_formats"] = True
        return out
    return None
