"""The forecasting methods a backtest chooses between. Each takes the history ``y`` (oldest first),
the horizon ``h`` and the season length ``m`` and returns (point forecast, one-sigma spread per step).

Holt-Winters is our own (additive, damped trend, parameters by least squares on one-step errors):
statsforecast 2.1.1 (Nixtla) requires pandas < 3 and we run pandas 3.1; statsmodels 0.15 would add
patsy and formulaic to every install for this one model. The method is the textbook one
(Hyndman & Athanasopoulos, FPP3 §8.3), small enough to read whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

Forecaster = Callable[[np.ndarray, int, int], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Candidate:
    name: str  # report.json / backtest table name
    label: str  # what the page says (English; shown through t())
    min_history: Callable[[int], int]  # periods needed, given the season length
    run: Forecaster


def _spread(resid: np.ndarray) -> float:
    resid = resid[np.isfinite(resid)]
    return float(np.sqrt(np.mean(resid ** 2))) if len(resid) else 0.0


def seasonal_naive(y: np.ndarray, h: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Each period as it was a year before (the baseline retail forecasts must beat)."""
    steps = np.arange(h)
    point = y[len(y) - m + steps % m]
    if len(y) >= m + 3:
        return point, _spread(y[m:] - y[:-m]) * np.sqrt(steps // m + 1)
    # No year-on-year change seen yet: the period-to-period variation stands in for it.
    return point, _spread(np.diff(y)) * np.sqrt(steps + 1)


def yearly_growth(y: np.ndarray, m: int) -> float:
    """Sales of the latest periods over the same periods a year before (up to a year of overlap);
    1 when under three periods overlap or the year before sold nothing."""
    overlap = min(len(y) - m, m)
    if overlap < 3:
        return 1.0
    before = y[len(y) - m - overlap:len(y) - m].sum()
    now = y[len(y) - overlap:].sum()
    return float(now / before) if before > 0 and now > 0 else 1.0


def seasonal_naive_trend(y: np.ndarray, h: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Last year's same period × this year's growth over last year (the stated trend)."""
    point, sigma = seasonal_naive(y, h, m)
    g = yearly_growth(y, m)
    return point * g, sigma * max(g, 1.0)


def naive(y: np.ndarray, h: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Every future period like the last one."""
    steps = np.arange(1, h + 1)
    return np.repeat(y[-1], h).astype("float64"), _spread(np.diff(y)) * np.sqrt(steps)


def drift(y: np.ndarray, h: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The last period plus the average change per period so far (a straight trend)."""
    steps = np.arange(1, h + 1)
    n = len(y)
    slope = (y[-1] - y[0]) / (n - 1)
    sigma = _spread(np.diff(y) - slope) * np.sqrt(steps * (1 + steps / n))
    return y[-1] + slope * steps, sigma


def _hw_filter(params: np.ndarray, y: np.ndarray, m: int) -> tuple[np.ndarray, float, float, np.ndarray]:
    """One pass of additive damped Holt-Winters: one-step errors, final level, trend and seasonals."""
    alpha, beta, gamma, phi = params
    level = y[:m].mean()
    trend = (y[m:2 * m].mean() - y[:m].mean()) / m
    season = list(y[:m] - level)
    errors = np.empty(len(y) - m)
    for i, t in enumerate(range(m, len(y))):
        s = season[t - m]
        fit = level + phi * trend + s
        errors[i] = y[t] - fit
        new_level = alpha * (y[t] - s) + (1 - alpha) * (level + phi * trend)
        trend = beta * (new_level - level) + (1 - beta) * phi * trend
        season.append(gamma * (y[t] - new_level) + (1 - gamma) * s)
        level = new_level
    return errors, level, trend, np.array(season[-m:])


def holt_winters(y: np.ndarray, h: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Additive Holt-Winters with a damped trend, smoothing weights fitted by least squares."""
    y = np.asarray(y, dtype="float64")
    scale = float(np.mean(np.abs(y))) or 1.0
    z = y / scale  # fit on a unit scale so the optimiser's tolerances mean the same on any currency

    def sse(p: np.ndarray) -> float:
        return float(np.sum(_hw_filter(p, z, m)[0][m:] ** 2))  # skip the first season: it set the start

    start = np.array([0.3, 0.05, 0.1, 0.95])
    bounds = [(0.01, 0.99), (0.0, 0.5), (0.0, 0.99), (0.8, 0.98)]
    best = minimize(sse, start, method="L-BFGS-B", bounds=bounds, options={"maxiter": 200})
    errors, level, trend, season = _hw_filter(best.x, z, m)
    steps = np.arange(1, h + 1)
    phi = best.x[3]
    damp = np.cumsum(phi ** steps)
    point = level + damp * trend + season[(steps - 1) % m]
    alpha, gamma = best.x[0], best.x[2]
    # Variance grows with the horizon as the level (and a season later the seasonals) drift (FPP3 table 8.8).
    growth = 1 + (steps - 1) * alpha ** 2 + (steps > m) * gamma * (2 * alpha + gamma)
    sigma = _spread(errors[m:] if len(errors) > m else errors) * np.sqrt(growth)
    return point * scale, sigma * scale


SEASONAL_NAIVE = Candidate("seasonal_naive", "same period last year", lambda m: m, seasonal_naive)
SEASONAL_NAIVE_TREND = Candidate("seasonal_naive_trend", "same period last year × this year's growth",
                                 lambda m: m + 3, seasonal_naive_trend)
NAIVE = Candidate("naive", "like the last period", lambda m: 2, naive)
DRIFT = Candidate("drift", "the last period plus the trend so far", lambda m: 3, drift)
HOLT_WINTERS = Candidate("holt_winters", "seasonal exponential smoothing (Holt-Winters, damped trend)",
                         lambda m: 2 * m + 2, holt_winters)
CANDIDATES = (SEASONAL_NAIVE, SEASONAL_NAIVE_TREND, NAIVE, DRIFT, HOLT_WINTERS)
METHOD_LABELS = {c.name: c.label for c in CANDIDATES}  # what a page says for each method (through t())
