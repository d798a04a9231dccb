"""Dates written as text: one format per column when there is one, each value on its own when the
column mixes formats."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

_DATE_FORMATS = (
    "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M", "%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%m-%d-%Y", "%d.%m.%Y", "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%Y年%m月%d日",
    "%d-%b-%Y", "%d %b %Y", "%b %d, %Y", "%d/%m/%y", "%m/%d/%y",
    # 12-hour clocks (AM/PM) are the US convention, so there month first comes before day first: a US
    # export of 1-6 December ("12/01/2010 8:26 AM") reads every value either way and is December.
    "%m/%d/%Y %I:%M %p", "%d/%m/%Y %I:%M %p", "%m/%d/%Y %I:%M:%S %p", "%d/%m/%Y %I:%M:%S %p",
)
_ISO_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?$")
_ISO_ZONE = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$")
_DATE_HINT = re.compile(r"^\s*(\d{4}[-/.年]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{1,2}[ -][A-Za-z]{3}|[A-Za-z]{3} \d)")


def _each_distinct(s: pd.Series, **to_datetime) -> pd.Series:
    """``pd.to_datetime`` of ``s``'s text (stripped, "" read as missing), parsed once per distinct value
    and spread back to the rows. A date column repeats its values (a few thousand days in a million
    rows): the per-row string work (astype, strip, replace) was most of reading a file with dates."""
    codes, distinct = pd.factorize(s, use_na_sentinel=True)
    text = pd.Series(distinct, dtype=object).astype("str").str.strip().replace("", None)
    parsed = pd.to_datetime(text, **to_datetime)
    return pd.Series(parsed.array.take(codes, allow_fill=True), index=s.index, name=s.name)


def parse_dates(s: pd.Series) -> pd.Series | None:
    """Return ``s`` as datetime64 if its non-empty values are dates in one common format; else None.

    Tries explicit formats (day-first before month-first for slashes, as most exports outside the US)
    so that a column never parses half one way and half another.
    """
    # Every check below is about the distinct values (a date column repeats its days), except the
    # sample, which is the first 500 filled rows as before.
    codes, distinct = pd.factorize(s, use_na_sentinel=True)
    text = pd.Series(distinct, dtype=object).astype(str).str.strip()
    filled = (text != "").to_numpy()
    values = text[filled]  # the distinct non-empty values
    n_values = int(np.bincount(codes[codes >= 0], minlength=len(text))[filled].sum())  # non-empty rows
    if values.empty:
        return None
    head = s.iloc[:5000].dropna().astype(str).str.strip()
    sample = head[head != ""].iloc[:500]
    if len(sample) < 500 and len(s) > 5000:  # a mostly empty column: its first filled rows, found the long way
        rows = s.dropna().astype(str).str.strip()
        sample = rows[rows != ""].iloc[:500]
    if sample.str.match(_DATE_HINT).mean() < 0.9:
        return None
    for fmt in _DATE_FORMATS:
        parsed = pd.to_datetime(sample, format=fmt, errors="coerce")
        if parsed.notna().all():
            full = _each_distinct(s, format=fmt, errors="coerce")
            if full.notna().sum() == n_values:
                return full
    if sample.str.match(_ISO_TIMESTAMP).all():
        # ISO 8601 ("2024-01-02T10:00:00+02:00", "2024-01-02 10:00Z"): read as ISO, never day first, with
        # time zones by the order dates' rule (lib.data.orders.naive_utc: to UTC, then the zone dropped).
        from lib.data.orders import naive_utc

        full = _each_distinct(s, format="ISO8601", errors="coerce", utc=bool(values.str.contains(_ISO_ZONE).any()))
        if full.notna().sum() == n_values:
            return naive_utc(full)
    # Several formats in one column: parse each value on its own, but only if all of them parse.
    full = pd.to_datetime(values, format="mixed", dayfirst=True, errors="coerce")
    if full.notna().all():
        out = _each_distinct(s, format="mixed", dayfirst=True, errors="coerce")
        out.attrs["mixed_formats"] = True
        return out
    return None
