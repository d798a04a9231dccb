"""Exact SHAP for every row, mapped to the user's columns, and readable reason codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.models.explain import (
    Explanation,
    encoded_matrix,
    explain,
    reason_codes,
    reference_contributions,
    segment_importance,
    woodelf_contributions,
)


def test_additivity_base_plus_contributions_equals_the_margin_on_every_row(shop_model, shop_explanation):
    total = shop_explanation.base_value + shop_explanation.values.astype("float64").sum(axis=1)
    assert np.abs(total - shop_model.margins).max() < 1e-4


def test_fast_path_agrees_with_xgboost_reference_on_every_row(shop_model, shop_loaded):
    x = encoded_matrix(shop_model.model, shop_loaded.frame)
    ref = reference_contributions(shop_model.model, x)[:, :-1]
    fast = woodelf_contributions(shop_model.model, x)
    assert fast.shape == ref.shape
    assert np.abs(fast - ref).max() < 1e-4


def test_auto_method_uses_the_fast_exact_path(shop_explanation):
    assert shop_explanation.method == "woodelf"
    assert shop_explanation.values.shape[0] == 5000


def test_one_hot_contributions_map_back_to_the_original_column(shop_model, shop_loaded, shop_explanation):
    assert shop_explanation.features == shop_model.features
    assert "region" in shop_model.features
    model = shop_model.model
    encoded_region = [e for e, owner in zip(model.encoded_features, model.encoded_owner) if owner == "region"]
    assert len(encoded_region) > 1
    x = encoded_matrix(shop_model.model, shop_loaded.frame)
    ref = reference_contributions(shop_model.model, x)
    cols = [model.encoded_features.index(e) for e in encoded_region]
    j = shop_model.features.index("region")
    assert np.allclose(shop_explanation.values[:, j], ref[:, cols].sum(axis=1), atol=1e-4)


def test_planted_drivers_rank_at_the_top(shop_explanation):
    top3 = set(shop_explanation.top_features(3))
    assert top3 == {"email_opens_90d", "web_visits_last_month", "recency_days"}


def test_reference_path_is_used_when_asked(shop_model, shop_loaded, shop_explanation):
    ref = explain(shop_model.model, shop_loaded.frame.iloc[:300], method="xgboost")
    assert ref.method == "xgboost pred_contribs"
    assert np.abs(ref.values - shop_explanation.values[:300]).max() < 1e-4


def _hand_made() -> tuple[Explanation, pd.DataFrame]:
    values = np.array([[0.8, -0.2, 0.1], [-0.5, 0.3, 0.0]], dtype=np.float32)
    points = np.array([[8.04, -2.0, 1.0], [-5.0, 3.0, 0.0]], dtype=np.float32)
    expl = Explanation(values=values, features=("web_visits_last_month", "region", "signup_date"),
                       base_value=-1.0, method="test", seconds=0.0, points=points)
    frame = pd.DataFrame({"web_visits_last_month": [12, 3], "region": ["North", "South"],
                          "signup_date": pd.to_datetime(["2024-01-01", "2024-03-01"])})
    return expl, frame


def test_reason_phrases_for_a_hand_made_case():
    expl, frame = _hand_made()
    reasons = reason_codes(expl, frame)
    assert reasons.loc[0, "reason_1"] == "web visits last month: 12 (+8.0 pts)"
    assert reasons.loc[0, "reason_2"] == "signup date: 60 days ago (+1.0 pts)"
    assert reasons.loc[0, "reason_3"] == ""  # region pushes the score down: not a reason
    assert reasons.loc[1, "reason_1"] == "region: South (+3.0 pts)"
    assert reasons.loc[1, "reason_2"] == ""


def test_non_actionable_features_are_left_out_of_reasons():
    expl, frame = _hand_made()
    reasons = reason_codes(expl, frame, actionable=["region", "signup_date"])
    assert reasons.loc[0, "reason_1"] == "signup date: 60 days ago (+1.0 pts)"
    assert "web visits" not in " ".join(reasons.loc[0])


def test_every_customer_gets_reasons_from_real_drivers(shop_explanation, shop_loaded):
    reasons = reason_codes(shop_explanation, shop_loaded.frame)
    assert len(reasons) == 5000
    assert (reasons["reason_1"] != "").mean() > 0.95
    assert reasons["reason_1"].str.contains(r"\(\+\d+\.\d pts\)$").mean() > 0.95


def test_segment_importance_side_by_side(shop_explanation):
    labels = np.arange(5000) % 2
    table = segment_importance(shop_explanation, labels, {0: "Even", 1: "Odd"})
    assert list(table.columns) == ["Even", "Odd"]
    assert set(table.index) == set(shop_explanation.features)


@pytest.mark.parametrize("depth", [3, 6])
def test_shap_tree_explainer_works_with_the_pinned_xgboost(depth):
    import shap
    import xgboost as xgb

    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int)
    model = xgb.XGBClassifier(n_estimators=30, max_depth=depth, base_score=0.3).fit(x, y)
    values = shap.TreeExplainer(model).shap_values(x)
    ref = model.get_booster().predict(xgb.DMatrix(x), pred_contribs=True)
    assert np.abs(values - ref[:, :-1]).max() < 1e-4


def test_parallel_workers_give_exactly_the_same_values_and_reasons(shop_model, shop_loaded, shop_explanation):
    x = encoded_matrix(shop_model.model, shop_loaded.frame)
    assert np.array_equal(woodelf_contributions(shop_model.model, x, workers=2), woodelf_contributions(shop_model.model, x))
    one = reason_codes(shop_explanation, shop_loaded.frame, workers=1)
    two = reason_codes(shop_explanation, shop_loaded.frame, workers=2)
    pd.testing.assert_frame_equal(one, two)


def test_xgboost_reference_takes_over_when_woodelf_is_unavailable(shop_model, shop_loaded, shop_explanation,
                                                                  monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "woodelf", None)  # "import woodelf" now fails, as when it is missing
    fallback = explain(shop_model.model, shop_loaded.frame.iloc[:400])
    assert fallback.method == "xgboost pred_contribs"
    assert np.abs(fallback.values - shop_explanation.values[:400]).max() < 1e-4


def test_a_customer_with_nothing_pushing_the_score_up_reads_none():
    from lib.models.explain import reasons_in_words

    assert reasons_in_words(["web visits: 12 (+8.0 pts)", "", ""]) == "web visits: 12 (+8.0 pts)"
    assert reasons_in_words(["", "", ""]) == "none: nothing pushes this score up"
