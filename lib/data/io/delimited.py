"""Delimited text files (CSV, TSV, TXT): the delimiter and decimal mark, the header, rows with the wrong
number of fields, codes with leading zeros kept as text. pyarrow reads them; pandas is the fallback."""

from __future__ import annotations

import csv
import io
import logging
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from lib.data.io.encoding import _SAMPLE_BYTES, detect_encoding
from lib.data.io.frame import _Raw, _unique_names
from lib.data.io.numbers import _CURRENCY
from lib.errors import DataValidationError
from lib.text.i18n import t

log = logging.getLogger(__name__)

DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

# Python's csv module refuses fields over 131,072 characters; a pasted e-mail thread in a notes column
# is longer. The memory guard in check_memory already bounds what a file may cost.
csv.field_size_limit(2**31 - 1)


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
    """',' when numbers in the sample are written with a decimal comma (European exports), currency
    signs and thousands separators allowed ("1.234,50 €" against "£1,234.50")."""
    if delim == ",":
        return "."
    edge_l, edge_r = r"(?:^|[" + re.escape(delim) + r"\"])\s*", r"\s*(?=[" + re.escape(delim) + r"\"\r\n]|$)"

    def count(decimal: str, thousands: str) -> int:
        number = (rf"-?(?:[{_CURRENCY}]\s?)?-?(?:\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+|\d+)"
                  rf"{re.escape(decimal)}\d+(?:\s?[{_CURRENCY}])?")
        return len(re.findall(edge_l + number + edge_r, sample, flags=re.M))

    return "," if count(",", ".") > count(".", ",") else "."


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
