"""The headless CLI contract: commands, report.json keys, output files and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from .conftest import ROOT, SAMPLES, SHARED, requires_shared

REPORT_KEYS = {"rows", "columns", "roles", "excluded_features", "segmentation", "segments", "model", "explain",
               "targeting", "timings_s", "warnings"}


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lib.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=600)


def assert_bad_input(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w in lines[0]


@pytest.mark.parametrize("name", ["shop_customers.csv", "shop_transactions.csv.gz", "bank_marketing.csv.gz"])
def test_check_prints_roles_and_quality_as_json_for_every_sample(name):
    proc = cli("check", "--input", str(SAMPLES / name))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["rows"] > 1000 and set(out["roles"]) and "problems" in out["quality"]


def test_check_with_target_reports_class_balance_and_leaks():
    out = json.loads(cli("check", "--input", str(SAMPLES / "bank_marketing.csv.gz"), "--target", "y").stdout)
    assert out["quality"]["class_balance"]["positive"] == 5289
    assert "duration" in {s["column"] for s in out["quality"]["leakage_suspects"]}


def test_run_fills_the_whole_contract(tmp_path):
    out = tmp_path / "out"
    proc = cli("run", "--input", str(SAMPLES / "shop_customers.csv"), "--out", str(out), "--target", "responded",
               "--positive", "yes", "--top", "500", "--control-pct", "10", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert REPORT_KEYS <= set(report)
    assert report["rows"] == 5000 and report["columns"] == 17
    assert report["segmentation"]["method"] == "kmeans" and report["segmentation"]["k"] >= 2
    assert {"id", "name", "size", "share"} <= set(report["segments"][0])
    for key in ("algorithm", "holdout_auc", "baseline_auc", "pr_auc", "brier", "lift_top_decile"):
        assert key in report["model"]
    assert report["explain"]["rows_explained"] == 5000 and report["explain"]["top_features"]
    assert report["targeting"] == report["targeting"] | {"selected": 450, "control": 50}
    assert {"total", "load", "segment", "train", "explain"} <= set(report["timings_s"])
    customers = pd.read_csv(out / "customers.csv", dtype={"id": str})
    assert list(customers.columns[:5]) == ["id", "segment", "segment_name", "score", "rank"]
    assert {"reason_1", "reason_2", "reason_3"} <= set(customers.columns)
    assert len(customers) == 5000 and customers["id"].is_unique
    targets = pd.read_csv(out / "targets.csv", dtype={"id": str})
    assert targets["group"].value_counts().to_dict() == {"target": 450, "control": 50}
    assert targets["score"].min() >= customers["score"].quantile(0.85)


def test_run_is_deterministic_byte_for_byte(tmp_path):
    args = ["--input", str(SAMPLES / "shop_customers.csv"), "--target", "responded", "--top-pct", "10",
            "--control-pct", "20"]
    assert cli("run", *args, "--out", str(tmp_path / "a")).returncode == 0
    assert cli("run", *args, "--out", str(tmp_path / "b")).returncode == 0
    for name in ("customers.csv", "targets.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_run_without_target_segments_only(tmp_path):
    proc = cli("run", "--input", str(SAMPLES / "shop_customers.csv"), "--out", str(tmp_path), "--segments", "4")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["segmentation"]["k"] == 4 and report["model"] is None
    assert list(pd.read_csv(tmp_path / "customers.csv").columns) == ["id", "segment", "segment_name"]


def test_transactions_with_horizon_build_out_of_time_labels(tmp_path):
    proc = cli("run", "--input", str(SAMPLES / "shop_transactions.csv.gz"), "--out", str(tmp_path),
               "--transactions", "--horizon", "60", "--segment-method", "rfm")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["model"]["validation"] == "out-of-time"
    last = pd.read_csv(SAMPLES / "shop_transactions.csv.gz", parse_dates=["order_date"])["order_date"].max()
    expected = (last + pd.Timedelta(days=1) - pd.Timedelta(days=60)).date().isoformat()
    assert report["model"]["out_of_time"]["cutoff"] == expected
    assert report["segmentation"]["method"] == "rfm"
    assert len(pd.read_csv(tmp_path / "customers.csv")) == 5000


@pytest.mark.parametrize(
    "args,words",
    [
        (["run", "--input", "sample_data/shop_customers.csv", "--out", "{tmp}", "--target", "nope"], ["nope"]),
        (["run", "--input", "sample_data/shop_customers.csv", "--out", "{tmp}", "--target", "region"],
         ["region", "two"]),
        (["run", "--input", "sample_data/shop_customers.csv", "--out", "{tmp}", "--exclude", "ghost"], ["ghost"]),
        (["run", "--input", "sample_data/shop_customers.csv", "--out", "{tmp}", "--segments", "many"], ["--segments"]),
        (["run", "--input", "missing.csv", "--out", "{tmp}"], ["not found"]),
        (["run", "--input", "sample_data/shop_customers.csv"], ["--out"]),
        (["check"], ["--input"]),
        (["run", "--input", "sample_data/shop_customers.csv", "--out", "{tmp}", "--top-pct", "150"], ["--top-pct"]),
        (["frobnicate"], ["invalid choice"]),
    ],
)
def test_bad_input_exits_2_with_one_error_line(tmp_path, args, words):
    assert_bad_input(cli(*[a.replace("{tmp}", str(tmp_path)) for a in args]), *words)


def test_a_usage_mistake_names_the_help_command_once():
    proc = cli("run", "--input", "x.csv", "--out", "o", "--top", "many")
    assert_bad_input(proc, "Run 'python -m lib.cli run --help' for usage.")
    assert "lib.cli lib.cli" not in proc.stderr
    assert "Run 'python -m lib.cli --help' for usage." in cli("--bogus").stderr


def test_formula_cells_are_neutralised_in_every_exported_file(tmp_path):
    """Ids are exported in customers.csv and targets.csv: ids that a spreadsheet would run as formulas
    come out with a leading apostrophe."""
    frame = pd.read_csv(SAMPLES / "shop_customers.csv").head(400)
    frame["customer_id"] = [f"=HYPERLINK(\"http://evil/{i}\")" if i % 4 == 0 else f"+{i}cmd" if i % 4 == 1 else
                            f"@SUM({i})" if i % 4 == 2 else f"-{i}+3" for i in range(400)]
    path = tmp_path / "inject.csv"
    frame.to_csv(path, index=False)
    proc = cli("run", "--input", str(path), "--out", str(tmp_path / "o"), "--target", "responded", "--id",
               "customer_id", "--top", "100")
    assert proc.returncode == 0, proc.stderr
    for name in ("customers.csv", "targets.csv"):
        ids = pd.read_csv(tmp_path / "o" / name, dtype={"id": str})["id"]
        assert ids.str.startswith("'").all(), name
        assert set(ids.str[1]) <= {"=", "+", "@", "-"}


def test_unreadable_file_exits_2(tmp_path):
    bad = tmp_path / "fake.csv"
    bad.write_bytes(b"\x00\x01binary" * 100)
    assert_bad_input(cli("check", "--input", str(bad)), "binary")


def test_results_command_prints_measured_lift(tmp_path):
    data = tmp_path / "data"
    out = tmp_path / "out"
    proc = cli("run", "--input", str(SAMPLES / "shop_customers.csv"), "--out", str(out), "--target", "responded",
               "--top", "2000", "--control-pct", "50", "--campaign", "Spring", "--data-dir", str(data))
    assert proc.returncode == 0, proc.stderr
    targets = pd.read_csv(out / "targets.csv", dtype={"id": str})
    from lib.act.campaigns import list_campaigns

    recorded = json.loads(list_campaigns(data)["model"].iloc[0])  # which model scored the campaign
    assert recorded["model_id"] == json.loads((out / "report.json").read_text())["model"]["model_id"]
    results = tmp_path / "results.csv"
    # Targets respond (treated), controls do not: a clear, planted effect.
    pd.DataFrame({"customer_id": targets["id"], "responded": (targets["group"] == "target").map({True: "yes", False: "no"})}
                 ).to_csv(results, index=False)
    proc = cli("results", "--campaign", "Spring", "--input", str(results), "--data-dir", str(data))
    assert proc.returncode == 0, proc.stderr
    lift = json.loads(proc.stdout)
    assert lift["target_rate"] == 1.0 and lift["control_rate"] == 0.0 and lift["verdict"].startswith("It worked")
    assert_bad_input(cli("results", "--campaign", "Nope", "--input", str(results), "--data-dir", str(data)), "Nope")


@requires_shared
@pytest.mark.shared
def test_run_on_the_online_retail_log(tmp_path):
    proc = cli("run", "--input", str(SHARED / "online_retail" / "online_retail.csv.gz"), "--out", str(tmp_path),
               "--transactions", "--horizon", "90")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["customers"] == 4372
    assert report["model"]["holdout_auc"] > 0.7


def _planted_campaign(path, n: int = 6000, seed: int = 0) -> None:
    """A randomised e-mail test: it helps the young, hurts the old and does nothing for the rest."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    visits = rng.poisson(3, n)
    sent = rng.random(n) < 0.5
    effect = np.where(age < 35, 0.12, np.where(age > 60, -0.05, 0.0))
    bought = rng.random(n) < np.clip(0.1 + 0.02 * (visits > 3) + sent * effect, 0, 1)
    pd.DataFrame({"customer_id": np.arange(1, n + 1), "age": age, "visits": visits,
                  "region": rng.choice(["N", "S", "E"], n), "group": np.where(sent, "email", "control"),
                  "converted": np.where(bought, "yes", "no")}).to_csv(path, index=False)


