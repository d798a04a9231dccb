"""Customer value follows the season the market forecast sees.

The value models learn each customer's buying *rate* from their history; carried forward as it is, a
December cut-off carries the Christmas rate into January and February (on the Online Retail log, 3× what
customers really spent in the next 90 days). The shop-level forecast (``lib.models.forecast``), chosen by
backtest, knows the season when the log holds a year or more. What today's customers will spend is then
the market's next H days times the share of sales that customers already known bring (measured on the
last H days); the value models' total is scaled to it, every customer alike, so their ranking is
untouched and the total agrees with the market forecast.
"""

from __future__ import annotations

import pandas as pd

from lib.errors import DataValidationError
from lib.text.i18n import number, percent, t

# Only a forecast that sees the season moves the totals: a naive or trend forecast says nothing about it.
SEASONAL_METHODS = ("seasonal_naive", "seasonal_naive_trend", "holt_winters")


def season_index(frame: pd.DataFrame, horizon_days: int, model_total: float, customer_col: str | None = None,
                 date_col: str | None = None, amount_col: str | None = None) -> tuple[float, str | None]:
    """(index, note): the factor that brings the value models' ``model_total`` for the next
    ``horizon_days`` to what the market forecast expects of today's customers; (1.0, None) when the
    forecast cannot see a season."""
    from lib.data.orders import classify_lines, infer_transaction_columns
    from lib.models.forecast import ForecastSettings, forecast_sales

    months = max(1, round(horizon_days / 30))
    try:
        fc = forecast_sales(frame, ForecastSettings("M", months + 2, breakdowns=False), customer_col, date_col,
                            amount_col)
    except DataValidationError:
        return 1.0, None
    if fc.method not in SEASONAL_METHODS or model_total <= 0:
        return 1.0, None
    lines = classify_lines(frame, infer_transaction_columns(frame, customer_col, date_col, amount_col)).lines
    lines = lines[lines["date"].notna() & lines["value"].notna()]
    last = lines["date"].max().normalize()
    H = pd.Timedelta(days=horizon_days)
    upcoming = _expected_sales(fc, last + pd.Timedelta(days=1), horizon_days)
    window = lines["date"] > last - H + pd.Timedelta(days=1)
    first_seen = lines[lines["customer"] != ""].groupby("customer")["date"].min()
    known = lines["customer"].map(first_seen) <= last - H
    sold = lines.loc[window, "value"].sum()
    if upcoming is None or upcoming <= 0 or sold <= 0:
        return 1.0, None
    share = float(lines.loc[window & known, "value"].sum() / sold)
    index = float(upcoming * share / model_total)
    note = t("The next {days} days follow the season the market forecast sees ({method}): the shop is expected to "
             "sell {sales} in them, {share} of it to customers known today, so the customers' predicted spend is "
             "scaled by {index} (their ranking is unchanged).", days=horizon_days,
             method=t(fc.method_label),  # i18n: the candidates' labels (forecast.candidates) are in the catalogue
             sales=number(upcoming), share=percent(share, 0), index=f"{index:.2f}")
    return index, note


def _expected_sales(fc, start: pd.Timestamp, days: int) -> float | None:
    """The market forecast's sales over ``days`` days from ``start``, each month's forecast spread evenly
    over its days (None when the forecast does not reach that far)."""
    rate = {pd.Period(p, "M"): v / pd.Period(p, "M").days_in_month
            for p, v in zip(*fc.forecast.loc[fc.forecast["level"] == "total", ["period", "forecast"]].T.values)}
    months = pd.period_range(start, start + pd.Timedelta(days=days - 1), freq="D").asfreq("M")
    known = [rate.get(m) for m in months]
    return None if any(r is None for r in known) else float(sum(known))
