"""XGBoost trained out of time: features at earlier cutoffs, labels from the H days after each, so the model
learns from the log's own history what "the next H days" look like."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb

from lib.models.value.activity import Activity, actual_spend
from lib.models.value.features import Prediction, _run_rate, value_features
from lib.models.value.settings import (
    EARLY_STOP,
    MAX_TRAINING_ROWS,
    MAX_TREES,
    MIN_HISTORY_DAYS,
    TWEEDIE_POWER,
    XGB_VALUE_PARAMS,
)


@dataclass(frozen=True)
class BoostedFit:
    """The out-of-time models and the facts their explanations need. Each model is a native XGBoost
    ``Booster`` cut at its early-stopping tree (``trees``)."""

    buy: xgb.Booster  # P(buys in the next H days), logistic
    spend: xgb.Booster  # spend in the next H days, Tweedie (log link)
    orders: xgb.Booster  # orders in the next H days, Poisson (log link)
    trees: dict[str, int]
    training_rows: int
    training_cutoffs: int
    features: pd.DataFrame  # at the cutoff it is applied to, one row per customer (index: code)

    def predict(self, model: str, features: pd.DataFrame | None = None, **kwargs) -> np.ndarray:
        f = self.features if features is None else features
        booster = getattr(self, model)
        return booster.predict(xgb.DMatrix(f.to_numpy(dtype="float32")), iteration_range=(0, self.trees[model]),
                               **kwargs)


def _training_cutoffs(end: int, horizon: int) -> list[int]:
    """Cutoffs whose H-day label window ends by ``end``: the latest first, then every H/2 days (at least
    30) back over a year, so the season a year ago is among the examples when the log reaches back."""
    step = max(30, horizon // 2)
    n = int(math.ceil(365 / step))
    return [c for c in (end - horizon - k * step for k in range(n)) if c >= MIN_HISTORY_DAYS]


def _train(params: dict, X: np.ndarray, y: np.ndarray, valid: np.ndarray, seed: int) -> tuple[xgb.Booster, int]:
    """One booster, early-stopped on the held-out customers. The native API: the scikit-learn wrapper
    costs about half again as much per tree on these small tables."""
    train = xgb.DMatrix(X[~valid], label=y[~valid])
    held = xgb.DMatrix(X[valid], label=y[valid])
    booster = xgb.train({**XGB_VALUE_PARAMS, **params, "seed": seed}, train, num_boost_round=MAX_TREES,
                        evals=[(held, "held")], early_stopping_rounds=EARLY_STOP, verbose_eval=False)
    return booster, int(booster.best_iteration) + 1


def fit_boosted(act: Activity, horizon: int, seed: int, max_rows: int = MAX_TRAINING_ROWS) -> BoostedFit | None:
    """Train on examples built inside ``act``: features at each training cutoff, labels from the H days
    after it, all before ``act.end_day``. None when the log is too short for enough examples."""
    cutoffs = _training_cutoffs(act.end_day, horizon)
    if not cutoffs:
        return None
    rng = np.random.default_rng(seed)
    per_cutoff = max(1000, max_rows // len(cutoffs))
    parts, spend, bought, orders, groups = [], [], [], [], []
    d = act.daily
    day, cust, n_orders = d["day"].to_numpy(), d["cust"].to_numpy(), d["orders"].to_numpy()
    for c in cutoffs:
        f = value_features(act.before(c), horizon)
        if len(f) > per_cutoff:
            # Large logs: a random sample of customers per cutoff keeps training time bounded.
            f = f.iloc[np.sort(rng.choice(len(f), per_cutoff, replace=False))]
        y, b = actual_spend(act, c, horizon)
        w = (day >= c) & (day < c + horizon)
        n = np.bincount(cust[w], weights=n_orders[w], minlength=len(act.ids))
        codes = f.index.to_numpy()
        parts.append(f)
        spend.append(y[codes])
        bought.append(b[codes])
        orders.append(n[codes])
        groups.append(codes)
    X = pd.concat(parts, ignore_index=True).to_numpy(dtype="float32")
    y_spend, y_buy, y_orders = np.concatenate(spend), np.concatenate(bought), np.concatenate(orders)
    group = np.concatenate(groups)
    if y_buy.sum() < 20 or (~y_buy).sum() < 20:
        return None
    # Early stopping on a fifth of the customers (all their cutoffs together, so none leaks across).
    uniq = np.unique(group)
    valid = np.isin(group, rng.choice(uniq, size=max(1, len(uniq) // 5), replace=False))
    buy, n_buy = _train({"objective": "binary:logistic", "eval_metric": "logloss"}, X, y_buy.astype("float32"),
                        valid, seed)
    value, n_value = _train({"objective": "reg:tweedie", "tweedie_variance_power": TWEEDIE_POWER}, X, y_spend,
                            valid, seed)
    count, n_count = _train({"objective": "count:poisson"}, X, y_orders, valid, seed)
    return BoostedFit(buy, value, count, {"buy": n_buy, "spend": n_value, "orders": n_count}, len(X), len(cutoffs),
                      value_features(act, horizon))


def hurdle_scale(fit: BoostedFit, cutoff: int, horizon: int) -> float:
    """The hurdle takes its ranking from P(buy) × run rate and its total from the Tweedie regressor, which
    learned out of time how a window's spend relates to the customers' history."""
    base = float((fit.predict("buy") * _run_rate(fit.features, cutoff, horizon)).sum())
    return float(fit.predict("spend").sum() / base) if base > 0 else 0.0


def predict_boosted(fit: BoostedFit, horizon: int, cutoff: int) -> dict[str, Prediction]:
    """Both boosted answers at ``cutoff``: ``boosted`` (the Tweedie regressor's spend) and ``hurdle`` (the
    chance of buying × the customer's run rate). They share the chance of buying and the orders."""
    p = fit.predict("buy")
    orders = fit.predict("orders")
    spend = fit.predict("spend")
    hurdle = p * _run_rate(fit.features, cutoff, horizon) * hurdle_scale(fit, cutoff, horizon)
    codes = fit.features.index.to_numpy()
    return {
        "boosted": Prediction(codes, p, orders, spend, 1 - p),
        "hurdle": Prediction(codes, p, orders, hurdle, 1 - p),
    }
