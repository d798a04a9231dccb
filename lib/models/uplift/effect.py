"""An effect model: the user's columns in, an estimated uplift (in outcome-rate units) out.

The X- and DR-learners end by regressing a per-customer effect they imputed (``learners``) on the
customer's columns. ``EffectModel`` is that regression: the propensity model's own encoding
(``lib.models.model.FrameEncoder`` + one-hot) and an XGBoost *regressor* with the same depth-4 trees and
early stopping, so it is explained by the same exact TreeSHAP and saved the same way, as XGBoost's own
JSON (never a serialised Python object).

``weight`` scales the prediction: the X-learner's uplift is ``e * tau_control + (1 - e) * tau_treated``
(``e`` the treated share), so each of its two effect models carries its weight and the uplift is their
sum; the DR-learner's one effect model has weight 1.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
from xgboost import XGBRegressor

from lib.models.model import XGB_PARAMS, FrameEncoder, PropensityModel, _fitted_one_hot

# Imputed effects are noisy (a rare outcome makes most of them tiny and a few near ±1): leaves need more
# customers than the classifier's, or the trees chase single responders.
EFFECT_PARAMS = {**XGB_PARAMS, "eval_metric": "rmse", "objective": "reg:squarederror", "min_child_weight": 50}


class EffectModel(PropensityModel):
    """Frame encoding + one-hot + an XGBoost regressor of an imputed effect, times ``weight``.

    It has ``PropensityModel``'s face (features, ``encode``, ``booster_``, ``rebase_dates``, ``to_state``) so
    the model file, the date rebasing and TreeSHAP treat it alike; ``predict`` gives the weighted effect."""

    algorithm = "xgboost-effect"

    def __init__(self, features: tuple[str, ...] = (), seed: int = 42, weight: float = 1.0):
        self.features = features
        self.seed = seed
        self.weight = weight
        self.scale_pos_weight = 1.0

    def fit(self, X: pd.DataFrame, d, eval_set: tuple[pd.DataFrame, np.ndarray] | None = None,
            reference: pd.DataFrame | None = None) -> EffectModel:
        """Regress the imputed effect ``d`` on ``X``; ``eval_set`` stops the boosting early."""
        self.frame_encoder_ = FrameEncoder(tuple(self.features)).fit(X, reference=reference)
        self.one_hot_ = _fitted_one_hot(self.frame_encoder_.specs_)
        xv, dv = eval_set
        booster = XGBRegressor(**EFFECT_PARAMS, random_state=self.seed)
        booster.fit(self.encode(X), np.asarray(d, dtype="float64"),
                    eval_set=[(self.encode(xv), np.asarray(dv, dtype="float64"))], verbose=False)
        self.best_iteration_ = int(booster.best_iteration)
        self.booster_ = _load_regressor(booster.get_booster()[: self.best_iteration_ + 1].save_raw("json"))
        self.platt_ = (1.0, 0.0)
        return self

    def refit(self, X: pd.DataFrame, d, reference: pd.DataFrame | None = None) -> EffectModel:
        """A copy trained again on ``X`` (every labelled row) with the number of trees early stopping found."""
        model = copy.copy(self)
        model.frame_encoder_ = FrameEncoder(tuple(self.features)).fit(X, reference=reference)
        model.one_hot_ = _fitted_one_hot(model.frame_encoder_.specs_)
        params = {**EFFECT_PARAMS, "n_estimators": self.best_iteration_ + 1, "early_stopping_rounds": None}
        booster = XGBRegressor(**params, random_state=self.seed)
        booster.fit(model.encode(X), np.asarray(d, dtype="float64"), verbose=False)
        model.booster_ = _load_regressor(booster.get_booster().save_raw("json"))
        return model

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The weighted effect for every row (its share of the uplift)."""
        return self.weight * self.decision_function(X)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        raise TypeError("an effect model predicts an effect, not a probability: use predict")

    def to_state(self) -> tuple[dict, bytes]:
        state = {"kind": "effect", "features": list(self.features), "seed": int(self.seed),
                 "weight": float(self.weight), "columns": [s.to_dict() for s in self.column_specs],
                 "best_iteration": self.best_iteration_}
        return state, bytes(self.booster_.get_booster().save_raw("json"))

    @classmethod
    def from_state(cls, state: dict, booster_json: bytes) -> EffectModel:
        from lib.models.model import ColumnSpec

        model = cls(tuple(state["features"]), int(state["seed"]), float(state["weight"]))
        enc = FrameEncoder(tuple(state["features"]))
        enc.specs_ = tuple(ColumnSpec.from_dict(c) for c in state["columns"])
        model.frame_encoder_ = enc
        model.one_hot_ = _fitted_one_hot(enc.specs_)
        model.booster_ = _load_regressor(booster_json)
        model.best_iteration_ = int(state["best_iteration"])
        model.platt_ = (1.0, 0.0)
        return model


def _load_regressor(raw: bytes | bytearray) -> XGBRegressor:
    model = XGBRegressor()
    model.load_model(bytearray(raw))
    model.set_params(n_jobs=XGB_PARAMS["n_jobs"])
    return model
