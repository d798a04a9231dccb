"""Qini and AUUC, as scikit-uplift defines them, and the holdout's Qini curve for a chart.

Reimplemented from scikit-uplift 0.5 (sklift/metrics/metrics.py: qini_curve, perfect_qini_curve with
negative_effect=True, qini_auc_score, uplift_curve, perfect_uplift_curve, uplift_auc_score), because
sklift's plotting module no longer imports with current scikit-learn (tests/test_uplift.py checks the
numbers against sklift's to 1e-12). Customers are sorted by predicted uplift, best first, and the curves
are read at the last row of each run of tied scores:
  Qini(k)   = Y_T(k) - Y_C(k) * N_T(k) / N_C(k)           (extra responders among the top k)
  uplift(k) = (Y_T(k) / N_T(k) - Y_C(k) / N_C(k)) * N(k)
Normalised score = (area(model) - area(diagonal)) / (area(perfect) - area(diagonal)), where the
diagonal runs from (0, 0) to the perfect curve's end. Optional weights (bootstrap counts) generalise
every count to a weighted sum; with unit weights the numbers are scikit-uplift's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def ordering(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows best first (as sklift: a stable ascending sort, reversed) and the last index of each tie run."""
    order = np.argsort(score, kind="mergesort")[::-1]
    s = score[order]
    ends = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    return order, ends


def _area(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.trapezoid(y, x))


def _normalised(actual: float, x_end: float, y_end: float, perfect: float) -> float:
    baseline = x_end * y_end / 2
    denom = perfect - baseline
    return float((actual - baseline) / denom) if denom != 0 else 0.0


def _curve_counts(y, t, w, order, ends):
    w = np.ones(len(y)) if w is None else w
    ys, ts, ws = y[order], t[order], w[order]
    n_t = np.cumsum(ws * ts)[ends]
    y_t = np.cumsum(ws * ys * ts)[ends]
    n_all = np.cumsum(ws)[ends]
    y_c = np.cumsum(ws * ys * (1 - ts))[ends]
    return n_t, y_t, n_all - n_t, y_c, n_all


def _qini_points(y, t, w, order, ends) -> tuple[np.ndarray, np.ndarray]:
    n_t, y_t, n_c, y_c, n_all = _curve_counts(y, t, w, order, ends)
    ratio = np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c != 0)
    return np.r_[0.0, n_all], np.r_[0.0, y_t - y_c * ratio]


def _uplift_points(y, t, w, order, ends) -> tuple[np.ndarray, np.ndarray]:
    n_t, y_t, n_c, y_c, n_all = _curve_counts(y, t, w, order, ends)
    rate_t = np.divide(y_t, n_t, out=np.zeros_like(y_t), where=n_t != 0)
    rate_c = np.divide(y_c, n_c, out=np.zeros_like(y_c), where=n_c != 0)
    return np.r_[0.0, n_all], np.r_[0.0, (rate_t - rate_c) * n_all]


def _perfect_qini_area(y, t, w=None) -> tuple[float, float, float]:
    """(area, end x, end y) of sklift's perfect Qini curve (negative_effect=True), without sorting: its
    score y*t - y*(1-t) puts treated responders first, then every non-responder, then control
    responders, so the curve has four points."""
    w = np.ones(len(y)) if w is None else w
    a = float(np.sum(w * y * t))  # treated responders
    m = float(np.sum(w * (1 - y)))  # non-responders
    c = float(np.sum(w * y * (1 - t)))  # control responders
    n_t, n_c = float(np.sum(w * t)), float(np.sum(w * (1 - t)))
    end = a - (c * n_t / n_c if n_c else 0.0)
    x = np.array([0.0, a, a + m, a + m + c])
    v = np.array([0.0, a, a, end])
    return _area(x, v), float(x[-1]), end


def qini_score(y, uplift, t, w=None, order=None) -> float:
    """Normalised Qini coefficient (scikit-uplift's ``qini_auc_score``, negative_effect=True): 0 for a
    random ranking, 1 for the perfect one."""
    y, t = np.asarray(y, dtype="float64"), np.asarray(t, dtype="float64")
    order, ends = order if order is not None else ordering(np.asarray(uplift, dtype="float64"))
    x, q = _qini_points(y, t, w, order, ends)
    perfect, x_end, y_end = _perfect_qini_area(y, t, w)
    return _normalised(_area(x, q), x_end, y_end, perfect)


def auuc_score(y, uplift, t) -> float:
    """Normalised area under the uplift curve (scikit-uplift's ``uplift_auc_score``)."""
    y, t = np.asarray(y, dtype="float64"), np.asarray(t, dtype="float64")
    x, u = _uplift_points(y, t, None, *ordering(np.asarray(uplift, dtype="float64")))
    # sklift's perfect uplift ranking: the summand breaks ties in favour of the larger mistake group.
    control_responders = np.sum((y == 1) & (t == 0))
    treated_non_responders = np.sum((y == 0) & (t == 1))
    summand = y if control_responders > treated_non_responders else t
    px, pu = _uplift_points(y, t, None, *ordering(2.0 * (y == t) + summand))
    return _normalised(_area(x, u), px[-1], pu[-1], _area(px, pu))


def qini_curve_table(y: np.ndarray, t: np.ndarray, uplift: np.ndarray, points: int = 101) -> pd.DataFrame:
    """The holdout's Qini curve for a chart: extra responders from targeting the top share by uplift,
    against random targeting (the diagonal) and the perfect ranking."""
    x, q = _qini_points(y.astype(float), t.astype(float), None, *ordering(uplift))
    share = np.linspace(0, 1, points)
    n = len(y)
    model = np.interp(share * n, x, q)
    a = float(np.sum(y * t))
    m = float(np.sum(1 - y))
    c = float(np.sum(y * (1 - t)))
    end = a - (c * t.sum() / (n - t.sum()) if n > t.sum() else 0.0)
    perfect = np.interp(share * n, [0.0, a, a + m, n], [0.0, a, a, end])
    return pd.DataFrame({"share_targeted": share, "model": model, "random": share * q[-1], "perfect": perfect})