def test_treatment_learns_the_uplift_and_targets_by_it(tmp_path):
    _planted_campaign(tmp_path / "campaign.csv")
    proc = cli("run", "--input", str(tmp_path / "campaign.csv"), "--out", str(tmp_path / "o"), "--target", "converted",
               "--treatment", "group", "--top-pct", "20", "--control-pct", "10")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    uplift = report["uplift"]
    assert {"method", "qini", "auuc", "ate", "ate_ci", "n_treated", "n_control", "verdict",
            "uplift_by_decile"} <= set(uplift)
    assert uplift["qini"] > 0.05 and uplift["verdict"].startswith("Targeting by uplift beats")
    assert "group" not in report["model"]["features"]  # who got the campaign is never a feature
    customers = pd.read_csv(tmp_path / "o" / "customers.csv")
    assert {"uplift", "p_treated", "p_control"} <= set(customers.columns)
    if uplift["method"] in ("t-learner", "s-learner"):  # x, dr: uplift is their effect model's, p their start
        assert np.allclose(customers["uplift"], customers["p_treated"] - customers["p_control"], atol=2e-6)
    else:
        assert np.corrcoef(customers["uplift"], customers["p_treated"] - customers["p_control"])[0, 1] > 0.5
    assert uplift["refit_on_all_rows"] is True and "refitted on every labelled customer" in uplift["refit_note"]
    frame = pd.read_csv(tmp_path / "campaign.csv")
    targets = pd.read_csv(tmp_path / "o" / "targets.csv")
    young = frame.set_index("customer_id").loc[targets["id"], "age"] < 35
    assert young.mean() > 0.6  # the list is the persuadable young, not the likeliest buyers
    assert_bad_input(cli("run", "--input", str(tmp_path / "campaign.csv"), "--out", str(tmp_path / "p"),
                         "--treatment", "group"), "--target")


