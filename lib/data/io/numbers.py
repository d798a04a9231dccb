"""Numbers written as text (thousands separators, currency signs, decimal commas, '(12)' for -12) and
numbers no customer can have (inf, 1e300, an age of -3), which are set to missing."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from lib.data.io.cells import ABSURD, ABSURD_P99, FLOAT32_MAX, MAX_AGE, SHOW_ROWS, CellFix

# A text column becomes numbers when at least this share of its values, after the missing tokens, are
# numbers and the rest are words without digits ('refused'); those are read as missing and named in the
# quality report. Lower would turn real categories with a few numeric-looking codes into numbers.
NUMERIC_SHARE = 0.98

_CURRENCY = "$€£¥₹"

_AGE_WORD = re.compile(r"(?:^|[^a-z])age(?:$|[^a-z])|年龄")
# An "age" measured in these units, or of something other than a person, can exceed 120.
_NOT_PERSON_AGE = re.compile(r"day|week|month|hour|minute|second|account|tenure|contract|car|vehicle|house|"
                             r"property|product|item|stock|invoice|order|page|mileage", re.I)


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


def _clean_numbers(s: pd.Series, decimal: str) -> pd.Series:
    t = s.str.strip().str.replace(f"[{_CURRENCY}]", "", regex=True).str.replace(r"^\((.*)\)$", r"-\1", regex=True)
    t = t.str.replace(r"\s", "", regex=True)
    if decimal == ",":
        t = t.str.replace(r"\.(?=\d{3}(\D|$))", "", regex=True).str.replace(",", ".", regex=False)
    else:
        t = t.str.replace(r",(?=\d{3}(\D|$))", "", regex=True)
    return t


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
