"""Propensity models: honest, better than the baseline, leak-proof, reproducible, tied to money."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.data.io import load_table
from lib.data.schema import infer_schema
from lib.errors import DataValidationError
from lib.models.propensity import profit_curve, score_ranks, train_propensity

from .conftest import SAMPLES


def test_model_beats_the_baseline_on_the_synthetic_sample(shop_model):
    assert shop_model.metrics.roc_auc > shop_model.baseline_metrics.roc_auc + 0.02
    assert shop_model.metrics.roc_auc > 0.72
    assert shop_model.gate_passed
    assert shop_model.lift.iloc[0]["lift"] > 1.5
    assert len(shop_model.cv_auc) == 3 and min(shop_model.cv_auc) > 0.7
    report = shop_model.to_report()
    for key in ("algorithm", "holdout_auc", "baseline_auc", "pr_auc", "brier", "lift_top_decile"):
        assert key in report


def test_identifiers_and_pii_are_not_features(shop_model):
    assert {"customer_id", "name", "email"}.isdisjoint(shop_model.features)
    assert {e["column"] for e in shop_model.excluded_features} >= {"customer_id", "name", "email"}


def test_scores_are_calibrated_probabilities_with_ranks(shop_model):
    s = shop_model.scores
    assert s.min() >= 0 and s.max() <= 1
    cal = shop_model.calibration
    assert np.abs(cal["predicted"] - cal["observed"]).mean() < 0.08
    ranks = score_ranks(s)
    assert ranks.loc[int(np.argmax(s)), "rank"] == 1 and ranks.loc[int(np.argmax(s)), "decile"] == 1
    assert sorted(ranks["rank"]) == list(range(1, len(s) + 1))


def test_same_seed_gives_identical_scores(shop_loaded, shop_model):
    again = train_propensity(shop_loaded.frame, infer_schema(shop_loaded.frame), "responded", "yes", seed=7)
    assert np.array_equal(again.scores, shop_model.scores)


def test_copied_target_column_is_excluded_as_leakage_and_can_be_reincluded(shop_loaded):
    frame = shop_loaded.frame.assign(response_copy=np.where(shop_loaded.frame["responded"] == "yes", 1, 0))
    schema = infer_schema(frame)
    result = train_propensity(frame, schema, "responded", "yes", cv_folds=0)
    leak = [e for e in result.excluded_features if e["column"] == "response_copy"]
    assert leak and leak[0]["reason"].startswith("leakage")
    assert "response_copy" not in result.features
    allowed = train_propensity(frame, schema, "responded", "yes", cv_folds=0, allow=["response_copy"])
    assert "response_copy" in allowed.features and allowed.metrics.roc_auc > 0.99


def test_call_duration_is_kept_out_by_default_and_the_honest_auc_is_reported():
    """`duration` is only known after the call: excluded by default, with the reason; allowing it back
    makes the holdout AUC look far better than any campaign could get."""
    bank = load_table(SAMPLES / "bank_marketing.csv.gz").frame
    schema = infer_schema(bank)
    honest = train_propensity(bank, schema, "y", "yes", cv_folds=0)
    assert "duration" not in honest.features
    reason = next(e["reason"] for e in honest.excluded_features if e["column"] == "duration")
    assert reason.startswith("leakage") and "after" in reason
    assert 0.75 < honest.metrics.roc_auc < 0.85
    assert honest.metrics.roc_auc > honest.baseline_metrics.roc_auc
    leaky = train_propensity(bank, schema, "y", "yes", cv_folds=0, allow=["duration"])
    assert "duration" in leaky.features and any("duration" in w for w in leaky.warnings)
    assert leaky.metrics.roc_auc > honest.metrics.roc_auc + 0.05


def test_rows_without_a_target_are_scored_but_not_trained_on(shop_loaded):
    frame = shop_loaded.frame.copy()
    frame.loc[:499, "responded"] = None
    result = train_propensity(frame, infer_schema(frame), "responded", "yes", cv_folds=0)
    assert result.n_train + result.n_holdout == len(frame) - 500
    assert len(result.scores) == len(frame) and np.isfinite(result.scores[:500]).all()


def test_quality_gate_fails_a_model_that_ranks_no_better_than_chance():
    """Plenty of positives (so only the AUC rules can trip): pure noise must fail on AUC."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.normal(size=3000),
                          "target": np.where(rng.random(3000) < 0.3, "yes", "no")})
    result = train_propensity(frame, infer_schema(frame), "target", "yes", cv_folds=0)
    assert result.positives > 500
    assert not result.gate_passed
    assert any("below 0.6" in r for r in result.gate_reasons)
    assert not any("positive outcomes" in r for r in result.gate_reasons)