def test_recommend_writes_recommendations_and_puts_offers_on_the_list(tmp_path):
    proc = cli("run", "--input", str(SAMPLES / "shop_transactions.csv.gz"), "--out", str(tmp_path), "--transactions",
               "--horizon", "90", "--recommend", "5", "--top", "300")
    assert proc.returncode == 0, proc.stderr
    rec = pd.read_csv(tmp_path / "recommendations.csv", dtype={"id": str})
    assert list(rec.columns) == ["id", "rank", "item", "description", "score", "reason"]
    assert rec.groupby("id").size().max() == 5 and rec["reason"].str.len().min() > 10
    report = json.loads((tmp_path / "report.json").read_text())["recommend"]
    assert {"method", "k", "mode", "evaluated_customers", "hit_rate_at_k", "recall_at_k", "ndcg_at_k"} <= set(report)
    assert set(report["baselines"]) == {"popularity", "repeat"} and report["k"] == 5 and report["mode"] == "all"
    targets = pd.read_csv(tmp_path / "targets.csv", dtype={"id": str})
    assert {"recommended_1", "recommended_2", "recommended_3"} <= set(targets.columns)
    top = rec[rec["rank"] == 1].set_index("id")
    first = top["description"].where(top["description"].fillna("").astype(str) != "", top["item"])
    assert (targets["recommended_1"] == targets["id"].map(first)).all()


