"""The ways uplift is learned. Every outcome model is a ``lib.models.model.PropensityModel`` (the same
encoding, XGBoost settings and Platt calibration as the propensity model, so each is calibrated,
explainable and saved the same way); every effect model an ``EffectModel`` (the same, as a regressor).

- ``t-learner``: two models, one on the treated customers and one on the control group; the uplift is
  the difference of their calibrated probabilities.
- ``s-learner``: one model on everyone with the arm as an extra input; the uplift is its probability with
  the arm set to "sent" minus with it set to "not sent".
- ``x-learner`` (Künzel et al. 2019): starts from the t-learner's two models and imputes each customer's
  effect from the *other* arm's model (treated: outcome − p_control; control: p_treated − outcome); one
  effect model per arm learns those, and the uplift is their mix weighted by the treated share ``e``:
  ``e × tau_control + (1 − e) × tau_treated`` (the arm with more customers has the better outcome model,
  so the other arm's imputations are the better ones).
- ``dr-learner`` (Kennedy 2023): the doubly robust pseudo-outcome
  ``p_t − p_c + T (y − p_t) / e − (1 − T)(y − p_c) / (1 − e)`` of every customer, learned by one effect
  model. ``e`` is the treated share: the control group was chosen at random, so it is known. The outcome
  models are the t-learner's, fitted on the same rows (no cross-fitting: that would double the fits; the
  holdout Qini judges whether this learner earns its place).

For the x- and dr-learner ``uplift`` is their effect model's estimate and ``p_treated`` / ``p_control``
are the outcome models they start from, so ``uplift`` is close to, not exactly, their difference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lib.errors import DataValidationError
from lib.models.model import PropensityModel
from lib.models.propensity import scale_pos_weight
from lib.models.uplift.effect import EffectModel
from lib.text.i18n import t

LEARNERS = {"t": "t-learner", "s": "s-learner", "x": "x-learner", "dr": "dr-learner"}
TREATED_FEATURE = "__treated__"  # the arm as the S-learner's extra input (never a user column)
# Which fitted models each learner is made of (the model file's member names: uplift_<name>.json).
PARTS = {"t-learner": ("treated", "control"), "s-learner": ("single",),
         "x-learner": ("treated", "control", "tau_treated", "tau_control"),
         "dr-learner": ("treated", "control", "effect")}


def with_arm(x: pd.DataFrame, arm: int | np.ndarray) -> pd.DataFrame:
    """``x`` with the S-learner's arm input set to ``arm`` (1 = sent, 0 = not sent)."""
    return x.assign(**{TREATED_FEATURE: arm})


def score_uplift(method: str, learners: dict, frame: pd.DataFrame) -> pd.DataFrame:
    """p_treated, p_control and uplift for every row of ``frame`` from fitted (or loaded) learners
    (``PARTS[method]``)."""
    if method not in PARTS:
        raise DataValidationError(t("Unknown uplift method '{method}': use one of {items}.", method=method, items=', '.join(LEARNERS.values())))
    if method == "s-learner":
        p1 = learners["single"].predict_proba(with_arm(frame, 1))[:, 1]
        p0 = learners["single"].predict_proba(with_arm(frame, 0))[:, 1]
    else:
        p1 = learners["treated"].predict_proba(frame)[:, 1]
        p0 = learners["control"].predict_proba(frame)[:, 1]
    if method == "x-learner":
        uplift = learners["tau_treated"].predict(frame) + learners["tau_control"].predict(frame)
    elif method == "dr-learner":
        uplift = learners["effect"].predict(frame)
    else:
        uplift = p1 - p0
    return pd.DataFrame({"uplift": uplift, "p_treated": p1, "p_control": p0}, index=frame.index)


def learner_from_state(state: dict, payload: bytes) -> PropensityModel:
    """A saved uplift model part (XGBoost JSON): an effect model or an outcome model."""
    if state.get("kind") == "effect":
        return EffectModel.from_state(state, payload)
    return PropensityModel.from_state(state, payload)