def test_quality_gate_fails_a_model_with_too_few_positives_to_trust():
    rng = np.random.default_rng(2)
    x = rng.normal(size=1500)
    frame = pd.DataFrame({"x": x, "z": rng.normal(size=1500),
                          "target": np.where(x > np.quantile(x, 0.975), "yes", "no")})
    result = train_propensity(frame, infer_schema(frame), "target", "yes", cv_folds=0)
    assert 20 <= result.positives < 50
    assert any(f"Only {result.positives} positive outcomes" in r for r in result.gate_reasons)


def test_a_handful_of_positives_stops_with_how_many_there_are_and_how_many_are_needed():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=400), "target": ["yes"] * 7 + ["no"] * 393})
    with pytest.raises(DataValidationError, match=r"7 positive \('yes'\).*at least 20 of each"):
        train_propensity(frame, infer_schema(frame), "target", "yes")


def test_a_three_valued_target_with_a_positive_class_is_that_class_against_the_rest():
    rng = np.random.default_rng(4)
    x = rng.normal(size=3000)
    latent = x + rng.normal(size=3000)
    answer = np.where(latent > 1.0, "yes", np.where(latent < -0.5, "no", "maybe"))
    frame = pd.DataFrame({"x": x, "noise": rng.normal(size=3000), "answer": answer})
    result = train_propensity(frame, infer_schema(frame), "answer", "yes", cv_folds=0)
    assert result.positives == int((answer == "yes").sum())
    assert result.metrics.roc_auc > 0.75 and "x" in result.features
    with pytest.raises(DataValidationError, match="Name the positive class"):
        train_propensity(frame, infer_schema(frame), "answer")


def test_target_problems_are_user_errors(shop_loaded):
    schema = infer_schema(shop_loaded.frame)
    with pytest.raises(DataValidationError, match="not in the file"):
        train_propensity(shop_loaded.frame, schema, "nope")
    with pytest.raises(DataValidationError, match="different values"):
        train_propensity(shop_loaded.frame, schema, "region")


def test_profit_curve_finds_the_best_cutoff_and_break_even():
    scores = np.array([0.9, 0.5, 0.2, 0.05, 0.01])
    plan = profit_curve(scores, cost_per_contact=1.0, value_per_conversion=10.0)
    # Contact while score × 10 > 1: the first three customers.
    assert plan.best_contacts == 3
    assert plan.best_profit == pytest.approx((0.9 + 0.5 + 0.2) * 10 - 3)
    assert plan.break_even_score == pytest.approx(0.1)
    capped = profit_curve(scores, 1.0, 10.0, budget=2.0)
    assert capped.best_contacts == 2 and capped.capped_by == "budget"


def test_leakage_found_by_the_quality_report_is_reused_not_recomputed(shop_loaded, monkeypatch):
    import lib.models.propensity
    from lib.data.quality import assess_quality

    frame = shop_loaded.frame.assign(response_copy=np.where(shop_loaded.frame["responded"] == "yes", 1, 0))
    schema = infer_schema(frame)
    report = assess_quality(frame, schema, "responded", "yes")

    def fail(*args, **kwargs):
        raise AssertionError("find_leakage ran again")

    monkeypatch.setattr(lib.models.propensity, "find_leakage", fail)
    result = train_propensity(frame, schema, "responded", "yes", cv_folds=0, leakage=list(report.leakage_suspects))
    assert "response_copy" not in result.features
    assert any(e["column"] == "response_copy" and e["reason"].startswith("leakage") for e in result.excluded_features)
