"""From a table as read to the frame every step uses: unique column names, spreadsheet leftovers dropped,
numbers and dates written as text parsed, cells that mean "no value" read as missing, impossible numbers
set to missing; each fix recorded (``lib.data.io.cells.CellFix``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.data.io.cells import _VALUE_KINDS, MISSING_TOKENS, NA_TOKENS, CellFix, _token_fixes, fix_sentences
from lib.data.io.dates import _DATE_HINT, parse_dates
from lib.data.io.numbers import _impossible_numbers, _mostly_numbers, _to_numbers
from lib.errors import DataValidationError
from lib.text.i18n import t


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


_UNNAMED = re.compile(r"^(Unnamed: \d+(_level_\d+)?|column_\d+)$")


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
    frame, pasted = _drop_pasted_rows(frame)
    warnings += pasted
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


def _whole_numbers_back(before: pd.DataFrame, kept: pd.DataFrame) -> pd.DataFrame:
    """``kept`` (rows of ``before``) with each column of whole numbers that was read as floats only
    because of the dropped rows back as integers."""
    return kept.astype({
        c: "int64" for c in kept.columns
        if pd.api.types.is_float_dtype(kept[c]) and before[c].isna().any() and kept[c].notna().all()
        and bool(np.all(np.mod(kept[c].to_numpy(), 1) == 0)) and kept[c].abs().max() < 2**53
    })


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
        frame = _whole_numbers_back(frame, frame[~empty])
    if not n_rows and not empty_cols:
        return frame, None
    parts = []
    if n_rows:
        parts.append(t("{n_rows:,} empty row{plural}", n_rows=n_rows, plural='s' if n_rows != 1 else ''))
    if empty_cols:
        parts.append(t("{n_empty_cols} empty unnamed column{plural}", n_empty_cols=len(empty_cols), plural='s' if len(empty_cols) != 1 else ''))
    return frame, (t("Dropped {items}: they hold no values (often left over from a spreadsheet's formatting). Nothing to do unless they should have had data.", items=t(" and ").join(parts)))


# A totals line a spreadsheet adds at the bottom: its first filled cell says so.
_TOTAL_WORD = re.compile(r"^\s*(grand\s+)?(total|totals|sum|subtotal)\s*:?\s*$|^\s*(合计|总计|小计|总和)\s*[:：]?\s*$", re.I)
_TOTAL_ROWS = 3  # only the last few rows can be a totals line


def _drop_pasted_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Drop rows that are not data but were pasted into it: the header repeated in the middle (two
    exports pasted one under the other) and a totals line at the bottom. Kept, either would become a
    customer, or an unreadable date and a "not a number" in every column it crosses."""
    if len(frame) == 0 or len(frame.columns) == 0:
        return frame, []
    text = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c]) or pd.api.types.is_object_dtype(frame[c])]
    names = np.zeros(len(frame), dtype=np.int64)
    for c in text:
        names += (frame[c] == c).to_numpy(dtype=bool, na_value=False)
    filled = np.zeros(len(frame), dtype=np.int64)
    for c in frame.columns:
        filled += ~_blank(frame[c])
    header = (names >= min(2, len(frame.columns))) & (names == filled)
    total = np.zeros(len(frame), dtype=bool)
    for i in range(max(0, len(frame) - _TOTAL_ROWS), len(frame)):
        row = frame.iloc[i:i + 1]
        blank = [bool(_blank(row[c])[0]) for c in frame.columns]
        first = next((row[c].iloc[0] for c, b in zip(frame.columns, blank) if not b), None)
        # A totals line leaves cells blank (no customer, no date): a full row saying "Total" is data.
        total[i] = isinstance(first, str) and bool(_TOTAL_WORD.match(first)) and any(blank)
    warnings = []
    if header.any():
        rows = ", ".join(str(r + 2) for r in np.flatnonzero(header)[:5])
        warnings.append(t("Dropped {n:,} rows that repeat the header (lines {rows}): exports pasted one under another. "
                          "Nothing to do.", n=int(header.sum()), rows=rows))
    if total.any():
        warnings.append(t("Dropped the totals line at the bottom (line {row}): it sums the rows above, it is not a "
                          "customer or an order.", row=int(np.flatnonzero(total)[0]) + 2))
    drop = header | total
    return (_whole_numbers_back(frame, frame[~drop]), warnings) if drop.any() else (frame, [])


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


def _as_text(s: pd.Series) -> pd.Series:
    if pd.api.types.is_object_dtype(s):
        # Mixed Python objects (Excel): make them text so downstream code sees one type.
        return s.map(lambda v: v if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)).astype("str")
    return s
