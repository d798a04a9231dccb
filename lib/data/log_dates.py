"""How a log's dates are read, decided once: text by the file reader's rules, numbers as Excel serial
days, YYYYMMDD or Unix time, zones to one clock (UTC); and where the export plausibly ends, so a few
stray future lines never set the as-of date. ``lib.data.orders`` re-exports every name here."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lib.errors import DataValidationError
from lib.text.i18n import t


def naive_utc(dates: pd.Series) -> pd.Series:
    """Datetimes without a time zone: zone-aware ones converted to UTC, then the zone dropped.

    Why UTC and not each line's wall clock: a log can mix offsets (summer and winter time, shops in
    several zones), and only one clock keeps the order of the lines and the gaps between them exact (a
    purchase at 01:30+02:00 came before one at 00:45+00:00). A late purchase may then fall on the next or
    previous calendar day, a shift of hours in measures counted in days. Naive dates are taken as they
    are. ``lib.models.model`` reads the date features of a customer table by the same rule."""
    if isinstance(dates.dtype, pd.DatetimeTZDtype):
        return dates.dt.tz_convert("UTC").dt.tz_localize(None)
    return dates


def order_dates(values: pd.Series) -> pd.Series:
    """An order-date column as naive datetimes (``naive_utc``); unreadable values become NaT.

    Text is read by the file reader's rules (``lib.data.io.parse_dates``: one format for the whole column,
    day first before month first); a column those rules cannot read whole is read value by value."""
    from lib.data.io import parse_dates

    if pd.api.types.is_datetime64_any_dtype(values):
        return naive_utc(values)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return _numeric_dates(values)
    parsed = parse_dates(values) if values.dtype == object or pd.api.types.is_string_dtype(values) else None
    if parsed is None:
        parsed = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
    return naive_utc(parsed)


# Dates written as numbers, each kind only where every value of the column falls in its range (1950-2100):
# Excel's serial days (counted from 1899-12-30, as Excel and LibreOffice do), YYYYMMDD, Unix seconds
# and Unix milliseconds. Ranges do not overlap, so a column reads one way only.
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_NUMERIC_DATES = (
    ("excel", 18_264, 73_051),
    ("yyyymmdd", 19_500_101, 21_001_231),
    ("s", 946_684_800, 4_102_444_800),
    ("ms", 946_684_800_000, 4_102_444_800_000),
)


def _numeric_dates(values: pd.Series) -> pd.Series:
    """A date column written as numbers (``_NUMERIC_DATES``), read whole one way; NaT when it is none of
    them (a number such as 3 is not a date, and reading it as nanoseconds after 1970 would be a lie)."""
    x = pd.to_numeric(values, errors="coerce").astype("float64")
    filled = x.dropna()
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]", name=values.name)
    for kind, low, high in _NUMERIC_DATES:
        if filled.empty or not filled.between(low, high).all():
            continue
        if kind == "excel":
            # Serial days carry the time of day as a fraction: rounded to the second it was typed at.
            return (_EXCEL_EPOCH + pd.to_timedelta(x, unit="D")).dt.round("s").rename(values.name)
        if kind == "yyyymmdd":
            if (filled % 1 != 0).any():
                continue
            text = x.map(lambda v: "" if np.isnan(v) else f"{int(v)}")
            return pd.to_datetime(text.replace("", None), format="%Y%m%d", errors="coerce")
        return pd.to_datetime(x, unit=kind, errors="coerce")
    return out


# The export's plausible end: the latest date once the last few lines are set aside (at least
# _END_TAIL_MIN lines, or 1 in 1,000), plus a margin of _END_MARGIN_DAYS or 5% of the log's span. A
# handful of lines beyond that (a typo'd year, a test order) do not set the as-of date.
_END_TAIL_MIN = 10
_END_TAIL_SHARE = 0.001
_END_MARGIN_DAYS = 31
_END_MARGIN_SHARE = 0.05


def plausible_end(dates: pd.Series) -> pd.Timestamp | None:
    """The last plausible order date of a log (naive datetimes, NaT ignored): lines after it are strays.

    Why not the last date: five lines dated 2031 in a 2011 export would make every customer two decades
    lapsed. The dense end of the dates is found below the last ``max(10, 0.1%)`` lines (never more than
    5% of them), and a line counts until a month (or 5% of the span) past it. None when no date reads."""
    d = np.sort(dates.dropna().to_numpy().astype("datetime64[ns]"))
    n = len(d)
    if n == 0:
        return None
    tail = min(max(_END_TAIL_MIN, int(n * _END_TAIL_SHARE)), n // 20)
    core = pd.Timestamp(d[n - 1 - tail])
    span = core - pd.Timestamp(d[0])
    end = core + max(pd.Timedelta(days=_END_MARGIN_DAYS), span * _END_MARGIN_SHARE)
    return min(end, pd.Timestamp(d[-1]))


def order_timestamp(value: str | pd.Timestamp) -> pd.Timestamp:
    """A cutoff date given by a user, read by the same rule as the order dates."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        ts = pd.NaT
    if pd.isna(ts):
        raise DataValidationError(t("'{value}' is not a date: give the as-of date as YYYY-MM-DD.", value=value))
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts
