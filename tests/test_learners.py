"""Learners compared honestly: same folds, ties to the simpler, time limits and failures shown, random labels
stay random, the chosen one refitted, saved without code and scored by `score` as `run` scored it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from lib.data.schema import infer_schema
from lib.errors import DataValidationError
from lib.models.explain import explain, reason_codes
from lib.models.learners import (
    LEARNERS,
    LearnerModel,
    LearnerScore,
    choose,
    compare_learners,
    comparison_folds,
    corrected_t_test,
    make_learner,
    resolve_learners,
)
from lib.models.learners.catalogue import Encoded
from lib.models.propensity import train_propensity

from .conftest import SAMPLES
from .test_cli import cli


@pytest.fixture(scope="module")
def bank():
    frame = pd.read_csv(SAMPLES / "bank_marketing.csv.gz", sep=";").drop(columns=["duration"])
    frame = frame.sample(2400, random_state=3).reset_index(drop=True)
    y = (frame.pop("y") == "yes").astype(int).to_numpy()
    return frame, y


def _folds(y, k=3):
    return comparison_folds(y, np.arange(len(y)), None, k, 7)[0]


def _score(name, aucs, tied):
    return LearnerScore(name, tuple(aucs), 0.3, 0.1, 2.0, 1.0, "ok", tied)


def test_a_tie_goes_to_the_simpler_learner_and_a_clear_win_to_the_best():
    tied = [_score("xgboost", (0.80, 0.82, 0.81), True), _score("logistic", (0.799, 0.821, 0.808), True)]
    name, verdict, useful = choose(tied)
    assert name == "logistic" and useful and "within noise" in verdict
    clear = [_score("xgboost", (0.80, 0.82, 0.81), True), _score("logistic", (0.70, 0.71, 0.72), False)]
    assert choose(clear)[0] == "xgboost"


def test_the_corrected_t_test_calls_a_tiny_edge_a_tie_and_a_steady_gap_a_win():
    assert corrected_t_test([0.801, 0.822, 0.809], [0.800, 0.820, 0.810], 0.5) > 0.05
    assert corrected_t_test([0.80, 0.82, 0.81, 0.79, 0.81], [0.70, 0.71, 0.72, 0.69, 0.705], 0.25) < 0.01


def test_learners_resolve_auto_all_and_names():
    assert resolve_learners("auto", 1_000, 10) == LEARNERS  # a small file: every learner in seconds
    assert resolve_learners("auto", 1_000_000, 30) == ("logistic", "xgboost")
    assert resolve_learners("all", 1_000_000, 30) == LEARNERS
    assert resolve_learners("mlp", 10, 1) == ("mlp",)
    with pytest.raises(DataValidationError, match="nope"):
        resolve_learners("mlp,nope", 10, 1)


def test_a_learner_over_its_time_limit_is_stopped_with_what_it_reached(bank):
    x, y = bank
    c = compare_learners(x, y, ["logistic"], _folds(y), time_limit=0.0)
    s = c.score_of("logistic")
    assert s.status == "stopped at the time limit"
    assert len(s.fold_auc) == 1 and s.cv_auc_mean > 0.6  # the fold it reached, measured


class _Broken(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        raise ValueError("cannot learn from this")


def test_a_failing_learner_is_shown_with_its_reason_never_as_zero(bank):
    x, y = bank

    def factory(name, feats, seed, spw):
        return _Broken() if name == "tree" else make_learner(name, feats, seed, spw)

    c = compare_learners(x, y, ["logistic", "tree"], _folds(y), factory=factory)
    row = c.score_of("tree").to_report()
    assert row["status"] == "failed: cannot learn from this"
    assert row["cv_auc_mean"] is None and row["pr_auc"] is None and row["brier"] is None
    assert c.chosen == "logistic"


def test_a_learner_without_probabilities_is_scored_by_its_decision_function(bank):
    x, y = bank

    def factory(name, feats, seed, spw):
        return Pipeline([("encode", Encoded(feats, True)), ("model", LinearSVC(class_weight="balanced"))])

    s = compare_learners(x, y, ["svm"], _folds(y), factory=factory).score_of("svm")
    assert s.status == "ok" and s.cv_auc_mean > 0.65 and 0 < s.brier < 1


def test_on_shuffled_labels_no_learner_beats_chance_and_the_verdict_says_not_useful(bank):
    x, y = bank
    shuffled = np.random.default_rng(0).permutation(y)
    c = compare_learners(x, shuffled, LEARNERS, _folds(shuffled))
    for s in c.scores:
        assert s.status == "ok", s.status
        assert abs(s.cv_auc_mean - 0.5) < 0.07, (s.name, s.cv_auc_mean)
    assert not c.useful and "No learner is useful" in c.verdict


def test_the_chosen_learner_is_refitted_on_every_labelled_row_and_explained_exactly(shop_loaded):
    shop = shop_loaded.frame
    result = train_propensity(shop, infer_schema(shop), "responded", "yes", learners="logistic")
    assert result.algorithm == "logistic" and result.refit
    labelled = shop[list(result.features)]
    y = (shop["responded"] == "yes").astype(int).to_numpy()
    everyone = LearnerModel("logistic", result.features, result.seed).fit(labelled, y)
    np.testing.assert_allclose(result.scores, everyone.predict_proba(labelled)[:, 1], atol=1e-9)
    report = result.to_report()
    assert report["algorithm"] == "logistic" and report["refit_on_all_rows"] is True
    expl = explain(result.model, shop)
    assert expl.additivity_error < 1e-9  # linear attributions add up to the log-odds exactly
    assert reason_codes(expl, shop)["reason_1"].notna().any()


def test_approximate_reasons_report_their_additivity_error(bank):
    x, y = bank
    model = LearnerModel("mlp", tuple(x.columns), 1).fit(x, y)
    expl = explain(model, x.head(300))
    assert "approximate" in expl.method and expl.to_report()["additivity_error"] is not None
    assert expl.values.shape == (300, x.shape[1])


@pytest.mark.parametrize("name", ["tree", "forest"])
def test_trees_and_forests_get_exact_tree_shap_that_adds_up_to_the_log_odds(bank, name):
    import shap

    x, y = bank
    model = LearnerModel(name, tuple(x.columns), 1).fit(x, y)
    rows = x.head(200)
    expl = explain(model, rows)
    assert expl.method.startswith("exact TreeSHAP") and expl.additivity_error < 1e-9
    np.testing.assert_allclose(expl.base_value + expl.values.sum(axis=1), model.decision_function(rows), atol=1e-4)
    # shap's own values (probability), per user column: the same proportions, one factor per customer
    raw = np.asarray(shap.TreeExplainer(model.pipeline_.named_steps["model"]).shap_values(
        model.pipeline_.named_steps["encode"].transform(rows), check_additivity=False))[..., 1]
    per_column = model._by_column(raw)
    big = np.abs(per_column.sum(axis=1)) > 1e-6
    factor = expl.values.sum(axis=1)[big] / per_column.sum(axis=1)[big]
    np.testing.assert_allclose(expl.values[big], per_column[big] * factor[:, None], atol=1e-4)


def test_a_forest_too_big_for_exact_tree_shap_says_it_is_approximate(bank, monkeypatch):
    import lib.models.learners.fitted as fitted

    x, y = bank
    model = LearnerModel("forest", tuple(x.columns), 1).fit(x, y)
    monkeypatch.setattr(fitted, "TREE_SHAP_BUDGET", 1.0)
    expl = explain(model, x.head(50))
    assert "approximate" in expl.method and expl.additivity_error is not None


class _Stranger(ClassifierMixin, BaseEstimator):
    pass


def test_a_saved_learner_naming_an_untrusted_type_is_refused(bank):
    x, y = bank
    model = LearnerModel("logistic", tuple(x.columns), 1).fit(x, y)
    state, _ = model.to_state()
    evil = sio.dumps(Pipeline([("model", _Stranger())]))
    with pytest.raises(DataValidationError, match="does not trust"):
        LearnerModel.from_state(state, evil, "m.bullseye")
    again = LearnerModel.from_state(*model.to_state())
    np.testing.assert_array_equal(again.predict_proba(x), model.predict_proba(x))


def test_run_learners_mlp_saves_a_model_that_score_scores_identically(tmp_path):
    out, scored, path = tmp_path / "run", tmp_path / "score", tmp_path / "m.bullseye"
    proc = cli("run", "--input", str(SAMPLES / "shop_customers.csv"), "--out", str(out), "--target", "responded",
               "--learners", "mlp", "--save-model", str(path))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["algorithm"] == "mlp"
    assert [row["name"] for row in report["learners"]] == ["mlp"]
    assert set(report["learners"][0]) == {"name", "cv_auc_mean", "cv_auc_sd", "pr_auc", "brier", "lift_top_decile",
                                          "seconds", "status", "tied_with_best"}
    proc = cli("score", "--model", str(path), "--input", str(SAMPLES / "shop_customers.csv"), "--out", str(scored))
    assert proc.returncode == 0, proc.stderr
    a = pd.read_csv(out / "customers.csv").set_index("id")
    b = pd.read_csv(scored / "customers.csv").set_index("id").loc[a.index]
    np.testing.assert_allclose(a["score"], b["score"], atol=1e-6)
    card = json.loads((scored / "report.json").read_text())["model"]
    assert card["algorithm"] == "mlp" and card["refit_on_all_rows"] is True  # the model card says both facts


def test_the_comparison_table_marks_the_chosen_learner_and_leaves_a_failure_blank():
    from lib.models.learners.compare import Comparison, comparison_table

    failed = LearnerScore("svm", (), float("nan"), float("nan"), float("nan"), 0.2, "failed: no memory")
    c = Comparison((_score("logistic", (0.8, 0.81, 0.82), True), failed), "logistic", "", "stratified k-fold", 100,
                   True)
    table = comparison_table(c).set_index("Learner")
    assert table.loc["logistic ✓", "AUC (mean ± sd over folds)"] == "0.810 ± 0.010"
    assert table.loc["svm", "AUC (mean ± sd over folds)"] == "" and table.loc["svm", "PR AUC"] == ""
    assert table.loc["svm", "Status"] == "failed: no memory"


def test_xgboost_is_refitted_on_every_labelled_row_with_the_trees_early_stopping_found(shop_model):
    assert shop_model.algorithm == "xgboost" and shop_model.refit
    assert shop_model.model.booster_.get_booster().num_boosted_rounds() == shop_model.best_iteration + 1
    assert shop_model.to_report()["refit_on_all_rows"] is True


def test_xgboost_is_not_refitted_once_its_trees_learnt_from_many_rows(shop_loaded, monkeypatch):
    """Above REFIT_MAX_FIT_ROWS fit rows the model measured is the model that scores (issue 28: the refit
    cost a fifth of a 100k run for no measurable gain); the report and the card say which it is."""
    from lib.flow.model_file import _learner_line
    from lib.models import propensity

    monkeypatch.setattr(propensity, "REFIT_MAX_FIT_ROWS", 3_000)  # the shop sample fits on 3,400 rows
    result = train_propensity(shop_loaded.frame, infer_schema(shop_loaded.frame), "responded", "yes", seed=7)
    assert result.n_fit > 3_000 and not result.refit
    assert result.to_report()["refit_on_all_rows"] is False
    assert "fitted on the training rows" in _learner_line({"algorithm": "xgboost", "refit_on_all_rows": False})