def test_recommend_on_a_customer_table_is_a_clear_error(tmp_path):
    assert_bad_input(cli("run", "--input", str(SAMPLES / "shop_customers.csv"), "--out", str(tmp_path),
                         "--recommend", "5"), "transaction log")


def test_a_transaction_log_gets_value_churn_risk_and_a_forecast(tmp_path):
    proc = cli("run", "--input", str(SAMPLES / "shop_transactions.csv.gz"), "--out", str(tmp_path), "--transactions",
               "--horizon", "60")
    assert proc.returncode == 0, proc.stderr
    customers = pd.read_csv(tmp_path / "customers.csv")
    assert {"predicted_orders", "predicted_value", "churn_risk", "clv_12m"} <= set(customers.columns)
    assert customers["churn_risk"].between(0, 1).all() and (customers["predicted_value"] >= 0).all()
    value = json.loads((tmp_path / "report.json").read_text())["value"]
    assert value["horizon_days"] == 60
    assert value["forecast_low"] <= value["forecast_total"] <= value["forecast_high"]
    assert value["forecast_total"] == pytest.approx(customers["predicted_value"].sum(), rel=0.01)
    assert {"naive", "bgnbd"} <= set(value["validation"]) and value["method"] in value["validation"]


def test_a_log_too_short_for_value_predictions_still_runs_and_says_why(tmp_path):
    log = pd.read_csv(SAMPLES / "shop_transactions.csv.gz", parse_dates=["order_date"])
    log[log["order_date"] > log["order_date"].max() - pd.Timedelta(days=100)].to_csv(tmp_path / "short.csv",
                                                                                      index=False)
    proc = cli("run", "--input", str(tmp_path / "short.csv"), "--out", str(tmp_path / "o"), "--transactions")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert "value" not in report
    assert any(w.startswith("No customer value predictions: The log covers 100 days") for w in report["warnings"])
    assert "predicted_value" not in pd.read_csv(tmp_path / "o" / "customers.csv").columns


def test_uplift_that_cannot_beat_random_leaves_the_list_ranked_by_score(tmp_path):
    rng = np.random.default_rng(5)
    n = 4000
    frame = pd.DataFrame({"customer_id": np.arange(1, n + 1), "age": rng.integers(18, 80, n),
                          "visits": rng.poisson(3, n), "group": np.where(rng.random(n) < 0.5, "email", "control")})
    frame["converted"] = np.where(rng.random(n) < 0.05 + 0.1 * (frame["visits"] > 3), "yes", "no")  # no effect
    frame.to_csv(tmp_path / "noise.csv", index=False)
    proc = cli("run", "--input", str(tmp_path / "noise.csv"), "--out", str(tmp_path / "o"), "--target", "converted",
               "--treatment", "group", "--top", "400")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["uplift"]["verdict"].startswith("The data cannot tell")
    assert any("ranked by score, not uplift" in w for w in report["warnings"])
    targets = pd.read_csv(tmp_path / "o" / "targets.csv")
    assert targets["score"].is_monotonic_decreasing
    assert_bad_input(cli("run", "--input", str(tmp_path / "noise.csv"), "--out", str(tmp_path / "p"), "--target",
                         "converted", "--treatment", "arm"), "treatment column 'arm'")
