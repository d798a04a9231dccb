"""Target lists, control groups, safe exports and campaign history with measured lift."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from lib.act.campaigns import labels_from_results, list_campaigns, measure_lift, record_campaign
from lib.act.targeting import ListSpec, assign_control, build_list, neutralise_formulas, to_csv_bytes, to_xlsx_bytes
from lib.errors import DataValidationError

from .conftest import ROOT


def _customers(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": [f"C{i:05d}" for i in range(n)],
        "segment_name": rng.choice(["Loyal", "New", "Lapsed"], n),
        "score": rng.random(n).round(6),
        "consent": rng.choice(["yes", "no"], n, p=[0.9, 0.1]),
        "email": np.where(rng.random(n) < 0.05, None, [f"c{i}@x.com" for i in range(n)]),
    })


def test_top_n_takes_the_highest_scores_after_filters_and_exclusions():
    df = _customers()
    tl = build_list(df, ListSpec(segments=("Loyal", "New"), top_n=100, exclude_no_consent="consent",
                                 require_contact=("email",)))
    assert tl.selected == 100
    eligible = df[df["segment_name"].isin(["Loyal", "New"]) & (df["consent"] == "yes") & df["email"].notna()]
    assert set(tl.table["id"]) == set(eligible.nlargest(100, "score")["id"])
    assert "no consent (consent)" in tl.excluded_counts and "missing email" in tl.excluded_counts


def test_budget_buys_sends_and_the_control_group_is_free():
    tl = build_list(_customers(), ListSpec(budget=450, cost_per_contact=1.5, control_pct=10))
    assert tl.selected == 300 and tl.cost == pytest.approx(450)
    assert tl.control / (tl.selected + tl.control) == pytest.approx(0.1, abs=0.015)


def test_control_group_is_random_stratified_by_decile_and_reproducible():
    scores = np.random.default_rng(3).random(10_000)
    one = assign_control(scores, 20, seed=11)
    two = assign_control(scores, 20, seed=11)
    other = assign_control(scores, 20, seed=12)
    assert np.array_equal(one, two) and not np.array_equal(one, other)
    deciles = pd.qcut(pd.Series(scores).rank(method="first", ascending=False), 10, labels=False)
    share = pd.Series(one == "control").groupby(deciles).mean()
    assert np.allclose(share, 0.2, atol=0.005)


def test_formula_injection_is_neutralised_but_plain_numbers_are_not():
    df = pd.DataFrame({"name": ["=HYPERLINK(\"http://x\",\"y\")", "+SUM(A1:A2)", "@cmd", "-2+3", "-12.5", "Ann",
                                "\tTab", "\rCR"], "n": [1, 2, 3, 4, 5, 6, 7, 8]})
    safe = neutralise_formulas(df)
    assert safe["name"].tolist() == ["'=HYPERLINK(\"http://x\",\"y\")", "'+SUM(A1:A2)", "'@cmd", "'-2+3", "-12.5",
                                     "Ann", "'\tTab", "'\rCR"]
    assert df["name"].iloc[0].startswith("=")  # the input is not modified


def test_csv_and_xlsx_exports_round_trip_and_stay_safe():
    df = pd.DataFrame({"id": ["1", "2"], "name": ["张三", "=cmd|' /C calc'!A0"], "score": [0.9, 0.1]})
    plain = to_csv_bytes(df)
    excel = to_csv_bytes(df, excel_friendly=True)
    assert excel.startswith(b"\xef\xbb\xbf") and not plain.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(io.BytesIO(excel), encoding="utf-8-sig", dtype={"id": str})
    assert back["name"].tolist() == ["张三", "'=cmd|' /C calc'!A0"] and back["score"].tolist() == [0.9, 0.1]
    xlsx = to_xlsx_bytes(df, {"campaign": "Spring", "holdout AUC": 0.81})
    book = load_workbook(io.BytesIO(xlsx))
    assert book.sheetnames == ["List", "About"]
    cells = [c.value for c in book["List"]["B"]]
    assert cells == ["name", "张三", "'=cmd|' /C calc'!A0"]
    assert book["List"]["B3"].data_type == "s"
    about = {r[0].value: r[1].value for r in book["About"].iter_rows(min_row=2)}
    assert about["campaign"] == "Spring"


def _planted_campaign(tmp_path, n=20_000, base=0.05, effect=0.03, seed=0):
    rng = np.random.default_rng(seed)
    df = _customers(n, seed)
    tl = build_list(df, ListSpec(control_pct=50, seed=seed))
    record_campaign("Spring", tl.table, "id", "digest", tl.spec.describe(), {"holdout_auc": 0.8},
                    data_dir=tmp_path)
    treated = (tl.table["group"] == "target").to_numpy()
    responded = rng.random(len(tl.table)) < base + effect * treated
    return tl, pd.DataFrame({"customer_id": tl.table["id"], "responded": np.where(responded, "yes", "no")})


def test_lift_on_a_planted_example_matches_the_truth_within_its_interval(tmp_path):
    _, results = _planted_campaign(tmp_path)
    report = measure_lift("Spring", results, "customer_id", "responded", data_dir=tmp_path)
    assert report.uplift_ci[0] <= 0.03 <= report.uplift_ci[1]
    assert report.uplift_ci[0] > 0
    assert report.verdict.startswith("It worked")
    assert report.control_n == pytest.approx(10_000, abs=10)


def test_revenue_in_the_results_gives_the_extra_revenue_the_campaign_made(tmp_path):
    tl, results = _planted_campaign(tmp_path, n=4000, seed=2)
    treated = (tl.table["group"] == "target").to_numpy()
    # Responders spend 100; targeted customers also spend 5 more on average whatever they did.
    results["revenue"] = np.where(results["responded"] == "yes", 100.0, 0.0) + 5.0 * treated
    report = measure_lift("Spring", results, "customer_id", "responded", "revenue", data_dir=tmp_path)
    per_customer = results["revenue"][treated].mean() - results["revenue"][~treated].mean()
    assert report.incremental_revenue == pytest.approx(per_customer * treated.sum())
    assert report.to_dict()["incremental_revenue"] > 0
    with pytest.raises(DataValidationError, match="no revenue column 'sales'"):
        measure_lift("Spring", results, "customer_id", "responded", "sales", data_dir=tmp_path)


def test_no_effect_gets_an_honest_verdict(tmp_path):
    _, results = _planted_campaign(tmp_path, effect=0.0, seed=4)
    report = measure_lift("Spring", results, data_dir=tmp_path)
    assert report.verdict.startswith("No clear effect")


def test_history_persists_across_a_restart(tmp_path):
    tl, _ = _planted_campaign(tmp_path, n=500)
    code = (
        "from lib.act.campaigns import list_campaigns, campaign_members;"
        f"h = list_campaigns({str(tmp_path)!r}); m = campaign_members('Spring', {str(tmp_path)!r});"
        "print(h['name'].tolist(), len(m), sorted(m['group'].unique()))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"['Spring'] {len(tl.table)} ['control', 'target']"


def test_campaign_names_are_unique_and_unknown_names_are_explained(tmp_path):
    _planted_campaign(tmp_path, n=100)
    tl = build_list(_customers(100), ListSpec(control_pct=10))
    with pytest.raises(DataValidationError, match="already exists"):
        record_campaign("Spring", tl.table, "id", "d", {}, None, data_dir=tmp_path)
    with pytest.raises(DataValidationError, match="Known campaigns: Spring"):
        measure_lift("Autumn", pd.DataFrame({"id": ["C1"]}), data_dir=tmp_path)
    assert list_campaigns(tmp_path)["name"].tolist() == ["Spring"]


def test_results_become_labels_for_the_next_model(tmp_path):
    tl, results = _planted_campaign(tmp_path, n=400)
    labels = labels_from_results("Spring", results, data_dir=tmp_path)
    assert len(labels) == len(tl.table)
    targets = labels[labels["group"] == "target"]
    truth = results.set_index("customer_id").loc[targets["customer_id"], "responded"].to_numpy()
    assert (targets["responded"].to_numpy() == truth).all()
    assert labels.loc[labels["group"] == "control", "responded"].isna().all()


def test_expected_profit_uses_each_customers_own_value_when_given():
    customers = pd.DataFrame({"id": ["a", "b", "c"], "score": [0.5, 0.4, 0.1],
                              "predicted_value": [10.0, 100.0, 1000.0]})
    tl = build_list(customers, ListSpec(cost_per_contact=1.0, value_per_conversion=25.0, value_col="predicted_value"))
    assert tl.expected_profit == pytest.approx(0.5 * 10 + 0.4 * 100 + 0.1 * 1000 - 3)
    flat = build_list(customers, ListSpec(cost_per_contact=1.0, value_per_conversion=25.0))
    assert flat.expected_profit == pytest.approx(1.0 * 25 - 3)


def test_a_recorded_campaign_and_its_results_teach_who_the_campaign_changes(tmp_path):
    """Campaign record (who was sent, who was control) + results file + the customer file -> uplift."""
    from lib.flow.pipeline import CustomerSettings, UnderstandSettings, customers, learn_from_campaign, understand

    from .test_cli import _planted_campaign

    _planted_campaign(tmp_path / "campaign.csv")
    planted = pd.read_csv(tmp_path / "campaign.csv")
    sent = pd.DataFrame({"id": planted["customer_id"].astype(str),
                         "group": np.where(planted["group"] == "email", "target", "control"),
                         "score": 0.5})
    record_campaign("Spring", sent, "id", "digest", {}, None, data_dir=tmp_path)
    results = planted[["customer_id", "converted"]]
    from lib.act.campaigns import campaign_outcomes

    outcomes = campaign_outcomes("Spring", results, data_dir=tmp_path)
    assert set(outcomes["group"]) == {"target", "control"} and outcomes["responded"].notna().all()
    features = load_table_bytes(planted.drop(columns=["group", "converted"]))
    cust = customers(features, CustomerSettings())
    result = learn_from_campaign(cust, understand(cust, UnderstandSettings(id_col="customer_id")), outcomes)
    assert result.beats_random and result.qini > 0.05
    assert {"campaign_group", "campaign_responded"}.isdisjoint(result.features)
    young = (planted["age"] < 35).to_numpy()
    assert result.uplift[young].mean() > result.uplift[~young].mean() + 0.05


def load_table_bytes(frame: pd.DataFrame):
    from lib.data.io import load_table

    return load_table(frame.to_csv(index=False).encode(), "customers.csv")
