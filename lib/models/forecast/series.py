"""The shop's net sales per week (starting Monday) or month, from a transaction log.

Net sales: quantity × price (or the amount column) summed over every line — cancellations and
returns count as negatives, and lines without a customer id count too, because the shop's till
does not care who bought.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.data.features import TransactionColumns, infer_transaction_columns
from lib.errors import DataValidationError
from lib.text.i18n import t

FREQS = {"M": 12, "W": 52}  # freq -> periods in a season (a year)


def order_dates(frame: pd.DataFrame, column: str) -> pd.Series:
    """The log's dates as datetimes, by the one rule every step reads order dates with
    (``lib.data.orders.order_dates``)."""
    from lib.data.orders import order_dates as read_order_dates

    return read_order_dates(frame[column])


def period_start(dates: pd.Series, freq: str) -> pd.Series:
    """The first day of each date's period: the month's 1st, or the week's Monday."""
    day = dates.dt.normalize()
    if freq == "M":
        return day - pd.to_timedelta(day.dt.day - 1, unit="D")
    return day - pd.to_timedelta(day.dt.dayofweek, unit="D")


def period_end(start: pd.Timestamp, freq: str) -> pd.Timestamp:
    """The last day of the period starting at ``start``."""
    return start + (pd.offsets.MonthEnd(0) if freq == "M" else pd.Timedelta(days=6))


def next_periods(last: pd.Timestamp, freq: str, h: int) -> pd.DatetimeIndex:
    return pd.date_range(last, periods=h + 1, freq="MS" if freq == "M" else "W-MON")[1:]


def period_label(start: pd.Timestamp, freq: str) -> str:
    """forecast.csv's ``period``: YYYY-MM for a month, the Monday's YYYY-MM-DD for a week."""
    return start.strftime("%Y-%m") if freq == "M" else start.strftime("%Y-%m-%d")


@dataclass(frozen=True)
class SalesLines:
    """Each usable line's period, net value and (optionally) the part it belongs to."""

    period: pd.Series  # first day of the line's period
    value: pd.Series  # net sales of the line (negative for returns)
    columns: TransactionColumns
    first_day: pd.Timestamp
    last_day: pd.Timestamp
    unreadable: int  # lines with no readable date or amount


def sales_lines(frame: pd.DataFrame, freq: str, date_col: str | None = None,
                amount_col: str | None = None, customer_col: str | None = None) -> SalesLines:
    """Every line of the log with a readable date and amount, as (period, net value)."""
    if freq not in FREQS:
        raise DataValidationError(t("The forecast is by month (M) or week (W), not '{freq}'.", freq=freq))
    cols = infer_transaction_columns(frame, customer_col, date_col, amount_col)
    dates = order_dates(frame, cols.date)
    if cols.amount is not None:
        value = pd.to_numeric(frame[cols.amount], errors="coerce")
    else:
        value = frame[cols.quantity].astype("float64") * frame[cols.unit_price].astype("float64")
    # Cancellations and returns are negative lines (lib.data.orders: a letter on the invoice alone never
    # makes a sale a cancellation), so net sales are the plain sum.
    ok = dates.notna() & value.notna()
    if not ok.any():
        raise DataValidationError(t("No line has both a readable date in '{col}' and an amount: nothing to forecast.",
                                    col=cols.date))
    d = dates[ok]
    return SalesLines(period=period_start(d, freq), value=value[ok].astype("float64"), columns=cols,
                      first_day=d.min().normalize(), last_day=d.max().normalize(), unreadable=int((~ok).sum()))


def complete_range(lines: SalesLines, freq: str) -> pd.DatetimeIndex:
    """The periods the log covers whole: a first or last period the log only partly covers (it starts
    mid-month, or ends on 9 December) would look like a slump, so it is left out."""
    first = lines.period.min()
    last = lines.period.max()
    if lines.first_day > first + pd.Timedelta(days=1):
        first = next_periods(first, freq, 1)[0]
    # One day of slack: many shops close on Saturdays or Sundays, and a month's last day may be quiet.
    if lines.last_day < period_end(last, freq) - pd.Timedelta(days=1):
        last = last - (pd.offsets.MonthBegin(1) if freq == "M" else pd.Timedelta(days=7))
    if last < first:
        return pd.DatetimeIndex([])
    return pd.date_range(first, last, freq="MS" if freq == "M" else "W-MON")


def net_sales(lines: SalesLines, freq: str, parts: pd.Series | None = None) -> pd.DataFrame:
    """Net sales per complete period: one column ``total`` and, with ``parts`` (a label per line,
    aligned to ``lines``), one column per part. Periods without a line are 0."""
    periods = complete_range(lines, freq)
    frame = pd.DataFrame({"period": lines.period, "value": lines.value})
    total = frame.groupby("period")["value"].sum().reindex(periods, fill_value=0.0)
    out = pd.DataFrame({"total": total})
    if parts is not None:
        frame["part"] = parts.reindex(frame.index).astype("str").to_numpy()
        wide = frame.pivot_table(index="period", columns="part", values="value", aggfunc="sum", fill_value=0.0)
        wide = wide.reindex(periods, fill_value=0.0)
        out = pd.concat([out, wide], axis=1)
    out.index.name = "period"
    return out


def gaps(series: pd.Series) -> list[pd.Timestamp]:
    """Periods inside the history with no sales at all (not even a return): likely missing data."""
    return list(series.index[np.isclose(series.to_numpy(), 0.0)])


def spikes(series: pd.Series) -> list[pd.Timestamp]:
    """Periods that dwarf every other one: over 4× the median and over twice the next-largest period."""
    values = series.to_numpy(dtype="float64")
    if len(values) < 4:
        return []
    order = np.sort(values)
    med = float(np.median(values))
    top, second = order[-1], order[-2]
    if med > 0 and top > 4 * med and top > 2 * max(second, 0.0):
        return [series.index[int(np.argmax(values))]]
    return []
