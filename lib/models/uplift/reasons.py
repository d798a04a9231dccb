"""Why a customer's uplift is what it is: exact TreeSHAP of each learner turned into points of uplift per
customer and feature, the reasons in words, and which features make customers persuadable."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.models.explain import Explanation, explain, reason_codes
from lib.models.model import PropensityModel
from lib.models.uplift.learners import TREATED_FEATURE, with_arm
from lib.models.uplift.result import UpliftResult
from lib.text.i18n import t


@dataclass(frozen=True)
class UpliftExplanation:
    """Per customer and feature, the feature's share of the customer's uplift in probability points
    (x100). Each row adds up to the customer's uplift minus ``base_points`` (the uplift of a customer
    whose every feature contributes nothing)."""

    points: np.ndarray  # (rows, features)
    features: tuple[str, ...]
    base_points: float
    seconds: float


def _secant_points(e: Explanation, model: PropensityModel) -> tuple[np.ndarray, float]:
    """A model's exact log-odds SHAP values as probability points that add up exactly to
    ``score - score at the base value``. Each customer's values are multiplied by one factor, the slope of
    the calibrated score between the base value and the customer's own log-odds (a secant, not the
    tangent ``lib.models.explain`` uses for display), so the proportions between features stay SHAP's and the
    points add up."""
    total = e.values.astype("float64").sum(axis=1)
    p = model.calibrate(e.base_value + total)
    p_base = float(model.calibrate(np.array([e.base_value]))[0])
    a = model.platt_[0]
    tangent = a * p * (1 - p)
    slope = np.where(np.abs(total) > 1e-9, (p - p_base) / np.where(np.abs(total) > 1e-9, total, 1.0), tangent)
    return e.values.astype("float64") * slope[:, None] * 100, 100 * p_base


def explain_uplift(result: UpliftResult, frame: pd.DataFrame) -> UpliftExplanation:
    """Exact TreeSHAP of each learner, turned into points of uplift per customer and feature.

    t-learner: each model's SHAP values become probability points (see ``_secant_points``); a feature's
    points of uplift are its points in the treated model minus its points in the control model, so a
    customer's points add up to (p_treated - p_control) minus the base uplift. s-learner: the one model is
    explained with the arm set to "sent" and to "not sent" and the points subtracted the same way; the
    arm's own points are the campaign's common effect and are not a customer reason. x- and dr-learner:
    their effect models predict the uplift itself, so their exact SHAP values (times each model's weight)
    are already points of uplift and add up to it exactly.
    """
    t0 = time.perf_counter()
    feats = list(result.features)
    x = frame[feats]
    if result.method in ("x-learner", "dr-learner"):
        parts = [result.learners[n] for n in ("tau_treated", "tau_control", "effect") if n in result.learners]
        shaps = [(explain(m, x), m.weight) for m in parts]
        points = sum(100 * w * e.values.astype("float64") for e, w in shaps)
        return UpliftExplanation(points=points.astype(np.float32), features=tuple(feats),
                                 base_points=sum(100 * w * e.base_value for e, w in shaps),
                                 seconds=time.perf_counter() - t0)
    if result.method == "t-learner":
        m1, m0 = result.learners["treated"], result.learners["control"]
        pts1, b1 = _secant_points(explain(m1, x), m1)
        pts0, b0 = _secant_points(explain(m0, x), m0)
    else:
        m = result.learners["single"]
        pts1, b1 = _secant_points(explain(m, with_arm(x, 1)), m)
        pts0, b0 = _secant_points(explain(m, with_arm(x, 0)), m)
        keep = [i for i, f in enumerate(m.features) if f != TREATED_FEATURE]
        pts1, pts0 = pts1[:, keep], pts0[:, keep]
    return UpliftExplanation(points=(pts1 - pts0).astype(np.float32), features=tuple(feats), base_points=b1 - b0,
                             seconds=time.perf_counter() - t0)


def uplift_reasons(result: UpliftResult, frame: pd.DataFrame, top: int = 3,
                   explanation: UpliftExplanation | None = None) -> pd.DataFrame:
    """reason_1..3 per customer, in the propensity reasons' words: "age: 27 (+3.1 pts of uplift)".

    For a customer with more uplift than the base, the features raising it most; with less, the ones
    lowering it most (why contacting them does little or harm)."""
    ex = explanation if explanation is not None else explain_uplift(result, frame)
    pts = ex.points
    direction = np.where(pts.sum(axis=1) >= 0, 1.0, -1.0).astype(np.float32)
    # Effects that round to 0.0 pts are no reason to show.
    ranked_values = np.where(np.abs(pts) >= 0.05, pts * direction[:, None], 0.0).astype(np.float32)
    ranked = Explanation(values=ranked_values, features=ex.features, base_value=0.0, method="uplift",
                         seconds=ex.seconds, points=pts)
    reasons = reason_codes(ranked, frame[list(ex.features)], top=top)
    # The end of a reason ("(+3.1 pts)") says what the points are of, in the reasons' language.
    ending, of_uplift = re.escape(t(" pts)")) + "$", t(" pts of uplift)")
    for c in reasons.columns:
        reasons[c] = reasons[c].str.replace(ending, of_uplift, regex=True)
    reasons.index = frame.index
    return reasons


def persuadable_importance(result: UpliftResult, frame: pd.DataFrame,
                           explanation: UpliftExplanation | None = None) -> pd.DataFrame:
    """Who is persuadable: mean |points of uplift| per feature over ``frame``, largest first, and the mean
    signed points (near 0: the feature raises uplift for some customers and lowers it for others)."""
    ex = explanation if explanation is not None else explain_uplift(result, frame)
    return (
        pd.DataFrame({"feature": ex.features, "mean_abs_uplift_pts": np.abs(ex.points).mean(axis=0),
                      "mean_uplift_pts": ex.points.mean(axis=0)})
        .sort_values("mean_abs_uplift_pts", ascending=False, kind="stable")
        .reset_index(drop=True)
    )
