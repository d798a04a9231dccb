"""One rule decides what kind a column is (lib/models/columns.py), for the propensity model and the
segments alike; each still reads the column its own way, so saved models score as before."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.data.io import load_table
from lib.flow.drift import reference_profile
from lib.models.columns import column_kind
from lib.models.model import ColumnSpec, FrameEncoder, PropensityModel
from lib.models.segment import default_cluster_features, segment_clusters
from lib.models.uplift import balance_table

from .conftest import SAMPLES

EXPECTED = {
    "coupon": "flag",  # 是/否: yes/no in a Chinese export
    "paperless": "flag",  # Y/N, with gaps
    "vip": "flag",  # 0/1 numbers
    "active": "flag",  # true/false
    "customer_no": "number",  # an id-like number: a number (the roles step keeps ids out of models)
    "signup": "date",
    "code": "category",  # 1/2: two groups, not a scale
    "contract": "category",
    "spend": "number",
}


@pytest.fixture(scope="module")
def mixed() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 400
    group = rng.integers(0, 2, n)
    frame = pd.DataFrame({
        "coupon": np.where(rng.random(n) < 0.2 + 0.6 * group, "是", "否"),
        "paperless": np.where(rng.random(n) < 0.5, "Y", "N").astype(object),
        "vip": (rng.random(n) < 0.1 + 0.5 * group).astype("int64"),
        "active": rng.random(n) < 0.5,
        "customer_no": np.arange(100_001, 100_001 + n),
        "signup": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D"),
        "code": rng.integers(1, 3, n),
        "contract": rng.choice(["Month-to-month", "One year", "Two year"], n),
        "spend": rng.gamma(2.0, 40.0, n) * (1 + 2 * group),
    })
    frame.loc[rng.choice(n, 12, replace=False), "paperless"] = None
    return frame


def test_the_model_encoder_and_the_segments_give_every_column_the_same_kind(mixed):
    features = list(EXPECTED)
    model_kinds = {spec.name: spec.kind for spec in FrameEncoder(tuple(features)).fit(mixed).specs_}
    segment_kinds = segment_clusters(mixed, features, k=2, stability_runs=0).feature_kinds
    assert model_kinds == segment_kinds == EXPECTED
    assert {c: column_kind(mixed[c]) for c in features} == EXPECTED


def test_the_sample_files_columns_get_the_same_kind_in_the_model_and_the_segments():
    for name in ("shop_customers.csv", "bank_marketing.csv.gz"):
        frame = load_table(SAMPLES / name).frame
        features = [c for c in frame.columns if c not in ("customer_id", "name", "email")]
        model_kinds = {spec.name: spec.kind for spec in FrameEncoder(tuple(features)).fit(frame).specs_}
        chosen = default_cluster_features(frame, features, None)
        segment_kinds = segment_clusters(frame, chosen, k=3, stability_runs=0).feature_kinds
        assert segment_kinds == {c: model_kinds[c] for c in chosen}, name
    assert model_kinds["y"] == "flag" and model_kinds["month"] == "category"


def test_the_model_still_reads_yes_no_text_as_its_two_levels_and_numbers_as_numbers(mixed):
    """Why saved models score identically: the kind is shared, the model's reading of a column is not
    changed by it. Yes/no text stays one-hot on its levels ("coupon = 是"), as in every model file so far;
    0/1 flags and 1/2 codes pass through as numbers, so a value training never saw still splits."""
    specs = {s.name: s for s in FrameEncoder(tuple(EXPECTED)).fit(mixed).specs_}
    assert set(specs["coupon"].levels) == {"是", "否"} and specs["coupon"].one_hot
    assert specs["paperless"].one_hot and "(missing)" in specs["paperless"].levels
    assert not any(specs[c].one_hot for c in ("vip", "active", "code", "customer_no", "spend", "signup"))
    # The drift check and the uplift balance check read a column as the model does.
    profile = reference_profile(mixed, tuple(specs.values()))
    assert profile["coupon"]["kind"] == "category" and set(profile["coupon"]["shares"]) == {"是", "否"}
    assert profile["vip"]["kind"] == "number" and profile["code"]["kind"] == "number"
    half = np.arange(len(mixed)) % 2 == 0
    balance = balance_table(mixed, ["coupon", "vip"], half, ~half).set_index("feature")["kind"]
    assert balance.to_dict() == {"coupon": "category", "vip": "flag"}


def test_a_model_file_written_before_the_one_rule_scores_exactly_as_before(mixed):
    """Model files written before kinds were decided in one place call yes/no text "category" and 0/1
    numbers "number": loaded today they encode and score exactly like a model with today's kinds."""
    features = tuple(EXPECTED)
    y = ((mixed["spend"] > mixed["spend"].median()) ^ (np.arange(len(mixed)) % 7 == 0)).astype(int).to_numpy()
    model = PropensityModel(features, seed=3).fit(mixed, y)
    state, booster = model.to_state()
    old_kinds = {"coupon": "category", "paperless": "category", "vip": "number", "code": "number"}
    old_state = {**state, "columns": [{**c, "kind": old_kinds.get(c["name"], c["kind"])} for c in state["columns"]]}
    old = PropensityModel.from_state(old_state, booster)
    assert old.encoded_features == model.encoded_features
    np.testing.assert_array_equal(old.encode(mixed), model.encode(mixed))
    np.testing.assert_array_equal(old.predict_proba(mixed), model.predict_proba(mixed))
    assert ColumnSpec.from_dict(old_state["columns"][0]).one_hot  # "coupon", as "category" with its levels


def test_a_shi_fou_column_is_a_yes_no_flag_in_segments_and_weighs_like_a_two_level_category(mixed):
    """The one visible change for segments: 是/否 (and 有/无) are yes/no words now, as Yes/No and Y/N were,
    so such a column is profiled and named as a flag ("with coupon") instead of as two levels ("with coupon
    是"). The clustering is the same: a flag and a two-level category put two customers who differ in it
    the same distance apart, so every customer keeps their segment."""
    features = ["coupon", "spend", "contract"]
    as_flag = segment_clusters(mixed, features, k=2, seed=1, stability_runs=0)
    levels = mixed.assign(coupon=mixed["coupon"].map({"是": "gold", "否": "basic"}))
    as_levels = segment_clusters(levels, features, k=2, seed=1, stability_runs=0)
    assert as_flag.feature_kinds["coupon"] == "flag" and as_levels.feature_kinds["coupon"] == "category"
    assert (as_flag.labels == as_levels.labels).all()
    assert "coupon = 是" in as_flag.profile.columns and "coupon = 否" not in as_flag.profile.columns
    assert any("with coupon" in s.name or "with coupon" in s.description for s in as_flag.segments)
    assert not any("coupon 是" in s.name or "coupon 否" in s.description for s in as_flag.segments)


def test_a_true_false_column_that_is_false_throughout_does_not_stop_the_clustering():
    frame = pd.DataFrame({"spend": np.arange(60.0), "returned": [False] * 60})
    seg = segment_clusters(frame, ["spend", "returned"], k=2, stability_runs=0)
    assert seg.feature_kinds["returned"] == "flag" and sorted(s.size for s in seg.segments) == [30, 30]
