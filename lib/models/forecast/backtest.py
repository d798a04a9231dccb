"""Rolling-origin backtest: every candidate is fitted on the history up to an origin and judged on
the periods after it, for the latest origins the history allows. Bands come from the same misses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.models.forecast.candidates import Candidate

Z = {80: 1.2816, 95: 1.9600}  # two-sided normal quantiles


@dataclass(frozen=True)
class Backtest:
    table: pd.DataFrame  # method, mase, mae, coverage_80, coverage_95, forecasts
    errors: dict[str, np.ndarray]  # method -> origins × horizon misses (actual - forecast), NaN where unseen
    origins: tuple[int, ...]
    scale: float  # MASE denominator: in-sample mean |seasonal (or one-step) change|
    scale_by: str  # "seasonal_naive" or "naive"


def mase_scale(y: np.ndarray, m: int) -> tuple[float, str]:
    """Hyndman's MASE denominator: the history's mean miss of the seasonal naive forecast (a year
    needed), else of the naive one. A flat history gets 1 so the ratio stays finite."""
    lag, by = (m, "seasonal_naive") if len(y) > m else (1, "naive")
    d = np.abs(y[lag:] - y[:-lag]) if len(y) > lag else np.array([])
    s = float(d.mean()) if len(d) else 0.0
    return (s if s > 0 else 1.0), by


def half_widths(sigma: np.ndarray, past_errors: np.ndarray, level: int) -> np.ndarray:
    """Half-width of the band per step: the method's own spread, or the backtest's misses at that step
    (their ``level`` quantile), whichever is wider; steps the backtest never reached get the widest
    miss seen, grown with the square root of the step."""
    width = Z[level] * np.asarray(sigma, dtype="float64")
    if past_errors.size == 0:
        return width
    h = len(width)
    miss = np.full(h, np.nan)
    for k in range(min(h, past_errors.shape[1])):
        e = np.abs(past_errors[:, k])
        e = e[np.isfinite(e)]
        if len(e) >= 3:
            miss[k] = np.quantile(e, level / 100, method="higher")
    seen = np.flatnonzero(np.isfinite(miss))
    if len(seen):
        last = seen[-1]
        tail = np.arange(last + 1, h)
        miss[tail] = np.nanmax(miss) * np.sqrt((tail + 1) / (last + 1))
        width = np.fmax(width, np.nan_to_num(miss, nan=0.0))
    return width


def run_backtest(y: np.ndarray, h: int, m: int, candidates: tuple[Candidate, ...], max_origins: int,
                 widen: float = 1.0) -> Backtest:
    """Fit every candidate at each of the latest origins (same origins for all, so the MASE compare
    like with like) and score the misses and how often the 80%/95% bands held the real value.

    The band at an origin uses only misses already observed by then: the coverage is what a user of
    the forecast would have seen, not a fit to the answers."""
    n = len(y)
    first = max(c.min_history(m) for c in candidates)
    origins = tuple(range(max(first, n - max_origins), n))
    scale, scale_by = mase_scale(y, m)
    rows, errors = [], {}
    for c in candidates:
        err = np.full((len(origins), h), np.nan)
        inside = {80: [], 95: []}
        for i, o in enumerate(origins):
            steps = min(h, n - o)
            point, sigma = c.run(y[:o], h, m)
            err[i, :steps] = y[o:o + steps] - point[:steps]
            seen = _observed(err[:i], origins[:i], o)
            for level in (80, 95):
                w = half_widths(sigma, seen, level) * widen
                inside[level] += list(np.abs(err[i, :steps]) <= w[:steps])
        errors[c.name] = err
        mae = float(np.nanmean(np.abs(err))) if len(origins) else np.nan
        rows.append({"method": c.name, "mase": mae / scale, "mae": mae,
                     "coverage_80": float(np.mean(inside[80])) if inside[80] else np.nan,
                     "coverage_95": float(np.mean(inside[95])) if inside[95] else np.nan,
                     "forecasts": int(np.isfinite(err).sum())})
    return Backtest(pd.DataFrame(rows), errors, origins, scale, scale_by)


def _observed(err: np.ndarray, origins: tuple[int, ...], now: int) -> np.ndarray:
    """The misses of earlier origins whose actual period had happened by ``now``."""
    if not len(origins):
        return np.empty((0, err.shape[1] if err.ndim == 2 else 0))
    out = err.copy()
    steps = np.arange(err.shape[1])
    for i, o in enumerate(origins):
        out[i, o + steps >= now] = np.nan
    return out
