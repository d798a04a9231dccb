"""Text columns of many levels are one rated number for the trees, not 20 one-hot slots (issue 28):
each level's smoothed outcome rate in log-odds, out of fold on the training rows, saved in the model file."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from lib.models.model import MAX_CATEGORIES, RATED_SMOOTHING, FrameEncoder, PropensityModel


def _table(n: int = 20_000, levels: int = 120, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """A city column of ``levels`` levels whose effects on the log-odds are known, and a number."""
    rng = np.random.default_rng(seed)
    effect = rng.normal(0, 1.0, levels)
    city = rng.integers(0, levels, n)
    visits = rng.poisson(3, n).astype(float)
    logit = -1.0 + effect[city] + 0.2 * (visits - 3)
    p = 1 / (1 + np.exp(-logit))
    y = (rng.random(n) < p).astype(int)
    frame = pd.DataFrame({"city": [f"city_{c:03d}" for c in city], "visits": visits})
    return frame, y, p


def test_a_many_level_column_is_rated_by_its_smoothed_outcome_rate_and_unseen_levels_read_as_overall():
    frame, y, _ = _table()
    enc = FrameEncoder(("city", "visits")).fit(frame, y)
    spec = enc.specs_[0]
    assert len(spec.levels) == 120 > MAX_CATEGORIES and len(spec.rates) == 120 and not spec.one_hot and spec.text
    level = spec.levels[0]
    mine = (frame["city"] == level).to_numpy()
    prior = y.mean()
    expected = (y[mine].sum() + RATED_SMOOTHING * prior) / (mine.sum() + RATED_SMOOTHING)
    assert np.isclose(spec.rates[0], np.log(expected / (1 - expected)), atol=1e-6)
    new = pd.DataFrame({"city": [level, "city_never_seen", None], "visits": [1.0, 2.0, 3.0]})
    values = enc.transform(new)["city"].to_numpy()
    assert np.isclose(values[0], spec.rates[0], atol=1e-6)
    assert np.isclose(values[1], np.log(prior / (1 - prior)), atol=1e-6) and np.isclose(values[2], values[1])
    # Without the outcome (scoring, segments, uplift's balance check) the column stays one-hot as before.
    assert FrameEncoder(("city",)).fit(frame).specs_[0].one_hot


def test_training_rows_get_out_of_fold_rates_so_a_row_never_sees_its_own_outcome():
    frame, y, _ = _table(n=5_000)
    values = FrameEncoder(("city", "visits")).fit_transform(frame, y)["city"].to_numpy()
    flipped = y.copy()
    flipped[7] = 1 - flipped[7]
    again = FrameEncoder(("city", "visits")).fit_transform(frame, flipped)["city"].to_numpy()
    assert values[7] == again[7]  # its own label changed; its value did not
    same_level = np.flatnonzero((frame["city"] == frame["city"][7]).to_numpy())
    assert (values[same_level] != again[same_level]).any()  # other rows of its level saw the change
    in_sample = FrameEncoder(("city", "visits")).fit(frame, y).transform(frame)["city"].to_numpy()
    assert not np.allclose(values, in_sample)


def test_the_trees_learn_a_300_level_column_and_the_model_file_keeps_its_rates():
    frame, y, p = _table(n=40_000, levels=300, seed=1)
    fit, hold = np.arange(30_000), np.arange(30_000, 40_000)
    model = PropensityModel(("city", "visits"), seed=3).fit(frame.iloc[fit], y[fit])
    assert model.encoded_features == ("city", "visits")  # one column each, not 20 one-hot slots
    scores = model.predict_proba(frame.iloc[hold])[:, 1]
    best = roc_auc_score(y[hold], p[hold])
    assert roc_auc_score(y[hold], scores) > best - 0.02, (roc_auc_score(y[hold], scores), best)
    state, booster = model.to_state()  # what the model file stores: JSON and the booster's own JSON
    loaded = PropensityModel.from_state(json.loads(json.dumps(state)), booster)
    assert loaded.column_specs == model.column_specs and loaded.column_specs[0].rates
    assert np.allclose(loaded.predict_proba(frame.iloc[hold])[:, 1], scores)


def test_a_fit_on_many_rows_takes_the_bigger_step_and_its_refit_keeps_it():
    """FAST_RATE_MIN_ROWS: from 50k fit rows the trees learn at 0.15 (half the trees, half the SHAP work);
    below, at 0.08. A refit counts its trees at the step they were found with."""
    from lib.models.model import FAST_LEARNING_RATE, FAST_RATE_MIN_ROWS, XGB_PARAMS

    big, y, _ = _table(n=int(FAST_RATE_MIN_ROWS / 0.85) + 1_000, levels=30, seed=2)
    model = PropensityModel(("city", "visits"), seed=1).fit(big, y)  # 85% of the rows fit, 15% stop early
    assert model.learning_rate_ == FAST_LEARNING_RATE
    refit = model.refit(big, y)
    slower = copy.copy(model)
    slower.learning_rate_ = XGB_PARAMS["learning_rate"]
    # The refit's trees are grown at the model's own step: at another step they are other trees.
    assert not np.allclose(refit.decision_function(big.head(500)), slower.refit(big, y).decision_function(big.head(500)))
    small = PropensityModel(("city", "visits"), seed=1).fit(big.head(20_000), y[:20_000])
    assert small.learning_rate_ == XGB_PARAMS["learning_rate"] == 0.08
