"""Recommendations (lib/models/recommend/): planted logs whose right answers are known, the cleaning of
non-purchase lines, the honesty of the time-split evaluation, and the real Online Retail log."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lib.data.io import load_table
from lib.errors import DataValidationError
from lib.models.recommend import (
    METHODS,
    RecommendSettings,
    bought_together,
    offers_for,
    recommend,
    top_items_by_segment,
)

from .conftest import SAMPLES, SHARED, requires_shared

START = pd.Timestamp("2024-01-01")
COLOURS = ["RED", "BLUE", "GREEN", "PINK", "WHITE", "BLACK", "GOLD", "IVORY", "SILVER", "ORANGE"]
THINGS = ["TEACUP", "LANTERN", "CUSHION"]  # one "taste" per thing


def _desc(item: int) -> str:
    return f"{COLOURS[item % 10]} {THINGS[item // 10]}"


def _planted_log(seed: int = 0, customers: int = 150, days: int = 180) -> pd.DataFrame:
    """Three tastes (teacups, lanterns, cushions), ten items each. Each customer keeps to one taste:
    a staple bought in most orders plus a few other items of that taste, never the others."""
    rng = np.random.default_rng(seed)
    rows = []
    order_no = 500000
    for c in range(customers):
        taste = c % 3
        items = taste * 10 + rng.permutation(10)
        staple, usual = items[0], items[1:6]  # items[6:] are never bought: discoveries to find
        for _ in range(rng.integers(6, 12)):
            day = START + pd.Timedelta(days=int(rng.integers(0, days)), minutes=int(rng.integers(0, 600)))
            basket = set(rng.choice(usual, size=rng.integers(1, 3), replace=False).tolist())
            if rng.random() < 0.85:
                basket.add(staple)
            for it in sorted(basket):
                rows.append((str(order_no), f"{20000 + it}", _desc(it), int(rng.integers(1, 6)), day, 2.5, 12000 + c))
            order_no += 1
    frame = pd.DataFrame(rows, columns=["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate",
                                        "UnitPrice", "CustomerID"])
    return frame.sort_values("InvoiceDate", kind="stable").reset_index(drop=True)


def _taste(code: str) -> int:
    return (int(code) - 20000) // 10


def _owned(frame: pd.DataFrame) -> set[tuple[str, str]]:
    sales = frame[(frame["Quantity"] > 0) & ~frame["InvoiceNo"].astype(str).str.startswith("C")]
    return set(zip(sales["CustomerID"].astype(str), sales["StockCode"].astype(str)))


@pytest.fixture(scope="module")
def planted():
    return _planted_log()


@pytest.fixture(scope="module")
def planted_new(planted):
    return recommend(planted, RecommendSettings(k=3, mode="new", test_days=30))


@pytest.fixture(scope="module")
def planted_all(planted):
    return recommend(planted, RecommendSettings(k=5, mode="all", test_days=30))


def test_planted_tastes_recommend_the_right_items(planted_new):
    t = planted_new.table
    first = t[t["rank"] == 1]
    right = (first["item"].map(_taste) == first["id"].astype(int).sub(12000).mod(3)).mean()
    # Every customer has four never-bought items of their own taste: the first offer is one of them.
    assert right >= 0.9, f"only {right:.0%} of first offers match the customer's taste"
    assert planted_new.method in ("neighbours", "als", "blend")
    ev = planted_new.evaluation.set_index(["method", "mode"])
    assert ev.loc[(planted_new.method, "new"), "hit_rate_at_k"] > ev.loc[("popularity", "new"), "hit_rate_at_k"]


def test_new_mode_never_recommends_an_owned_item(planted, planted_new):
    owned = _owned(planted)
    pairs = set(zip(planted_new.table["id"], planted_new.table["item"]))
    assert pairs and not (pairs & owned)
    assert (planted_new.table.groupby("id").size() == 3).all()


def test_all_mode_includes_repeat_purchases(planted, planted_all):
    t = planted_all.table
    first = t[t["rank"] == 1].set_index("id")
    # The staple (the item in most of the customer's orders) comes first, with the repeat reason.
    sales = planted.assign(id=planted["CustomerID"].astype(str))
    staple = sales.groupby(["id", "StockCode"])["InvoiceNo"].nunique().reset_index() \
        .sort_values(["id", "InvoiceNo"], ascending=[True, False]).drop_duplicates("id").set_index("id")["StockCode"]
    assert (first["item"] == staple.reindex(first.index)).mean() >= 0.9
    assert first["reason"].str.match(r"^bought .+ (\d+ times|twice|once), (last )?\d+ (day|week|month|year)s? ago$").all()
    owned = _owned(planted)
    assert np.mean([(i, it) in owned for i, it in zip(t["id"], t["item"])]) > 0.5
    assert planted_all.method in ("repeat", "blend")
    # The own-items baseline itself: far above popularity when customers re-buy.
    ev = planted_all.evaluation.set_index(["method", "mode"])["hit_rate_at_k"]
    assert ev[("repeat", "all")] > ev[("popularity", "all")] + 0.2


def test_evaluation_uses_only_data_before_the_test_window(planted):
    # In the last 30 days every order is of a brand-new item Z that did not exist before. No method can
    # recommend Z in the evaluation (it is unknown before the cut-off), so every hit rate is 0 -- yet
    # the final lists, refitted on all the data, offer Z first: it is the most popular item now.
    frame = planted[planted["InvoiceDate"] < START + pd.Timedelta(days=150)].copy()
    late = planted[planted["InvoiceDate"] >= START + pd.Timedelta(days=150)].copy()
    late["StockCode"] = "29999"
    late["Description"] = "BRAND NEW SPINNING TOP"
    log = pd.concat([frame, late], ignore_index=True)
    rec = recommend(log, RecommendSettings(k=3, mode="all", test_days=30))
    assert (rec.evaluation["customers"] > 0).all()
    assert (rec.evaluation["hit_rate_at_k"] == 0).all()
    assert rec.evaluation["validation_hit_rate_at_k"].gt(0).any()
    assert rec.popular["item"].iloc[0] == "29999"
    refit = recommend(log, RecommendSettings(k=3, mode="all", test_days=30, method="popularity"))
    assert (refit.table.loc[refit.table["rank"] == 1, "item"] == "29999").all()


def test_cancellations_returns_and_fees_are_left_out(planted):
    # Codes chosen so that each rule has to work on its own (none is in lib.data.features.NON_PRODUCT_CODES
    # except POST): a code with no digit among SKU-like codes, a fee description on a numeric code, a
    # price typed per order, a cancelled item and a returned item that nobody otherwise bought.
    rng = np.random.default_rng(3)
    orders = planted.drop_duplicates("InvoiceNo").head(400)
    extra = []
    for n, (_, o) in enumerate(orders.iterrows()):
        base = dict(InvoiceNo=o["InvoiceNo"], InvoiceDate=o["InvoiceDate"], CustomerID=o["CustomerID"])
        if n < 300:
            extra.append({**base, "StockCode": "POST", "Description": "POSTAGE", "Quantity": 1, "UnitPrice": 18.0})
            extra.append({**base, "StockCode": "SHIPPING", "Description": "Shipping", "Quantity": 1, "UnitPrice": 5.0})
            extra.append({**base, "StockCode": "AMZ", "Description": "Marketplace", "Quantity": 1, "UnitPrice": 3.0})
            extra.append({**base, "StockCode": "90001", "Description": "Next Day Carriage", "Quantity": 1, "UnitPrice": 9.0})
            extra.append({**base, "StockCode": "77777", "Description": "Misc line", "Quantity": 1,
                          "UnitPrice": float(np.round(rng.uniform(1, 500), 2))})
        extra.append({**base, "InvoiceNo": "C" + str(o["InvoiceNo"]), "StockCode": "28888",
                      "Description": "CANCELLED VASE", "Quantity": -2, "UnitPrice": 4.0})
        extra.append({**base, "StockCode": "27777", "Description": "RETURNED JUG", "Quantity": -1, "UnitPrice": 4.0})
    log = pd.concat([planted, pd.DataFrame(extra)], ignore_index=True)
    rec = recommend(log, RecommendSettings(k=10, mode="all", test_days=30))
    banned = {"POST", "SHIPPING", "AMZ", "90001", "77777", "28888", "27777"}
    assert not banned & set(rec.table["item"])
    assert not banned & set(rec.popular["item"])
    assert set(rec.non_product_items["item"]) == {"POST", "SHIPPING", "AMZ", "90001", "77777"}
    assert rec.lines_left_out["cancellation"] == 400
    assert rec.lines_left_out["return (negative quantity or amount)"] == 400
    assert rec.lines_left_out["non-product line (postage, fee, adjustment)"] == 1500
    assert rec.items_used == 30
    # Real products that merely contain such words are kept.
    log2 = log.copy()
    log2.loc[log2["StockCode"] == "20000", "Description"] = "FRENCH CARRIAGE LANTERN"
    log2.loc[log2["StockCode"] == "20001", "Description"] = "PIGGY BANK"
    assert set(recommend(log2, RecommendSettings(k=3, test_days=30)).non_product_items["item"]) == {
        "POST", "SHIPPING", "AMZ", "90001", "77777"}


def test_cold_customer_gets_popular_items_with_the_popular_reason(planted):
    cold = pd.DataFrame([{
        "InvoiceNo": "C999999", "StockCode": "20001", "Description": _desc(1), "Quantity": -1,
        "InvoiceDate": START + pd.Timedelta(days=100), "UnitPrice": 2.5, "CustomerID": 99999,
    }])
    rec = recommend(pd.concat([planted, cold], ignore_index=True), RecommendSettings(k=4, mode="all", test_days=30))
    mine = rec.table[rec.table["id"] == "99999"].sort_values("rank")
    assert len(mine) == 4
    assert mine["item"].tolist() == rec.popular["item"].head(4).tolist()
    assert (mine["reason"] == "popular with all customers in the last 30 days (no purchase history yet)").all()
    assert rec.cold_customers == 1


def test_same_file_and_settings_give_the_same_lists(planted):
    settings = RecommendSettings(k=5, mode="new", test_days=30, seed=7)
    a = recommend(planted, settings)
    b = recommend(planted.copy(), settings)
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(a.evaluation, b.evaluation)
    assert a.hyper == b.hyper


def test_recommend_does_not_modify_the_frame(planted):
    before = planted.copy()
    recommend(planted, RecommendSettings(k=3, test_days=30))
    pd.testing.assert_frame_equal(planted, before)


def test_reasons_read_as_words_with_the_real_description(planted_new, planted_all):
    t = planted_new.table
    # Discovery reasons name the customer's own items by their description.
    assert t["reason"].str.match(r"^customers who buy [A-Z]+ [A-Z]+( and [A-Z]+ [A-Z]+)? also buy this$").mean() > 0.9
    named = t["reason"].str.extract(r"^customers who buy ([A-Z]+ [A-Z]+)")[0].dropna()
    assert set(named) <= {_desc(i) for i in range(30)}
    assert (t["description"] == t["item"].astype(int).sub(20000).map(_desc)).all()
    a = planted_all.table
    repeat = a[a["reason"].str.startswith("bought ")]
    assert (repeat.apply(lambda r: r["reason"].startswith(f"bought {r['description']} "), axis=1)).all()


def test_shop_sample_works_end_to_end():
    frame = load_table(SAMPLES / "shop_transactions.csv.gz").frame
    rec = recommend(frame, RecommendSettings(k=3))
    assert rec.table["id"].nunique() == frame["customer_id"].nunique()
    assert (rec.table.groupby("id").size() == 3).all()
    assert list(rec.table.columns) == ["id", "rank", "item", "description", "score", "reason"]
    assert set(rec.table["item"]) <= set(frame["category"])
    assert any("categor" in w for w in rec.warnings)
    report = json.loads(json.dumps(rec.to_report()))
    assert report["evaluated_customers"] > 1000
    offers = offers_for(rec)
    assert list(offers.columns) == ["id", "recommended_1", "recommended_2", "recommended_3"]
    assert len(offers) == rec.table["id"].nunique()


def test_report_has_the_agreed_shape(planted_all):
    report = planted_all.to_report()
    json.dumps(report)
    for key in ("method", "k", "mode", "evaluated_customers", "hit_rate_at_k", "recall_at_k", "ndcg_at_k"):
        assert key in report
    assert set(report["baselines"]) == {"popularity", "repeat"}
    assert set(report["baselines"]["repeat"]) == {"hit_rate_at_k", "recall_at_k", "ndcg_at_k"}
    ev = planted_all.evaluation
    assert len(ev) == 2 * len(METHODS)
    assert {"method", "mode", "hit_rate_at_k", "recall_at_k", "ndcg_at_k", "customers"} <= set(ev.columns)
    chosen = ev[(ev["method"] == planted_all.method) & (ev["mode"] == "all")].iloc[0]
    assert report["hit_rate_at_k"] == pytest.approx(chosen["hit_rate_at_k"], abs=1e-4)
    assert report["evaluated_customers"] == chosen["customers"] == planted_all.evaluated_customers


def test_a_customer_table_is_refused_with_a_clear_message():
    customers = pd.read_csv(SAMPLES / "shop_customers.csv")
    with pytest.raises(DataValidationError, match="Recommendations need a transaction log with a product column"):
        recommend(customers, RecommendSettings())
    # Even with a product-like column, one row per customer is a customer table, not an order log.
    favourite = customers.assign(favourite_category=np.where(customers["age"] > 40, "Home", "Garden"))
    with pytest.raises(DataValidationError, match="exactly one row, so this looks like a customer table"):
        recommend(favourite, RecommendSettings())


def test_unknown_mode_or_method_is_a_clear_error(planted):
    with pytest.raises(DataValidationError, match="Mode 'fresh'"):
        recommend(planted, RecommendSettings(mode="fresh"))
    with pytest.raises(DataValidationError, match="Method 'magic'"):
        recommend(planted, RecommendSettings(method="magic"))


def test_a_chosen_method_is_used(planted):
    rec = recommend(planted, RecommendSettings(k=3, mode="all", test_days=30, method="popularity"))
    assert rec.method == "popularity"
    top = rec.popular["item"].head(3).tolist()
    # Popularity in "all" mode: the same three items for everybody.
    assert rec.table.groupby("id")["item"].apply(lambda items: sorted(items) == sorted(top)).all()


def test_offers_and_top_items_by_segment(planted_new):
    offers = offers_for(planted_new, n=2)
    assert list(offers.columns) == ["id", "recommended_1", "recommended_2"]
    first = planted_new.table[planted_new.table["rank"] == 1].set_index("id")["description"]
    assert (offers.set_index("id")["recommended_1"] == first.reindex(offers["id"]).to_numpy()).all()
    ids = np.arange(12000, 12150)
    names = np.array(["teacup people", "lantern people", "cushion people"])[(ids - 12000) % 3]
    top = top_items_by_segment(planted_new, ids, names, n=3)
    assert list(top.columns) == ["segment", "rank", "item", "description", "customers", "share"]
    assert top["segment"].unique().tolist() == ["teacup people", "lantern people", "cushion people"]
    t = planted_new.table.assign(segment=planted_new.table["id"].astype(int).sub(12000).mod(3))
    for seg, taste in (("teacup people", 0), ("lantern people", 1), ("cushion people", 2)):
        mine = top[top["segment"] == seg]
        assert (mine["item"].map(_taste) == taste).all()
        counts = t[t["segment"] == taste].groupby("item")["id"].nunique()
        assert mine["customers"].tolist() == sorted(counts, reverse=True)[:3]
        assert mine["share"].iloc[0] == pytest.approx(counts.max() / 50, abs=1e-3)


def test_bought_together_finds_planted_pairs():
    rng = np.random.default_rng(1)
    rows = []
    for o in range(300):
        day = START + pd.Timedelta(days=int(rng.integers(0, 100)))
        items = ["30001", "30002"] if o % 3 == 0 else list(rng.choice(["30003", "30004", "30005", "30006"], 2, replace=False))
        for it in items:
            rows.append((str(700000 + o), it, f"THING {it}", 1, day, 1.0, 15000 + o % 40))
    frame = pd.DataFrame(rows, columns=["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate",
                                        "UnitPrice", "CustomerID"])
    pairs = bought_together(frame, n=3)
    assert list(pairs.columns) == ["item_a", "description_a", "item_b", "description_b", "orders_together", "lift"]
    top = pairs.iloc[0]
    assert {top["item_a"], top["item_b"]} == {"30001", "30002"} and top["orders_together"] == 100
    assert top["lift"] == pytest.approx(3.0)


@requires_shared
def test_online_retail_chosen_methods_match_the_issue_measurements():
    frame = load_table(SHARED / "online_retail" / "online_retail.csv.gz").frame
    rec = recommend(frame, RecommendSettings(k=10, mode="all", test_days=90))
    ev = rec.evaluation.set_index(["method", "mode"])
    # ~1,900 returning customers, as in the issue; lines without a customer, cancellations, POST etc. out.
    assert 1800 <= rec.evaluated_customers <= 2000
    assert {"POST", "DOT", "M", "BANK CHARGES", "C2", "AMAZONFEE"} <= set(rec.non_product_items["item"])
    chosen_all = ev.loc[(rec.methods_by_mode["all"], "all"), "hit_rate_at_k"]
    # Replenishment: at least the customer's own items (the trivial baseline that hides nothing).
    assert chosen_all >= ev.loc[("repeat", "all"), "hit_rate_at_k"] - 0.01
    assert chosen_all >= 0.80
    # Discovery: ALS level (the issue measured 0.52), far above popularity (0.37 there).
    chosen_new = ev.loc[(rec.methods_by_mode["new"], "new"), "hit_rate_at_k"]
    assert chosen_new >= 0.46
    assert chosen_new >= ev.loc[("popularity", "new"), "hit_rate_at_k"] + 0.1
    assert chosen_new >= max(ev.loc[("als", "new"), "hit_rate_at_k"], ev.loc[("neighbours", "new"), "hit_rate_at_k"]) - 0.03
    t = rec.table
    assert (t.groupby("id").size() == 10).all() and t["id"].nunique() == 4372
    assert t["reason"].str.contains("JUMBO BAG RED RETROSPOT").any()


def test_a_customer_name_column_is_not_taken_for_the_product_description(planted):
    names = np.array(["Anna Smith", "Ben Jones", "Chen Wang", "Dana Kim", "Eli Rossi", "Fatima Silva", "Goran Nowak"])
    log = planted.drop(columns="Description").assign(name=names[planted["CustomerID"].to_numpy() % 7])
    rec = recommend(log, RecommendSettings(k=3, mode="all", test_days=30))
    assert rec.columns.description is None
    assert (rec.table["description"] == "").all()
    repeat = rec.table[rec.table["reason"].str.startswith("bought ")]
    assert repeat.apply(lambda r: r["reason"].startswith(f"bought {r['item']} "), axis=1).all()
    renamed = recommend(planted.rename(columns={"Description": "blurb"}), RecommendSettings(k=3, test_days=30))
    assert renamed.columns.description == "blurb"


def test_new_mode_never_offers_an_item_the_customer_got_free_returned_or_cancelled(planted):
    # Each customer gets two of their own taste's never-bought items free (price 0), returns a third
    # (negative quantity) and cancels a fourth (a credit note): all four are in their history, so "new"
    # mode, whose best guesses are exactly those items, must find others.
    rng = np.random.default_rng(5)
    bought = planted.groupby("CustomerID")["StockCode"].apply(set)
    extra = []
    for n, (cust, mine) in enumerate(bought.items()):
        taste = _taste(next(iter(mine)))
        never = [f"{20000 + taste * 10 + i}" for i in range(10) if f"{20000 + taste * 10 + i}" not in mine]
        day = START + pd.Timedelta(days=int(rng.integers(0, 170)))
        for code, qty, price, invoice in zip(never, [1, 1, -1, -1], [0.0, 0.0, 2.5, 2.5], ["9", "9", "8", "C7"]):
            extra.append({"InvoiceNo": f"{invoice}{n:05d}", "StockCode": code, "Description": _desc(int(code) - 20000),
                          "Quantity": qty, "InvoiceDate": day, "UnitPrice": price, "CustomerID": cust})
    log = pd.concat([planted, pd.DataFrame(extra)], ignore_index=True)
    had = set(zip(log["CustomerID"].astype(str), log["StockCode"].astype(str)))
    rec = recommend(log, RecommendSettings(k=3, mode="new", test_days=30))
    offered = set(zip(rec.table["id"], rec.table["item"]))
    assert offered and not (offered & had)
    assert rec.lines_left_out["zero quantity or price"] == 2 * len(bought)
