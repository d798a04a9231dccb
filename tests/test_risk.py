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
    reasons = at.dataframe[1].value
    assert len(reasons) == flagged and reasons["risk_reason_1"].str.len().gt(0).all()
    orders = at.dataframe[2].value  # the shop's bulk buyers' orders, each with its reason
    assert metrics["Suspicious orders"] != "0" and set(orders["customer_id"]) <= set(reasons["customer_id"])
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


def test_risk_csv_holds_flagged_orders_with_their_reasons_next_to_the_customers(planted):
    result, who = planted
    table = result.flagged_table()
    assert list(table.columns[:3]) == ["level", "customer_id", "order_id"]
    assert set(table["level"]) == {"customer", "order"}
    orders = table[table["level"] == "order"]
    customers = table[table["level"] == "customer"]
    assert customers["order_id"].eq("").all() and orders["order_id"].ne("").all()
    assert set(orders["customer_id"]) <= set(customers["customer_id"])  # only flagged customers' orders
    burst = orders[orders["customer_id"] == str(who["burst"][0])]
    # The planted burst: 20 orders two minutes apart, listed in the order they were placed.
    assert burst["order_id"].tolist() == [f"S0-{j}" for j in range(20)] and (burst["risk_pattern"] == "burst").all()
    assert burst["risk_reason_1"].str.startswith("one of 20 orders within 38 minutes, placed 2022-03-01 10:").all()
    bulk = orders[orders["customer_id"] == str(who["bulk"][0])]
    assert sorted(bulk["order_id"]) == ["B0-0", "B0-1", "B0-2"]
    assert bulk["risk_reason_1"].str.startswith("80 units of Home in this order").all()
    # Each customer row comes before its orders.
    first = table.groupby("customer_id", sort=False)["level"].first()
    assert first.eq("customer").all()


def test_price_abusers_orders_name_the_price_paid_and_the_usual_one():
    log, abusers = product_log(price_abusers=3)
    orders = customer_risk(log).flagged_orders()
    mine = orders[orders["customer_id"] == abusers[0]]
    assert sorted(mine["order_id"]) == ["X0-0", "X0-1", "X0-2"] and (mine["risk_pattern"] == "price").all()
    assert mine["risk_reason_1"].str.match(r"paid \d+\.\d\d each for P[12] \(usual: \d+\.\d\d\); 2 lines").all()


def test_quick_returns_are_told_from_late_ones():
    """Wardrobers send back what they bought within days; other returners after months. Both return as
    much; only the first are quick returners, and their returned items are their flagged orders."""
    log, _ = product_log(seed=3)
    rows, quick, late = [], [str(600000 + i) for i in range(6)], [str(610000 + i) for i in range(6)]
    for who, gap in ((quick, 2), (late, 90)):
        for c in who:
            for o in range(5):
                when = pd.Timestamp("2023-02-01") + pd.Timedelta(days=20 * o, hours=3)
                rows.append((f"{c}-{o}", c, when, f"P{7 + o}", 1, 20.0))
                rows.append((f"{c}-{o}r", c, when + pd.Timedelta(days=gap), f"P{7 + o}", -1, 20.0))
    log = pd.concat([log, pd.DataFrame(rows, columns=log.columns)], ignore_index=True)
    result = customer_risk(log)
    tab = result.table.set_index("customer_id")
    assert (tab.loc[quick, "quick_returns"] == 5).all() and (tab.loc[late, "quick_returns"] == 0).all()
    said = tab["risk_reason_1"] + " | " + tab["risk_reason_2"]  # returned everything, too: both reasons
    assert said[quick].str.contains(r"returned 5 items within 14 days of buying them \(median 2 days\)").all()
    assert said[late].str.contains("returned 100% of what they bought").all()
    assert tab.loc[quick + late, "risk_flag"].all() and not said[late].str.contains("within 14 days").any()
    orders = result.flagged_orders()
    back = orders[(orders["customer_id"] == quick[0]) & (orders["risk_pattern"] == "quick_returns")]
    assert back["risk_reason_1"].tolist() == [f"returned P{7 + o} 2 days after buying it" for o in range(5)]


def test_quick_returns_skipped_with_a_reason_when_returns_cannot_be_matched():
    log, _ = product_log(n_customers=300)
    log = log.drop(columns=["stock_code"])  # no product: a return cannot be matched to its purchase
    rep = customer_risk(log).to_report()
    assert "product column to match a return" in rep["skipped"]["quick_returns"]


