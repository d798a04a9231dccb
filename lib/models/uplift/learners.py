"""The two ways uplift is learned, each from ``lib.models.model.PropensityModel`` learners (the same
encoding, XGBoost settings and Platt calibration as the propensity model, so each is calibrated,
explainable and saved the same way):

- ``t-learner``: two models, one on the treated customers and one on the control group; the uplift is
  the difference of their calibrated probabilities.
- ``s-learner``: one model on everyone with the arm as an extra input; the uplift is its probability with
  the arm set to "sent" minus with it set to "not sent".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lib.errors import DataValidationError
from lib.models.model import PropensityModel
from lib.models.propensity import scale_pos_weight
from lib.text.i18n import t

LEARNERS = {"t": "t-learner", "s": "s-learner"}
TREATED_FEATURE = "__treated__"  # the arm as the S-learner's extra input (never a user column)


def with_arm(x: pd.DataFrame, arm: int | np.ndarray) -> pd.DataFrame:
    """``x`` with the S-learner's arm input set to ``arm`` (1 = sent, 0 = not sent)."""
    return x.assign(**{TREATED_FEATURE: arm})


def score_uplift(method: str, learners: dict, frame: pd.DataFrame) -> pd.DataFrame:
    """p_treated, p_control and uplift for every row of ``frame`` from fitted (or loaded) learners:
    ``{"treated", "control"}`` for the t-learner, ``{"single"}`` for the s-learner."""
    if method == "t-learner":
        p1 = learners["treated"].predict_proba(frame)[:, 1]
        p0 = learners["control"].predict_proba(frame)[:, 1]
    elif method == "s-learner":
        p1 = learners["single"].predict_proba(with_arm(frame, 1))[:, 1]
        p0 = learners["single"].predict_proba(with_arm(frame, 0))[:, 1]
    else:
        raise DataValidationError(t("Unknown uplift method '{method}': use one of {items}.", method=method, items=', '.join(LEARNERS.values())))
    return pd.DataFrame({"uplift": p1 - p0, "p_treated": p1, "p_control": p0}, index=frame.index)


def fit_learner(method: str, x: pd.DataFrame, y: np.ndarray, treated: np.ndarray, fit_idx: np.ndarray,
                val_idx: np.ndarray, feats: tuple[str, ...], seed: int, reference: pd.DataFrame) -> dict:
    """The learners of ``method``, fitted on rows ``fit_idx`` of ``x`` with early stopping and calibration
    on rows ``val_idx``; ``treated`` is each row's arm (1/0). Rare positives are up-weighted as in the
    propensity model (``scale_pos_weight``). Dates count back from the latest date in ``reference``."""
    if method == "t-learner":
        out = {}
        for name, arm in (("treated", 1), ("control", 0)):
            f, v = fit_idx[treated[fit_idx] == arm], val_idx[treated[val_idx] == arm]
            out[name] = PropensityModel(feats, seed, scale_pos_weight(y[f])).fit(
                x.iloc[f], y[f], eval_set=(x.iloc[v], y[v]), reference=reference)
        return out
    xs = with_arm(x, treated)
    model = PropensityModel((*feats, TREATED_FEATURE), seed, scale_pos_weight(y[fit_idx])).fit(
        xs.iloc[fit_idx], y[fit_idx], eval_set=(xs.iloc[val_idx], y[val_idx]), reference=reference)
    return {"single": model}
