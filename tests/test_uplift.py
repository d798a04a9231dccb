"""Uplift: learned from a randomised control group, honest about weak signals, leak-proof, explained."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lib.data.schema import infer_schema
from lib.errors import DataValidationError
from lib.models.uplift import (
    UpliftSettings,
    auuc_score,
    persuadable_importance,
    qini_score,
    resolve_arms,
    train_uplift,
    uplift_reasons,
)


def planted(n: int = 6000, seed: int = 0, blank: float = 0.1, effect: float = 1.0) -> tuple[pd.DataFrame, np.ndarray, float]:
    """An e-mail test where the campaign helps the young (+20 pts), hurts the old (-8 pts) and does
    nothing for the rest, on top of a base response that depends on visits (so the propensity ranking
    is not the uplift ranking), the effects scaled by ``effect``. ``spend`` is only filled in for
    responders. Returns the frame, each row's planted group and the planted average effect."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 81, n)
    visits = rng.poisson(2.0, n)
    region = rng.choice(["North", "South", "East", "West"], n)
    tenure = rng.gamma(2.0, 12.0, n).round(1)
    group = np.where(age < 35, "helped", np.where(age >= 65, "hurt", "none"))
    p0 = 0.10 + 0.03 * np.minimum(visits, 5)
    p1 = p0 + effect * np.where(group == "helped", 0.20, np.where(group == "hurt", -0.08, 0.0))
    sent = rng.random(n) < 0.5
    y = rng.random(n) < np.where(sent, p1, p0)
    outcome = np.where(y, "yes", "no").astype(object)
    outcome[rng.random(n) < blank] = None
    frame = pd.DataFrame({
        "customer_id": np.arange(100_000, 100_000 + n), "age": age, "visits": visits, "region": region,
        "tenure_months": tenure, "campaign": np.where(sent, "email", "control"),
        "spend": np.where(y, rng.gamma(2.0, 30.0, n).round(2), 0.0), "responded": outcome,
    })
    return frame, group, float(np.mean(p1 - p0))


@pytest.fixture(scope="module")
def planted_run():
    frame, group, ate = planted()
    result = train_uplift(frame, infer_schema(frame), "responded", "yes", UpliftSettings("campaign"))
    return frame, group, ate, result


# --- the metrics are scikit-uplift's ---------------------------------------------------------------


def test_qini_and_auuc_match_scikit_uplift():
    """Reference numbers from scikit-uplift 0.5.1 (sklift.metrics.qini_auc_score / uplift_auc_score),
    on data with tied scores and unequal arms."""
    y = np.array([1, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0])
    t = np.array([1, 1, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 0])
    u = np.array([.9, .8, .8, .7, .6, .5, .5, .5, .4, .3, .3, .2, .1, .1, 0, -.1])
    assert qini_score(y, u, t) == pytest.approx(0.16419172932330825, abs=1e-12)
    assert auuc_score(y, u, t) == pytest.approx(0.06226379440665149, abs=1e-12)
    rng = np.random.default_rng(7)
    y = (rng.random(400) < 0.3).astype(int)
    t = (rng.random(400) < 0.6).astype(int)
    u = np.round(rng.normal(size=400) + 0.5 * y * t, 1)
    assert qini_score(y, u, t) == pytest.approx(0.0976793456792429, abs=1e-12)
    assert auuc_score(y, u, t) == pytest.approx(0.08988709670561738, abs=1e-12)


def test_perfect_ranking_scores_one_random_about_zero_and_the_reverse_below_zero():
    rng = np.random.default_rng(1)
    y = (rng.random(2000) < 0.3).astype(int)
    t = (rng.random(2000) < 0.5).astype(int)
    perfect = y * t - y * (1 - t)
    assert qini_score(y, perfect, t) == pytest.approx(1.0)
    assert abs(np.mean([qini_score(y, rng.random(2000), t) for _ in range(50)])) < 0.02
    assert qini_score(y, -perfect, t) < -0.3


