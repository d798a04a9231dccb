"""Who goes on the list is decided once (lib.flow.listing), and every entry point follows it: ``run``,
``score`` on a saved model, the stream and Dask engines, and the Target list page."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lib.act.targeting import ListSpec
from lib.errors import DataValidationError
from lib.flow.listing import choose_ranking, make_list, with_uplift_by_id, with_value_by_id

from .test_cli import cli


def _base(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"id": [f"c{i}" for i in range(n)], "score": rng.random(n), "uplift": rng.normal(0, 0.05, n),
                         "predicted_value": rng.gamma(2, 50, n)})


def test_auto_ranks_by_uplift_only_when_the_uplift_model_beats_random():
    assert choose_ranking("auto", uplift=True, uplift_beats_random=True).by == "uplift"
    weak = choose_ranking("auto", uplift=True, uplift_beats_random=False)
    assert weak.by == "score" and weak.score_col == "score"
    assert any("ranked by score, not uplift" in w for w in weak.warnings)
    assert choose_ranking("auto").by == "score" and not choose_ranking("auto").warnings


def test_asking_for_an_order_the_run_cannot_give_is_a_clear_error():
    with pytest.raises(DataValidationError, match="needs an uplift model"):
        choose_ranking("uplift")
    with pytest.raises(DataValidationError, match="predicted value"):
        choose_ranking("expected_profit", value=False)
    with pytest.raises(DataValidationError, match="ranked by"):
        choose_ranking("loudest")
    # Asked for explicitly, a weak uplift model still ranks the list, with a warning that says so.
    asked = choose_ranking("uplift", uplift=True, uplift_beats_random=False)
    assert asked.by == "uplift" and asked.warnings


def test_the_four_orders_rank_by_what_they_say():
    base = _base()
    spec = ListSpec(top_n=20, cost_per_contact=1.0)
    by_score = make_list(base, spec, choose_ranking("score"))
    assert by_score.table["score"].is_monotonic_decreasing
    by_uplift = make_list(base, spec, choose_ranking("uplift", uplift=True, uplift_beats_random=True))
    assert by_uplift.table["uplift"].is_monotonic_decreasing
    profit = make_list(base, spec, choose_ranking("expected_profit", value=True))
    assert (profit.table["expected_profit"] == profit.table["score"] * profit.table["predicted_value"] - 1).all()
    assert profit.table["expected_profit"].is_monotonic_decreasing
    both = make_list(base, spec, choose_ranking("uplift_value", uplift=True, uplift_beats_random=True, value=True))
    assert np.allclose(both.table["expected_profit"], both.table["uplift"] * both.table["predicted_value"] - 1)
    assert both.table["expected_profit"].is_monotonic_decreasing
    # With customer values, the list's expected profit counts each customer's own value.
    # Without scores (no model yet) the list is made by filters only, in file order.
    unscored = make_list(base.drop(columns=["score", "uplift"]), spec, choose_ranking("auto"))
    assert list(unscored.table["id"]) == list(base["id"][:20])
    assert profit.expected_profit == pytest.approx((profit.send["score"] * profit.send["predicted_value"]).sum() - 20)


def test_uplift_and_value_join_the_list_by_id_whatever_the_row_order():
    base = _base(50)
    shuffled = base.sample(frac=1, random_state=3).reset_index(drop=True)
    joined = with_uplift_by_id(shuffled.drop(columns="uplift"), base["id"].to_numpy(), base["uplift"].to_numpy())
    assert joined.set_index("id")["uplift"].sort_index().equals(base.set_index("id")["uplift"].sort_index())
    values = pd.DataFrame({"customer_id": base["id"], "predicted_value": base["predicted_value"], "churn_risk": 0.5})
    valued = with_value_by_id(shuffled.drop(columns="predicted_value"), values)
    assert valued.set_index("id")["predicted_value"].sort_index().equals(
        base.set_index("id")["predicted_value"].sort_index())


def _no_effect_campaign(path, n: int = 4000) -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"customer_id": np.arange(1, n + 1), "age": rng.integers(18, 80, n),
                          "visits": rng.poisson(3, n), "group": np.where(rng.random(n) < 0.5, "email", "control")})
    frame["converted"] = np.where(rng.random(n) < 0.05 + 0.1 * (frame["visits"] > 3), "yes", "no")
    frame.to_csv(path, index=False)


def test_run_and_score_with_a_weak_uplift_model_send_the_same_list(tmp_path):
    """The uplift model cannot beat random: ``run`` ranks by score, and ``score`` with the saved model must
    too (it used to rank by uplift whenever the file had an uplift model: two lists sharing a third)."""
    _no_effect_campaign(tmp_path / "noise.csv")
    model = tmp_path / "m.bullseye"
    proc = cli("run", "--input", str(tmp_path / "noise.csv"), "--out", str(tmp_path / "run"), "--target", "converted",
               "--treatment", "group", "--top", "400", "--save-model", str(model))
    assert proc.returncode == 0, proc.stderr
    ran = json.loads((tmp_path / "run" / "report.json").read_text())
    assert ran["targeting"]["ranked_by"] == "score"
    proc = cli("score", "--model", str(model), "--input", str(tmp_path / "noise.csv"), "--out", str(tmp_path / "sc"),
               "--top", "400", "--engine", "memory")
    assert proc.returncode == 0, proc.stderr
    scored = json.loads((tmp_path / "sc" / "report.json").read_text())
    assert scored["uplift"]["beats_random"] is False and scored["targeting"]["ranked_by"] == "score"
    assert any("ranked by score, not uplift" in w for w in scored["warnings"])
    a = pd.read_csv(tmp_path / "run" / "targets.csv")
    b = pd.read_csv(tmp_path / "sc" / "targets.csv")
    assert list(a["id"]) == list(b["id"])
    # Asked for, the same model ranks by uplift in both commands, and says it is a guess.
    proc = cli("score", "--model", str(model), "--input", str(tmp_path / "noise.csv"), "--out", str(tmp_path / "u"),
               "--top", "400", "--rank-by", "uplift")
    assert proc.returncode == 0, proc.stderr
    assert pd.read_csv(tmp_path / "u" / "targets.csv")["uplift"].is_monotonic_decreasing


def test_the_cli_learns_from_a_recorded_campaign_and_targets_who_it_changed(tmp_path):
    """As the app's Campaigns page does: a recorded list with its control group, plus the results, teach
    who the campaign changes; the next list goes to them (the young here)."""
    rng = np.random.default_rng(1)
    n = 6000
    people = pd.DataFrame({"customer_id": np.arange(1, n + 1), "age": rng.integers(18, 80, n),
                           "visits": rng.poisson(3, n), "region": rng.choice(["N", "S", "E"], n)})
    people.to_csv(tmp_path / "people.csv", index=False)
    data = ["--data-dir", str(tmp_path / "data")]
    proc = cli("run", "--input", str(tmp_path / "people.csv"), "--out", str(tmp_path / "sent"), "--top-pct", "100",
               "--control-pct", "50", "--campaign", "spring", *data)
    assert proc.returncode == 0, proc.stderr
    sent = pd.read_csv(tmp_path / "sent" / "targets.csv").merge(people, left_on="id", right_on="customer_id")
    effect = np.where(sent["age"] < 35, 0.15, 0.0) * (sent["group"] == "target")
    bought = rng.random(len(sent)) < 0.05 + effect
    pd.DataFrame({"customer_id": sent["id"], "converted": np.where(bought, "yes", "no")}).to_csv(
        tmp_path / "results.csv", index=False)
    proc = cli("run", "--input", str(tmp_path / "people.csv"), "--out", str(tmp_path / "next"), "--top", "600",
               "--learn-from", "spring", "--results", str(tmp_path / "results.csv"), *data)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "next" / "report.json").read_text())
    assert report["uplift"]["beats_random"] and report["targeting"]["ranked_by"] == "uplift"
    chosen = people.set_index("customer_id").loc[pd.read_csv(tmp_path / "next" / "targets.csv")["id"]]
    assert (chosen["age"] < 35).mean() > 0.8
    bad = cli("run", "--input", str(tmp_path / "people.csv"), "--out", str(tmp_path / "x"), "--learn-from", "spring",
              *data)
    assert bad.returncode == 2 and "--results" in bad.stderr