def _customer_table() -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The shop's customer table with a phone column, planted: one person behind six accounts (one e-mail
    written six ways), four accounts on one phone (written four ways), five with 90-day orders above
    their all-time orders."""
    f = load_table("sample_data/shop_customers.csv").frame.copy()
    rng = np.random.default_rng(0)
    f["orders_90d"] = np.minimum(f["orders"], rng.integers(0, 4, len(f)))
    f["phone"] = [f"+44 7{n:09d}" for n in rng.choice(10**9, len(f), replace=False)]
    ids = f["customer_id"].astype(str)
    planted = {"email": list(ids[10:16]), "phone": list(ids[100:104]), "implausible": list(ids[200:205])}
    f.loc[10:15, "email"] = ["Ann.Lee+promo@GMail.com", "annlee@gmail.com", " ANNLEE@gmail.com",
                             "ann.lee@googlemail.com", "annlee+1@gmail.com", "a.n.n.lee@gmail.com"]
    f.loc[100:103, "phone"] = ["+44 7700 900123", "07700900123", "7700-900-123", "(0)7700 900 123"]
    f.loc[200:204, "orders_90d"] = f.loc[200:204, "orders"] + 5
    return f, planted


def test_customer_table_flags_shared_contacts_and_implausible_values():
    from lib.flow.learn_more import table_risk_of

    f, planted = _customer_table()
    result = table_risk_of(f, RiskSettings(share=0.02), key=b"a test key, long enough", ids=f["customer_id"])
    tab = result.table.set_index("customer_id")
    assert tab.loc[planted["email"], "risk_reason_1"].eq("shares their e-mail address with 5 other customers").all()
    assert tab.loc[planted["phone"], "risk_reason_1"].eq("shares their phone number with 3 other customers").all()
    why = tab.loc[planted["implausible"], "risk_reason_1"]
    assert why.str.match(r"orders_90d \(\d+\) is above orders \(\d+\); for 99\.\d\d% of customers it is not").all()
    every = [c for ids in planted.values() for c in ids]
    assert tab.loc[every, "risk_flag"].all()
    assert result.to_report()["flagged_by_pattern"]["shared_contact"] == 10


def test_shared_contacts_are_compared_as_keyed_pseudonyms_never_in_clear(monkeypatch):
    """The comparison sees only HMAC pseudonyms: with the pseudonym function replaced, what is grouped is
    what it returns, and no contact text reaches the grouping."""
    import lib.models.risk.table as table

    seen = []

    def spy(values, key):
        out = real(values, key)
        seen.append((list(values[:3]), list(out[:3])))
        return out

    real = table.pseudonymise
    monkeypatch.setattr(table, "pseudonymise", spy)
    f, planted = _customer_table()
    one = table.sharing(f, {"email": "email", "phone": "phone"}, b"key one, long enough")
    two = table.sharing(f, {"email": "email", "phone": "phone"}, b"key two, long enough")
    assert [len(s[1][0]) for s in seen] == [20] * 4 and seen[0][1] != seen[2][1]  # pseudonyms differ by key
    assert one["shared_contact"].tolist() == two["shared_contact"].tolist()  # the same people share, either key


def test_saved_table_rules_carry_the_relations_and_contact_columns():
    from lib.flow.learn_more import table_risk_of

    f, planted = _customer_table()
    first = table_risk_of(f, None, key=b"a test key, long enough", ids=f["customer_id"])
    rules = RiskRules.from_dict(first.rules.to_dict())
    assert rules.kind == "table" and ["le", "orders_90d", "orders"] == rules.extra["relations"][0][:3]
    again = table_risk_of(f.head(1000), None, rules, key=b"a test key, long enough", ids=f["customer_id"].head(1000))
    assert again.rules_from == "model file" and again.rules.thresholds == first.rules.thresholds


def _log_app():
    from streamlit.testing.v1 import AppTest

    from .conftest import ROOT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.run()
    at.button(key="sample_shop_transactions.csv.gz").click().run()
    return at


def _ok(at) -> None:
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]


def test_risk_page_in_chinese(monkeypatch):
    import contextvars

    from lib.text import i18n

    # AppTest runs app.py (where the language is decided) only on its first run; later runs execute the
    # page alone, in a fresh context, so the page would fall back to English. Chinese as the context's
    # default stands in for app.py's decision on every run.
    monkeypatch.setattr(i18n, "_current", contextvars.ContextVar("bullseye_language", default="zh"))
    from streamlit.testing.v1 import AppTest

    from .conftest import ROOT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.query_params["lang"] = "zh"
    at.run()
    at.button(key="sample_shop_transactions.csv.gz").click().run()
    at.switch_page("pages/risk.py").run()
    [b for b in at.button if b.label == "检查风险"][0].click().run()
    _ok(at)
    assert at.title[0].value == "风险控制"
    metrics = {m.label: m.value for m in at.metric}
    assert {"客户数", "已标记", "可疑订单"} <= set(metrics) and metrics["已标记"] != "0"
    assert any(i.value.startswith("未检查：集中下单，因为") for i in at.info)  # no times of day: bursts skipped
    reasons = at.dataframe[1].value
    assert reasons["risk_reason_1"].str.contains("[\u4e00-\u9fff]").all()
    assert set(reasons["risk_pattern"]) <= {"频繁退货", "买后很快退货", "批量购买", "离群"}
    assert at.dataframe[2].value["risk_reason_1"].str.contains("本订单中有").all()


def _shares(at) -> pd.DataFrame | None:
    found = [d.value for d in at.dataframe if "flagged_share" in getattr(d.value, "columns", [])]
    return found[0] if found else None


def test_segments_and_value_pages_show_the_flagged_share_once_risk_has_run():
    at = _log_app()
    at.switch_page("pages/segments.py").run()
    [b for b in at.button if b.label == "Find segments"][0].click().run()
    _ok(at)
    assert _shares(at) is None  # no risk check yet: nothing to show
    at.switch_page("pages/risk.py").run()
    [b for b in at.button if b.label == "Check for risk"][0].click().run()
    flagged = int({m.label: m.value for m in at.metric}["Flagged"].replace(",", ""))
    at.switch_page("pages/segments.py").run()
    _ok(at)
    by_segment = _shares(at)
    assert any(s.value == "Flagged as risky, by segment" for s in at.subheader)
    assert by_segment["flagged"].sum() == flagged and by_segment["customers"].sum() == 5000
    assert (by_segment["flagged_share"] == (by_segment["flagged"] / by_segment["customers"]).round(4)).all()
    at.switch_page("pages/value.py").run()
    [b for b in at.button if b.label == "Predict value"][0].click().run()
    _ok(at)
    by_band = _shares(at)
    assert list(by_band["group"]) == ["Top 10% by value", "Next 20%", "Middle 40%", "Bottom 30%"]
    assert by_band["flagged"].sum() == flagged


def test_flagged_share_per_group_and_value_band():
    from types import SimpleNamespace

    from lib.models.risk.shares import flagged_by_group, value_band_order, value_bands

    ids = [str(i) for i in range(100)]
    result = SimpleNamespace(table=pd.DataFrame({"customer_id": ids, "risk_flag": [i < 6 for i in range(100)]}))
    groups = ["a"] * 40 + ["b"] * 55 + ["c"] * 5  # c is too small to show
    by = flagged_by_group(result, ids, groups).set_index("group")
    assert by.loc["a", "flagged"] == 6 and by.loc["a", "flagged_share"] == 0.15 and by.loc["b", "flagged"] == 0
    assert "c" not in by.index and by["customers"].sum() == 95  # 5 alone are hidden, as everywhere
    value = pd.Series(np.arange(100, 0, -1), dtype="float64")  # customer 0 is worth most
    bands = value_bands(value)
    assert bands.value_counts().to_dict() == {"Top 10% by value": 10, "Next 20%": 20, "Middle 40%": 40,
                                              "Bottom 30%": 30}
    by_band = flagged_by_group(result, ids, bands, value_band_order())
    assert list(by_band["group"]) == value_band_order() and by_band["flagged"].tolist() == [6, 0, 0, 0]


def test_cli_run_risk_on_a_customer_table(tmp_path):
    import json

    f, planted = _customer_table()
    src = tmp_path / "customers.csv"
    f.to_csv(src, index=False)
    _cli("run", "--input", str(src), "--risk", "--out", str(tmp_path / "out"))
    customers = pd.read_csv(tmp_path / "out" / "customers.csv", dtype={"id": str})
    flagged = set(customers.loc[customers["risk_flag"], "id"])
    assert set(planted["email"]) | set(planted["phone"]) <= flagged
    risk = pd.read_csv(tmp_path / "out" / "risk.csv", dtype={"customer_id": str})
    assert (risk["level"] == "customer").all() and set(risk["customer_id"]) == flagged
    assert "anna" not in (tmp_path / "out" / "risk.csv").read_text().lower()  # no contact detail in clear
    report = json.loads((tmp_path / "out" / "report.json").read_text())["risk"]
    assert report["flagged_by_pattern"]["shared_contact"] == 10 and report["skipped"] == {}


def test_invoice_prefixes_read_the_same_with_the_digit_shortcut():
    """lib.data.orders._prefix skips the regex for invoices starting with a digit (the risk check's
    biggest cost at 1M customers): the prefixes are those of the regex on every invoice."""
    from lib.data.orders import _prefix

    orders = np.array(["536379", "C536379", "c12", "A-1", "ab12", "退货123", "²AB", "", " 12", "_x", "12C", "Ｃ123"],
                      dtype=object)
    regex = pd.Series(orders, dtype=object).str.upper().str.extract(r"^([^\W\d_]+)", expand=False).fillna("")
    assert list(_prefix(orders)) == list(regex) == ["", "C", "C", "A", "AB", "退货", "²AB", "", "", "", "", "Ｃ"]