# --- the planted file: the learner finds who is helped and who is hurt ------------------------------


def test_learner_ranks_helped_above_unaffected_above_hurt(planted_run):
    _, group, _, result = planted_run
    mean = result.table["uplift"].groupby(group).mean()
    assert mean["helped"] > mean["none"] + 0.05
    assert mean["none"] > mean["hurt"] + 0.02
    assert mean["helped"] > 0.08 and mean["hurt"] < -0.01


def test_planted_uplift_beats_random_by_a_clear_margin(planted_run):
    _, _, _, result = planted_run
    assert result.qini > 0.1 and result.qini_ci[0] > 0.05
    assert result.p_value < 0.01 and result.beats_random
    assert result.verdict.startswith("Targeting by uplift beats targeting everyone")
    assert set(result.per_learner) == {"t-learner", "s-learner", "x-learner", "dr-learner"}
    assert result.method == max(result.per_learner, key=lambda m: result.per_learner[m]["qini"])
    deciles = result.uplift_by_decile
    assert list(deciles["decile"]) == list(range(1, 11))
    assert deciles["uplift"].iloc[:2].mean() > 0.1 > deciles["uplift"].iloc[-2:].mean()
    assert {"response_treated", "response_control", "uplift"} <= set(deciles.columns)


def test_report_has_the_agreed_keys(planted_run):
    report = planted_run[3].to_report()
    assert {"method", "qini", "auuc", "ate", "ate_ci", "n_treated", "n_control", "verdict",
            "uplift_by_decile"} <= set(report)
    assert len(report["uplift_by_decile"]) == 10 and report["verdict"] == planted_run[3].verdict


def test_report_says_whether_uplift_beats_random_as_a_json_boolean(planted_run):
    """The model file stores the report's beats_random: a JSON true/false equal to the result's."""
    result = planted_run[3]
    report = json.loads(json.dumps(result.to_report()))
    assert report["beats_random"] is True and result.beats_random is True


def test_table_is_aligned_with_the_input_and_probabilities_add_up(planted_run):
    frame, _, _, result = planted_run
    table = result.table
    assert table.index.equals(frame.index)
    if result.method in ("t-learner", "s-learner"):  # x and dr: uplift is their effect model's, p their start
        assert np.allclose(table["uplift"], table["p_treated"] - table["p_control"])
    else:
        assert np.corrcoef(table["uplift"], table["p_treated"] - table["p_control"])[0, 1] > 0.5
    assert table["p_treated"].between(0, 1).all() and table["p_control"].between(0, 1).all()
    assert table.loc[table["uplift"].idxmax(), "uplift_rank"] == 1
    assert table.loc[table["uplift"].idxmax(), "uplift_decile"] == 1


def test_learners_saved_and_loaded_score_the_same(planted_run):
    """Every learner's models round-trip through to_state / from_state (the model file's XGBoost JSON)."""
    from lib.models.uplift import score_uplift
    from lib.models.uplift.learners import learner_from_state

    frame, _, _, result = planted_run
    loaded = {name: learner_from_state(*model.to_state()) for name, model in result.learners.items()}
    again = score_uplift(result.method, loaded, frame)
    assert np.allclose(again["uplift"], result.table["uplift"], atol=1e-12)


def test_ate_interval_contains_the_planted_effect(planted_run):
    frame, _, ate, result = planted_run
    low, high = result.ate_ci
    assert low < ate < high and high - low < 0.05
    labelled = frame["responded"].notna()
    assert result.n_treated + result.n_control == labelled.sum()


def test_treatment_column_is_never_a_feature(planted_run):
    frame, _, _, result = planted_run
    assert "campaign" not in result.features
    assert any(e["column"] == "campaign" for e in result.excluded_features)
    # Even when the user lists it among the features.
    again = train_uplift(frame, infer_schema(frame), "responded", "yes",
                         UpliftSettings("campaign", learner="t", features=("age", "campaign", "visits")))
    assert again.features == ("age", "visits")