def fit_learner(method: str, x: pd.DataFrame, y: np.ndarray, treated: np.ndarray, fit_idx: np.ndarray,
                val_idx: np.ndarray, feats: tuple[str, ...], seed: int, reference: pd.DataFrame,
                outcome: dict | None = None) -> dict:
    """The models of ``method``, fitted on rows ``fit_idx`` of ``x`` with early stopping (and calibration)
    on rows ``val_idx``; ``treated`` is each row's arm (1/0). Rare positives are up-weighted as in the
    propensity model (``scale_pos_weight``). Dates count back from the latest date in ``reference``.
    ``outcome``: the t-learner's fitted models, which the x- and dr-learner start from (fitted here when
    not given)."""
    if method == "s-learner":
        xs = with_arm(x, treated)
        model = PropensityModel((*feats, TREATED_FEATURE), seed, scale_pos_weight(y[fit_idx])).fit(
            xs.iloc[fit_idx], y[fit_idx], eval_set=(xs.iloc[val_idx], y[val_idx]), reference=reference)
        return {"single": model}
    if outcome is None:
        outcome = {}
        for name, arm in (("treated", 1), ("control", 0)):
            f, v = fit_idx[treated[fit_idx] == arm], val_idx[treated[val_idx] == arm]
            outcome[name] = PropensityModel(feats, seed, scale_pos_weight(y[f])).fit(
                x.iloc[f], y[f], eval_set=(x.iloc[v], y[v]), reference=reference)
    if method == "t-learner":
        return dict(outcome)
    share = float(np.mean(treated))
    d = imputed_effects(method, outcome, x, y, treated, share)
    effects = {}
    for name, rows_of, weight in _effect_parts(method, treated, share):
        f, v = rows_of(fit_idx), rows_of(val_idx)
        effects[name] = EffectModel(feats, seed, weight).fit(x.iloc[f], d[f], eval_set=(x.iloc[v], d[v]),
                                                             reference=reference)
    return {**outcome, **effects}


def refit_learner(method: str, fitted: dict, x: pd.DataFrame, y: np.ndarray, treated: np.ndarray,
                  reference: pd.DataFrame) -> dict:
    """``fitted`` trained again on every row of ``x`` (every labelled customer, once the holdout has judged
    it), each model with the number of trees its early stopping found and the calibration it had."""
    if method == "s-learner":
        return {"single": fitted["single"].refit(with_arm(x, treated), y, reference=reference)}
    outcome = {}
    for name, arm in (("treated", 1), ("control", 0)):
        rows = np.flatnonzero(treated == arm)
        outcome[name] = fitted[name].refit(x.iloc[rows], y[rows], reference=reference)
    if method == "t-learner":
        return outcome
    share = float(np.mean(treated))
    d = imputed_effects(method, outcome, x, y, treated, share)
    rows = np.arange(len(y))
    effects = {name: fitted[name].refit(x.iloc[rows_of(rows)], d[rows_of(rows)], reference=reference)
               for name, rows_of, _ in _effect_parts(method, treated, share)}
    return {**outcome, **effects}


def imputed_effects(method: str, outcome: dict, x: pd.DataFrame, y: np.ndarray, treated: np.ndarray,
                    share: float) -> np.ndarray:
    """Each customer's effect as the x-learner (from the other arm's model) or the dr-learner (the doubly
    robust pseudo-outcome) imputes it, from the outcome models ``outcome``."""
    p1 = outcome["treated"].predict_proba(x)[:, 1]
    p0 = outcome["control"].predict_proba(x)[:, 1]
    if method == "x-learner":
        return np.where(treated == 1, y - p0, p1 - y)
    return p1 - p0 + treated * (y - p1) / share - (1 - treated) * (y - p0) / (1 - share)


def _effect_parts(method: str, treated: np.ndarray, share: float) -> list:
    """(name, rows -> its rows, weight) of each effect model of ``method``."""
    if method == "x-learner":
        return [("tau_treated", lambda r: r[treated[r] == 1], 1 - share),
                ("tau_control", lambda r: r[treated[r] == 0], share)]
    return [("effect", lambda r: r, 1.0)]
