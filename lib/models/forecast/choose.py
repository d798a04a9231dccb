"""The forecast step: the sales series, the candidates its length allows, the backtest that picks one,
and bands no narrower than the backtest's misses."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.errors import DataValidationError
from lib.models.forecast import candidates as cands
from lib.models.forecast.backtest import half_widths, run_backtest
from lib.models.forecast.series import FREQS, gaps, net_sales, next_periods, period_label, sales_lines, spikes
from lib.text.i18n import number, percent, t

FORECAST_COLUMNS = ("period", "level", "forecast", "lower_80", "upper_80", "lower_95", "upper_95")
MIN_PERIODS = {"M": 4, "W": 8}  # fewer complete periods than this: nothing honest can be said
MAX_ORIGINS = {"M": 12, "W": 26}  # a year (monthly) / half a year (weekly) of backtest origins
SHORT_HISTORY_WIDEN = 1.25  # bands × this with under two seasons: one year's pattern may be a fluke
TIE = 0.02  # a method must beat a simpler one by over 2% of MAE to be chosen


@dataclass(frozen=True)
class ForecastSettings:
    freq: str = "M"  # "M" months or "W" weeks (starting Monday)
    horizon: int = 3  # periods ahead
    breakdowns: bool = True  # also by country/category, product and segment (lib.models.forecast.parts)


def parse_horizon(text: str) -> ForecastSettings:
    """'3M' -> 3 months ahead, '8W' -> 8 weeks ahead (the CLI's --forecast)."""
    match = re.fullmatch(r"\s*(\d+)\s*([MmWw])\s*", str(text))
    if not match:
        raise DataValidationError(t("--forecast takes a number of months or weeks, like 3M or 8W, not '{value}'.",
                                    value=text))
    n, freq = int(match.group(1)), match.group(2).upper()
    top = 24 if freq == "M" else 104
    if not 1 <= n <= top:
        raise DataValidationError(t("--forecast {value}: choose 1 to {top} periods ahead.", value=text, top=top))
    return ForecastSettings(freq=freq, horizon=n)


@dataclass(frozen=True)
class ForecastResult:
    forecast: pd.DataFrame  # FORECAST_COLUMNS; level "total" first, then the breakdowns
    history: pd.DataFrame  # period (first day), level, sales: the complete periods the forecast learnt from
    backtest: pd.DataFrame  # method, mase, mae, coverage_80, coverage_95, forecasts
    method: str
    method_label: str
    reason: str
    freq: str
    horizon: int
    history_periods: int
    seasonal_naive_mase: float | None
    sentence: str
    warnings: tuple[str, ...]

    def to_report(self) -> dict:
        row = self.backtest.set_index("method").reindex([self.method]).iloc[0] if len(self.backtest) else None

        def r(x):
            return None if x is None or not np.isfinite(x) else round(float(x), 4)

        return {
            "method": self.method, "freq": self.freq, "periods": self.horizon,
            "history_periods": self.history_periods,
            "backtest": {
                "mase": r(row["mase"]) if row is not None else None,
                "seasonal_naive_mase": r(self.seasonal_naive_mase),
                "coverage_80": r(row["coverage_80"]) if row is not None else None,
                "coverage_95": r(row["coverage_95"]) if row is not None else None,
            },
            "warnings": list(self.warnings),
        }


def _candidates(n: int, m: int, max_origins: int) -> tuple[cands.Candidate, ...]:
    """The methods this much history can fit, with at least three backtest origins where possible."""
    pool = [c for c in cands.CANDIDATES if n - c.min_history(m) >= 3]
    if not pool:  # too short to backtest anything seasonal: the simple ones, however few origins
        pool = [c for c in (cands.SEASONAL_NAIVE, cands.NAIVE, cands.DRIFT) if n >= c.min_history(m)]
    return tuple(pool)


def _pick(table: pd.DataFrame, n: int, m: int) -> tuple[str, str]:
    """(method, why): with under two seasons, last year's period with its stated trend; otherwise the
    lowest backtest MAE, a simpler method winning ties."""
    names = list(table["method"])
    if m <= n < 2 * m:
        name = "seasonal_naive_trend" if "seasonal_naive_trend" in names else "seasonal_naive"
        return name, t("With under two years of history no model can learn the season reliably, so the forecast "
                       "is last year's same period with this year's trend stated.")
    scored = table.dropna(subset=["mae"])
    if scored.empty:
        name = "seasonal_naive" if n >= m else "drift"
        return name, t("Too little history to backtest: the simplest sensible method is used.")
    best = scored["mae"].min()
    name = str(scored[scored["mae"] <= best * (1 + TIE)].iloc[0]["method"])
    return name, t("It missed the held-out periods least in the backtest ({n} held-out forecasts each).",
                   n=int(table["forecasts"].max()))


def _history_warnings(y: pd.Series, freq: str, m: int) -> list[str]:
    out = []
    n = len(y)
    unit = t("months") if freq == "M" else t("weeks")
    if n < m:
        out.append(t("Only {n} {unit} of history, under a year: the forecast follows the recent level and trend and "
                     "cannot foresee the season (a Christmas peak, a summer lull).", n=n, unit=unit))
    elif n < 2 * m:
        out.append(t("Only {n} {unit} of history, under two years: the seasonal pattern is last year's alone, so "
                     "the forecast repeats it with this year's trend and the band is widened by {pct}.",
                     n=n, unit=unit, pct=percent(SHORT_HISTORY_WIDEN - 1, 0)))
    holes = gaps(y)
    if holes:
        out.append(t("{k} {unit} inside the history have no sales at all ({first}…): missing data? The forecast "
                     "treats them as real zeros, which pulls it down.", k=len(holes), unit=unit,
                     first=period_label(holes[0], freq)))
    return out


def short_money(x: float) -> str:
    """1.8M / 240K / 950: the plain sentence's numbers."""
    a = abs(x)
    if a >= 1e6:
        return f"{x / 1e6:.1f}M"
    if a >= 1e4:
        return f"{x / 1e3:.0f}K"
    return number(x)


def _sentence(y: np.ndarray, fc: pd.DataFrame, freq: str, m: int) -> str:
    h = len(fc)
    total = float(fc["forecast"].sum())
    spread = float((fc["upper_80"] - fc["forecast"]).sum())
    unit = t("months") if freq == "M" else t("weeks")
    head = t("Next {h} {unit} ({first} to {last}): {total} ± {spread} (80% band)", h=h, unit=unit,
             first=fc["period"].iloc[0], last=fc["period"].iloc[-1], total=short_money(total),
             spread=short_money(spread))
    if h <= m and len(y) >= m:
        before = float(y[len(y) - m:len(y) - m + h].sum())
        if before > 0:
            change = total / before - 1
            word = t("above") if change >= 0 else t("below")
            return t("{head}, {pct} {word} the same {unit} last year.", head=head, pct=percent(abs(change), 0),
                     word=word, unit=unit)
    return t("{head}.", head=head)


def forecast_series(y: pd.Series, settings: ForecastSettings, level: str = "total"):
    """Backtest and forecast one series (complete periods, oldest first): (frame, backtest, method, why,
    warnings, seasonal-naive MASE)."""
    freq, h = settings.freq, settings.horizon
    m = FREQS[freq]
    warnings = _history_warnings(y, freq, m)
    values = y.to_numpy(dtype="float64").copy()
    for when in spikes(y):
        i = y.index.get_loc(when)
        neighbours = np.r_[values[max(0, i - 2):i], values[i + 1:i + 3]]
        warnings.append(t("{period} sold {x}, over four times a typical period and twice any other: the forecast "
                          "treats it as a one-off and does not expect it again.", period=period_label(when, freq),
                          x=number(values[i])))
        values[i] = float(np.median(neighbours))
    pool = _candidates(len(values), m, MAX_ORIGINS[freq])
    widen = SHORT_HISTORY_WIDEN if len(values) < 2 * m else 1.0
    bt = run_backtest(values, h, m, pool, MAX_ORIGINS[freq], widen)
    method, why = _pick(bt.table, len(values), m)
    chosen = next(c for c in cands.CANDIDATES if c.name == method)
    point, sigma = chosen.run(values, h, m)
    past = bt.errors.get(method)
    if past is None or not np.isfinite(past).any():
        # The chosen method could not be backtested (too little history): every tried method's misses
        # stand in, so the band is never narrower than what forecasting this series has missed by.
        past = np.vstack(list(bt.errors.values())) if bt.errors else np.empty((0, h))
    bands = {lv: half_widths(sigma, past, lv) * widen for lv in (80, 95)}
    periods = next_periods(y.index[-1], freq, h)
    frame = pd.DataFrame({"period": [period_label(p, freq) for p in periods], "level": level, "forecast": point,
                          "lower_80": point - bands[80], "upper_80": point + bands[80],
                          "lower_95": point - bands[95], "upper_95": point + bands[95]})
    if method == "seasonal_naive_trend":
        g = cands.yearly_growth(values, m)
        why += " " + t("This year runs {pct} {word} last year.", pct=percent(abs(g - 1), 0),
                       word=t("above") if g >= 1 else t("below"))
    sn = bt.table.set_index("method")["mase"].get("seasonal_naive")
    return frame, bt.table, method, why, warnings, (None if sn is None else float(sn))


def _no_negative_lows(fc: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """A band's low end stops at 0 for a level that never sold below 0 (net returns are possible, but
    a shop or country that never had a negative period will not start now)."""
    never_negative = history.groupby("level")["sales"].min() >= 0
    keep = fc["level"].map(never_negative).fillna(False).astype(bool).to_numpy()
    out = fc.copy()
    for col in ("lower_80", "lower_95"):
        out[col] = np.where(keep, out[col].clip(lower=0), out[col])
    return out


def forecast_sales(frame: pd.DataFrame, settings: ForecastSettings, customer_col: str | None = None,
                   date_col: str | None = None, amount_col: str | None = None,
                   segments: pd.Series | None = None) -> ForecastResult:
    """The shop's net sales forecast ``settings.horizon`` months or weeks ahead, chosen by backtest.

    ``segments``: optional segment name per customer id (text ids), for the by-segment breakdown.
    """
    from lib.models.forecast.parts import breakdowns

    freq = settings.freq
    lines = sales_lines(frame, freq, date_col, amount_col, customer_col)
    sales = net_sales(lines, freq)["total"]
    unit = t("months") if freq == "M" else t("weeks")
    if len(sales) < MIN_PERIODS[freq]:
        raise DataValidationError(t("The log covers {n} complete {unit} ({first} to {last}); a forecast needs at least "
                                    "{need}. Load a longer log, or forecast by week.", n=len(sales), unit=unit,
                                    first=lines.first_day.date(), last=lines.last_day.date(),
                                    need=MIN_PERIODS[freq]))
    fc, table, method, why, warnings, sn = forecast_series(sales, settings)
    if lines.unreadable:
        warnings.insert(0, t("{n:,} lines have no readable date or amount and are not in the sales.",
                             n=lines.unreadable))
    history = pd.DataFrame({"period": sales.index, "level": "total", "sales": sales.to_numpy()})
    if settings.breakdowns:
        parts_fc, parts_hist = breakdowns(frame, lines, freq, fc, method, segments)
        fc = pd.concat([fc, parts_fc], ignore_index=True)
        history = pd.concat([history, parts_hist], ignore_index=True)
    fc = _no_negative_lows(fc, history)
    label = next(c.label for c in cands.CANDIDATES if c.name == method)
    return ForecastResult(
        forecast=fc[list(FORECAST_COLUMNS)], history=history, backtest=table, method=method,
        method_label=label, reason=why, freq=freq, horizon=settings.horizon, history_periods=len(sales),
        seasonal_naive_mase=sn, sentence=_sentence(sales.to_numpy(), fc[fc["level"] == "total"], freq,
                                                   FREQS[freq]),
        warnings=tuple(warnings))