def test_spend_only_for_responders_is_excluded_as_a_leak(planted_run):
    _, _, _, result = planted_run
    assert "spend" not in result.features
    assert [e for e in result.excluded_features if e["column"] == "spend"][0]["reason"].startswith("leakage")


def test_an_outcome_recorded_after_another_target_is_a_leak():
    """Target "visited": spend > 0 only for the few visitors who bought. It neither predicts visits
    on its own nor is a step every visitor takes, yet it tells the model "this one visited"."""
    frame, _, _ = planted(n=4000, seed=3, blank=0.0)
    rng = np.random.default_rng(3)
    visited = frame["responded"] == "yes"
    bought = visited & (rng.random(len(frame)) < 0.15)
    frame = frame.assign(spend=np.where(bought, 50.0, 0.0), visited=np.where(visited, 1, 0)).drop(columns="responded")
    result = train_uplift(frame, infer_schema(frame), "visited", "1", UpliftSettings("campaign", learner="t"))
    assert "spend" not in result.features
    reason = [e for e in result.excluded_features if e["column"] == "spend"][0]["reason"]
    assert "recorded after the response" in reason


def test_opens_recorded_only_for_the_treated_are_a_leak():
    frame, _, _ = planted(n=3000, seed=4, blank=0.0)
    rng = np.random.default_rng(4)
    opens = np.where(frame["campaign"] == "email", rng.poisson(1.0, len(frame)), 0)
    result = train_uplift(frame.assign(email_opens=opens), infer_schema(frame.assign(email_opens=opens)),
                          "responded", "yes", UpliftSettings("campaign", learner="t"))
    assert "email_opens" not in result.features
    assert any("result of the campaign" in e["reason"] for e in result.excluded_features
               if e["column"] == "email_opens")


def test_blank_outcomes_are_scored_not_trained_on(planted_run):
    frame, _, _, result = planted_run
    blank = frame["responded"].isna().to_numpy()
    assert blank.sum() > 400
    assert result.table.loc[blank, "uplift"].notna().all()
    assert not result.holdout[blank].any()
    assert result.n_treated + result.n_control == (~blank).sum()
    # Their rows cannot matter to the learners: training without them gives the same uplift.
    subset = frame[~blank]
    again = train_uplift(subset, infer_schema(frame), "responded", "yes", UpliftSettings("campaign"))
    assert np.allclose(again.table["uplift"].to_numpy(), result.table.loc[~blank, "uplift"].to_numpy())


def test_reasons_read_as_words_with_points_of_uplift(planted_run):
    frame, group, _, result = planted_run
    rows = frame.iloc[:300]
    reasons = uplift_reasons(result, rows)
    assert list(reasons.columns) == ["reason_1", "reason_2", "reason_3"]
    assert reasons.index.equals(rows.index)
    first = reasons["reason_1"]
    assert first.str.fullmatch(r"[a-z ]+: .+ \([+-]\d+\.\d pts of uplift\)").all()
    young = group[:300] == "helped"
    # The young are helped because of their age, and the reason says so, with a positive effect.
    assert first[young].str.startswith("age: ").mean() > 0.8
    assert first[young].str.contains(r"\(\+").mean() > 0.8
    importance = persuadable_importance(result, rows)
    assert importance["feature"].iloc[0] == "age"
    assert {"mean_abs_uplift_pts", "mean_uplift_pts"} <= set(importance.columns)


def test_uplift_points_add_up_to_each_customers_uplift(planted_run):
    from lib.models.uplift import explain_uplift

    frame, _, _, result = planted_run
    rows = frame.iloc[:200]
    ex = explain_uplift(result, rows)
    total = ex.points.sum(axis=1) + ex.base_points
    if result.method != "s-learner":
        assert np.allclose(total, 100 * result.table["uplift"].iloc[:200], atol=0.05)
    else:  # the arm's own points are the campaign's common part: the rest still tracks the uplift
        assert np.corrcoef(total, result.table["uplift"].iloc[:200])[0, 1] > 0.9


