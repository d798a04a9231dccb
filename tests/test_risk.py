"""Risk control (lib.models.risk): planted abusers in a real log are found with the right reason, a
clean log flags few, a log that cannot show a pattern says so, and the CLI writes the columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.data.io import load_table
from lib.models.risk import RiskRules, RiskSettings, customer_risk
from lib.text.i18n import using

from .conftest import SHARED, requires_shared

SHOP = "sample_data/shop_transactions.csv.gz"


def _shop_with_times(seed: int = 0) -> pd.DataFrame:
    """The shop sample, every order given a time of day (its own dates have none), as a real till records."""
    f = load_table(SHOP).frame.copy()
    rng = np.random.default_rng(seed)
    orders = f["order_id"].unique()
    secs = pd.Series(rng.integers(8 * 3600, 22 * 3600, len(orders)), index=orders)
    f["order_date"] = f["order_date"] + pd.to_timedelta(f["order_id"].map(secs), unit="s")
    return f


def _line(cust, order, when, cat, qty, price):
    return {"order_id": order, "customer_id": cust, "order_date": when, "category": cat, "quantity": qty,
            "unit_price": price, "discounted": "no", "channel": "web", "region": "West"}


def plant(f: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, list[int]]]:
    """Serial returners (existing customers send back most of what they bought), bulk buyers and burst
    orderers (new customers), 8 of each."""
    rows, planted = [], {"returns": [], "bulk": [], "burst": []}
    t0 = pd.Timestamp("2022-03-01 10:00")
    buyers = f.groupby("customer_id")["order_id"].nunique()
    for i, cid in enumerate(buyers[buyers >= 3].index[:8]):
        mine = f[(f["customer_id"] == cid) & (f["quantity"] > 0)]
        for j, (_, ln) in enumerate(mine.iloc[1:].iterrows()):  # all but the first line come back
            rows.append(_line(cid, f"R{i}-{j}", ln["order_date"] + pd.Timedelta(days=3), ln["category"],
                              -ln["quantity"], ln["unit_price"]))
        planted["returns"].append(cid)
    for i in range(8):
        cid = 900000 + i
        for j in range(3):
            rows.append(_line(cid, f"B{i}-{j}", t0 + pd.Timedelta(days=10 * j), "Home", 80, 12.0))
        planted["bulk"].append(cid)
    for i in range(8):
        cid = 910000 + i
        for j in range(20):
            rows.append(_line(cid, f"S{i}-{j}", t0 + pd.Timedelta(minutes=2 * j + i), "Toys", 1, 20.0))
        planted["burst"].append(cid)
    return pd.concat([f, pd.DataFrame(rows)], ignore_index=True), planted


def product_log(n_customers: int = 2000, seed: int = 1, price_abusers: int = 0) -> tuple[pd.DataFrame, list]:
    """A clean synthetic shop with 50 products at their own prices (list, or 20% off), times of day and the odd return."""
    rng = np.random.default_rng(seed)
    price = rng.uniform(2, 50, 50).round(2)
    rows = []
    for c in range(n_customers):
        for o in range(rng.integers(1, 6)):
            when = pd.Timestamp("2023-01-01") + pd.Timedelta(seconds=int(rng.integers(0, 300 * 86400)))
            for p in rng.choice(50, rng.integers(1, 4), replace=False):
                q = int(rng.integers(1, 4))
                rows.append((f"{c}-{o}", c, when, f"P{p}", q, round(price[p] * rng.choice([1.0, 1.0, 1.0, 0.8]), 2)))
        if rng.random() < 0.03:  # an ordinary return of one item
            rows.append((f"{c}-r", c, when + pd.Timedelta(days=5), f"P{p}", -1, price[p]))
    abusers = []
    for i in range(price_abusers):
        c = 500000 + i
        for o in range(3):
            when = pd.Timestamp("2023-05-01") + pd.Timedelta(days=7 * o, hours=i)
            for p in (1, 2):
                rows.append((f"X{i}-{o}", c, when, f"P{p}", 2, round(price[p] * 0.15, 2)))
        abusers.append(str(c))
    cols = ["invoice_no", "customer_id", "invoice_date", "stock_code", "quantity", "unit_price"]
    return pd.DataFrame(rows, columns=cols), abusers


@pytest.fixture(scope="module")
def planted():
    log, who = plant(_shop_with_times())
    return customer_risk(log), who


def test_planted_abusers_are_in_the_riskiest_two_percent_with_the_right_reason(planted):
    result, who = planted
    tab = result.table.set_index("customer_id")
    words = {"returns": "returned", "bulk": "units of", "burst": "orders within"}
    # The planted returns come back 3 days after the purchase: serial returns, and quick ones too.
    family = {"returns": ("returns", "quick_returns"), "bulk": ("bulk",), "burst": ("burst",)}
    for pattern, ids in who.items():
        ids = [str(i) for i in ids]
        assert tab.loc[ids, "risk_flag"].mean() >= 0.75, pattern
        assert tab.loc[ids, "risk_pattern"].isin(family[pattern]).mean() >= 0.75, pattern
        assert tab.loc[ids, "risk_reason_1"].str.contains(words[pattern]).mean() >= 0.75, pattern
    assert result.flagged.shape[0] <= np.ceil(0.02 * len(tab))


def test_report_counts_flagged_per_pattern_and_thresholds(planted):
    rep = planted[0].to_report()
    assert rep["flagged_by_pattern"]["burst"] >= 6 and rep["flagged_by_pattern"]["bulk"] >= 6
    assert set(rep["thresholds"]) >= {"returns", "bulk", "burst"}
    assert "price" in rep["skipped"] and "categor" in rep["skipped"]["price"]


def test_price_abusers_found_on_a_log_with_products():
    log, abusers = product_log(price_abusers=6)
    tab = customer_risk(log).table.set_index("customer_id")
    assert tab.loc[abusers, "risk_flag"].all()
    assert tab.loc[abusers, "risk_reason_1"].str.contains("under half the usual price").all()


def test_a_clean_log_flags_few():
    log, _ = product_log()
    result = customer_risk(log)
    assert result.table["risk_flag"].mean() < 0.01


def test_a_log_without_returns_or_times_says_which_patterns_it_skipped():
    log, _ = product_log(n_customers=300)
    log = log[log["quantity"] > 0].assign(invoice_date=lambda d: d["invoice_date"].dt.normalize())
    rep = customer_risk(log).to_report()
    assert set(rep["skipped"]) == {"returns", "quick_returns", "burst"}
    assert "time of day" in rep["skipped"]["burst"] and "returns" in rep["skipped"]["returns"]


def test_a_tiny_log_warns_that_thresholds_are_unreliable():
    log, _ = product_log(n_customers=80)
    assert any("unreliable" in w for w in customer_risk(log).warnings)


def test_saved_rules_judge_a_new_file_by_the_same_standard():
    log, _ = product_log()
    first = customer_risk(log)
    rules = RiskRules.from_dict(first.rules.to_dict())
    again = customer_risk(product_log(seed=2)[0], rules=rules)
    assert again.rules.thresholds == first.rules.thresholds


def test_risky_share_is_changeable(planted):
    log, _ = plant(_shop_with_times())
    assert customer_risk(log, RiskSettings(share=0.001)).table["risk_flag"].sum() <= 6


def test_reasons_in_chinese():
    log, abusers = product_log(price_abusers=3)
    with using("zh"):
        tab = customer_risk(log).table.set_index("customer_id")
    assert "通常价格" in tab.loc[abusers[0], "risk_reason_1"]


def test_cli_run_risk_writes_columns_risk_csv_and_leaves_risky_off_the_list(tmp_path):
    import json
    import subprocess
    import sys

    log, abusers = product_log(n_customers=400, price_abusers=4)
    src = tmp_path / "log.csv"
    log.to_csv(src, index=False)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "lib.cli", "run", "--input", str(src), "--transactions", "--risk",
                           "--no-value", "--top", "1000", "--exclude-risky", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    customers = pd.read_csv(out / "customers.csv", dtype={"id": str})
    assert {"risk_score", "risk_flag", "risk_reason_1", "risk_reason_2", "risk_reason_3"} <= set(customers.columns)
    flagged = set(customers.loc[customers["risk_flag"], "id"])
    assert set(abusers) <= flagged
    risk = pd.read_csv(out / "risk.csv", dtype={"customer_id": str})
    assert set(risk["customer_id"]) == flagged and risk["risk_reason_1"].str.len().gt(0).all()
    targets = pd.read_csv(out / "targets.csv", dtype={"id": str})
    assert not set(targets["id"]) & flagged
    report = json.loads((out / "report.json").read_text())
    assert report["risk"]["flagged_by_pattern"]["price"] == 4
    assert report["targeting"]["excluded"]["flagged as risky"] == len(flagged)


def test_list_leaves_flagged_customers_out_only_when_asked():
    from lib.act.targeting import ListSpec, build_list

    table = pd.DataFrame({"id": ["a", "b", "c"], "score": [0.9, 0.5, 0.1], "risk_flag": [True, False, False]})
    assert build_list(table, ListSpec()).selected == 3
    kept = build_list(table, ListSpec(exclude_risky=True))
    assert list(kept.table["id"]) == ["b", "c"] and kept.excluded_counts["flagged as risky"] == 1


def test_risk_page_flags_with_reasons_and_the_target_list_can_leave_them_out():
    from streamlit.testing.v1 import AppTest

    from .conftest import ROOT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.button(key="sample_shop_transactions.csv.gz").click().run()
    at.switch_page("pages/risk.py").run()
    [b for b in at.button if b.label == "Check for risk"][0].click().run()
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    metrics = {m.label: m.value for m in at.metric}
    flagged = int(metrics["Flagged"].replace(",", ""))
    assert metrics["Customers"] == "5,000" and flagged > 0
    assert any("time of day" in i.value for i in at.info)  # the shop sample's dates have no time: burst skipped
    reasons = at.dataframe[-1].value
    assert len(reasons) == flagged and reasons["risk_reason_1"].str.len().gt(0).all()
    at.switch_page("pages/targets.py").run()
    switch = at.checkbox(key="tgt_no_risky")
    assert f"({flagged})" in switch.label and not switch.value
    switch.check().run()
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    assert any(f"{flagged} flagged as risky" in c.value for c in at.caption)
    listed = at.dataframe[-1].value
    assert not set(listed["customer_id"].astype(str)) & set(reasons["customer_id"].astype(str))


@requires_shared
def test_online_retail_flags_every_pattern_with_the_product_named():
    path = SHARED / "online_retail" / "online_retail.csv.gz"
    result = customer_risk(load_table(path).frame)
    rep = result.to_report()
    assert rep["skipped"] == {} and all(rep["flagged_by_pattern"][p] > 0 for p in ("returns", "bulk", "price", "burst"))
    tab = result.table.set_index("customer_id")
    assert tab.loc["12346", "risk_reason_1"].startswith("bought 74,215 units of MEDIUM CERAMIC TOP STORAGE JAR")


def _cli(*argv: str) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "lib.cli", *argv], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr


def test_score_judges_next_months_file_by_the_thresholds_in_the_model_file(tmp_path):
    """A wholesale month (everyone buys 12 times as much): by its own thresholds nobody stands out, by the
    saved model's standard the biggest buyers are bulk buyers."""
    import json

    first, _ = product_log(n_customers=600, seed=1)
    later, _ = product_log(n_customers=600, seed=2)
    later["quantity"] *= 12
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    first.to_csv(a, index=False)
    later.to_csv(b, index=False)
    model = tmp_path / "m.bullseye"
    _cli("run", "--input", str(a), "--transactions", "--horizon", "60", "--no-value", "--risk", "--save-model",
         str(model), "--out", str(tmp_path / "run"))
    learned = json.loads((tmp_path / "run" / "report.json").read_text())["risk"]["thresholds"]
    _cli("score", "--model", str(model), "--input", str(b), "--out", str(tmp_path / "score"))
    report = json.loads((tmp_path / "score" / "report.json").read_text())["risk"]
    assert report["thresholds_from"] == "model file" and report["thresholds"] == learned
    scored = pd.read_csv(tmp_path / "score" / "customers.csv", dtype={"id": str})
    by_saved = set(scored.loc[scored["risk_flag"], "id"])
    own = customer_risk(later).table
    by_own = set(own.loc[own["risk_flag"], "customer_id"])
    assert by_saved != by_own
    assert report["flagged_by_pattern"]["bulk"] >= 10
    assert int((own["risk_flag"] & (own["risk_pattern"] == "bulk")).sum()) < 5
    risk = pd.read_csv(tmp_path / "score" / "risk.csv", dtype={"customer_id": str})
    assert set(risk.loc[risk["level"] == "customer", "customer_id"]) == by_saved