def test_t_learner_points_are_exact():
    from lib.models.uplift import explain_uplift

    frame, _, _ = planted(n=3000, seed=5, blank=0.0)
    result = train_uplift(frame, infer_schema(frame), "responded", "yes", UpliftSettings("campaign", learner="t"))
    ex = explain_uplift(result, frame.iloc[:300])
    assert result.method == "t-learner"
    assert np.allclose(ex.points.sum(axis=1) + ex.base_points, 100 * result.table["uplift"].iloc[:300], atol=0.02)


# --- honesty: weak signals and non-random assignment ------------------------------------------------


SEED_WEAK = 13  # a draw where noise gives the best learner a Qini of about 0.1 (permutation p = 0.08)


def email_test(n: int = 42_693, seed: int = 0) -> pd.DataFrame:
    """Shaped like the public e-mail test (women's e-mail vs none) with its rare outcome "bought":
    0.6% without the e-mail, 0.9% with it, the same +0.3 pts for everyone (no one responds to it more
    than another). The base rate depends on the customer, so the learners have something to fit."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "recency": rng.integers(1, 13, n), "history": (rng.gamma(1.2, 200.0, n) + 29.99).round(2),
        "mens": (rng.random(n) < 0.55).astype(int), "womens": (rng.random(n) < 0.6).astype(int),
        "zip_code": rng.choice(["Surburban", "Urban", "Rural"], n, p=[0.45, 0.4, 0.15]),
        "newbie": (rng.random(n) < 0.5).astype(int),
        "channel": rng.choice(["Web", "Phone", "Multichannel"], n, p=[0.44, 0.44, 0.12]),
        "segment": rng.choice(["Womens E-Mail", "No E-Mail"], n),
    })
    z = -0.06 * (frame["recency"] - 6) + 0.25 * (frame["history"] > 300) - 0.3 * frame["newbie"]
    p0 = 0.006 * np.exp(z) / np.exp(z).mean()
    p = p0 + 0.003 * (frame["segment"] == "Womens E-Mail")
    frame["conversion"] = (rng.random(n) < p).astype(int)
    return frame


def test_weak_rare_outcome_says_the_data_cannot_tell():
    """On this file the best learner's holdout Qini is above 0 by chance: the permutation test, not the
    sign of the Qini, must stop the tool from claiming a ranking it does not have."""
    frame = email_test(seed=SEED_WEAK)
    result = train_uplift(frame, infer_schema(frame), "conversion", "1", UpliftSettings("segment"))
    assert result.treated_value == "Womens E-Mail" and result.control_value == "No E-Mail"
    assert result.qini > 0.03  # noise that looks like a ranking...
    assert result.p_value > 0.01  # ...and the test that sees through it
    assert not result.beats_random and not result.beats_propensity
    assert result.to_report()["beats_random"] is False
    assert result.verdict.startswith("The data cannot tell who responds to the campaign")
    assert "target by propensity or send to all" in result.verdict


def test_non_random_assignment_is_warned_naming_the_feature():
    rng = np.random.default_rng(8)
    n = 3000
    age = rng.integers(18, 81, n)
    frame = pd.DataFrame({"age": age, "visits": rng.poisson(2.0, n), "region": rng.choice(["N", "S", "E"], n)})
    sent = rng.random(n) < 1 / (1 + np.exp(-(age - 45) / 8))  # the older, the likelier to be sent
    frame["sent"] = np.where(sent, "yes", "no")
    frame["bought"] = np.where(rng.random(n) < 0.2 + 0.05 * sent, "yes", "no")
    result = train_uplift(frame, infer_schema(frame), "bought", "yes", UpliftSettings("sent", learner="t"))
    warning = [w for w in result.warnings if w.startswith("uplift needs a randomised control group")]
    assert warning and "treatment depends on age" in warning[0]
    assert "visits" not in warning[0] and "region" not in warning[0]
    assert not result.randomised
    assert result.balance.set_index("feature").loc["age", "imbalanced"]


def test_random_assignment_gives_no_warning(planted_run):
    result = planted_run[3]
    assert result.randomised and not result.balance["imbalanced"].any()
    assert not any("randomised" in w for w in result.warnings)


def test_same_seed_gives_identical_uplift():
    """A modest effect, so the permutation p-value is not simply its floor (1/500) and would move if
    any random step were unseeded."""
    frame, _, _ = planted(n=2500, seed=2, effect=0.5)
    schema = infer_schema(frame)
    one = train_uplift(frame, schema, "responded", "yes", UpliftSettings("campaign", seed=5))
    two = train_uplift(frame, schema, "responded", "yes", UpliftSettings("campaign", seed=5))
    pd.testing.assert_frame_equal(one.table, two.table)
    assert 0.01 < one.p_value < 0.2
    assert one.qini == two.qini and one.p_value == two.p_value and one.qini_ci == two.qini_ci
    assert one.verdict == two.verdict


# --- the treatment column and the errors a user can fix ---------------------------------------------


@pytest.mark.parametrize("values, treated, control", [
    (["email", "control"], "email", "control"),
    (["1", "0"], "1", "0"),
    ([1.0, 0.0], "1", "0"),
    ([True, False], "True", "False"),
    (["Womens E-Mail", "No E-Mail"], "Womens E-Mail", "No E-Mail"),
    (["treatment", "holdout"], "treatment", "holdout"),
    (["sent", "not sent"], "sent", "not sent"),
])
def test_treated_value_is_guessed(values, treated, control):
    assert resolve_arms(pd.Series(values * 5), "arm") == (treated, control)


def test_a_named_treated_value_picks_the_campaign_among_three_arms():
    s = pd.Series(["Womens E-Mail", "Mens E-Mail", "No E-Mail"] * 5)
    assert resolve_arms(s, "segment", "Womens E-Mail") == ("Womens E-Mail", "No E-Mail")


def test_missing_treatment_column_is_named():
    frame, _, _ = planted(n=500)
    with pytest.raises(DataValidationError, match="Treatment column 'arm' is not in the file"):
        train_uplift(frame, infer_schema(frame), "responded", "yes", UpliftSettings("arm"))


def test_one_arm_only_is_refused():
    frame, _, _ = planted(n=500)
    frame["campaign"] = "email"
    with pytest.raises(DataValidationError, match="'campaign' has one value .*control group"):
        train_uplift(frame, infer_schema(frame), "responded", "yes", UpliftSettings("campaign"))


def test_three_arms_without_a_treated_value_is_refused():
    frame, _, _ = planted(n=600)
    frame["campaign"] = np.resize(["Womens E-Mail", "Mens E-Mail", "No E-Mail"], len(frame))
    with pytest.raises(DataValidationError, match="'campaign' has 3 values.*treated value"):
        train_uplift(frame, infer_schema(frame), "responded", "yes", UpliftSettings("campaign"))


def test_too_few_control_customers_says_how_many_are_needed():
    frame, _, _ = planted(n=3000, blank=0.0)
    control = frame.index[frame["campaign"] == "control"]
    small = frame.drop(control[150:])
    with pytest.raises(DataValidationError, match=r"150 control \('campaign' = 'control'\).*at least 200"):
        train_uplift(small, infer_schema(small), "responded", "yes", UpliftSettings("campaign"))


def test_unknown_learner_is_refused():
    frame, _, _ = planted(n=500)
    with pytest.raises(DataValidationError, match="Unknown uplift learner 'q'"):
        train_uplift(frame, infer_schema(frame), "responded", "yes", UpliftSettings("campaign", learner="q"))
