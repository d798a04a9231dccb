"""What an order line is (lib/data/orders.py), decided once for the roll-up, customer value, recommendations
and the log rolled up in parts: cancellations are found by their sign, not by a letter; dates are read one
way, time zones included."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from lib.data.features import customers_from_transactions, repurchase_labels
from lib.data.io import load_table
from lib.data.orders import (
    KINDS,
    LineTally,
    classify_lines,
    infer_transaction_columns,
    line_rules,
    order_dates,
)
from lib.models.recommend import RecommendSettings, recommend
from lib.models.value import ValueSettings, activity_from_log, customer_value

from .conftest import ROOT, SAMPLES


@pytest.fixture(scope="module")
def shop_log() -> pd.DataFrame:
    return load_table(SAMPLES / "shop_transactions.csv.gz").frame


def _all_c(log: pd.DataFrame) -> pd.DataFrame:
    """The same log from a shop whose own invoice numbers all start with "C" ("C529005"); its credit notes
    ("C509045" in the sample) become "CC509045" and still carry negative quantities."""
    return log.assign(order_id="C" + log["order_id"].astype(str))


# --- a shop that numbers every invoice "C..." ---------------------------------------------------------


def test_a_shop_numbering_every_invoice_c_rolls_up_and_gets_offers_like_the_same_log_unprefixed(shop_log):
    plain, prefixed = shop_log, _all_c(shop_log)
    a, b = customers_from_transactions(plain), customers_from_transactions(prefixed)
    pd.testing.assert_frame_equal(a.customers, b.customers)
    assert (a.lines_used, a.cancellation_lines) == (b.lines_used, b.cancellation_lines) == (62106, 615)
    assert (b.customers["frequency"] > 0).mean() > 0.99  # a letter never turned the sales into returns
    cols = a.columns
    cut = pd.Timestamp("2023-06-01")
    assert repurchase_labels(plain, cols, cut, 90).index.tolist() == repurchase_labels(prefixed, cols, cut, 90).index.tolist()
    settings = RecommendSettings(k=3, mode="new", test_days=60)
    ra, rb = recommend(plain, settings), recommend(prefixed, settings)
    pd.testing.assert_frame_equal(ra.table, rb.table)
    pd.testing.assert_frame_equal(ra.evaluation, rb.evaluation)


def test_a_shop_numbering_every_invoice_c_gets_the_same_customer_value(shop_log):
    few = shop_log[shop_log["customer_id"] < 101500]
    a = customer_value(few, ValueSettings(horizon_days=60))
    b = customer_value(_all_c(few), ValueSettings(horizon_days=60))
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.method == b.method and a.forecast_total == pytest.approx(b.forecast_total)


def test_the_cli_runs_a_log_whose_invoices_all_start_with_c(shop_log, tmp_path):
    _all_c(shop_log).to_csv(tmp_path / "c_shop.csv", index=False)
    proc = subprocess.run([sys.executable, "-m", "lib.cli", "run", "--input", str(tmp_path / "c_shop.csv"), "--out",
                           str(tmp_path / "out"), "--transactions", "--horizon", "60", "--recommend", "3"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["value"]["forecast_total"] > 0 and report["recommend"]["k"] == 3
    assert len(pd.read_csv(tmp_path / "out" / "customers.csv")) == 5000


# --- real cancellations ----------------------------------------------------------------------------------

LOG = pd.DataFrame({
    "InvoiceNo": ["1001", "1001", "C1002", "1003", "CS1004", "1005", "C1006", "1007"],
    "StockCode": ["85123A", "22423", "85123A", "22423", "85123A", "85123A", "84029E", "22423"],
    "Quantity": [4, 2, -1, 1, 2, 3, -2, 0],
    "InvoiceDate": pd.to_datetime(["2024-01-02 10:00", "2024-01-02 10:00", "2024-01-05 09:00", "2024-01-09 12:00",
                                   "2024-01-12 15:00", "2024-01-20 11:00", "2024-01-21 08:00", "2024-01-22 08:00"]),
    "UnitPrice": [10.0, 5.0, 10.0, 5.0, 10.0, 10.0, 3.0, 5.0],
    "CustomerID": [100, 100, 100, 100, 100, 200, 200, 200],
})


def test_real_cancellations_on_a_minority_of_c_invoices_net_out_and_a_letter_alone_is_no_cancellation():
    cols = infer_transaction_columns(LOG)
    lines = classify_lines(LOG, cols)
    assert lines.rules.cancellation_prefixes == ("C",)
    # C1002 undoes an earlier sale; C1006 gives back a product customer 200 never bought here (still a
    # credit note); CS1004 is an ordinary order of a shop that also numbers some invoices "CS...".
    assert lines.lines["kind"].tolist() == ["sale", "sale", "cancellation", "sale", "sale", "sale", "cancellation",
                                            "free"]
    assert lines.lines["matched"].tolist() == [False, False, True, False, False, False, False, False]
    assert set(lines.counts) >= set(KINDS)
    c = customers_from_transactions(LOG).customers.set_index("customer_id")
    assert c.loc["100", "monetary"] == pytest.approx(40 + 10 - 10 + 5 + 20)
    assert c.loc["100", "frequency"] == 3  # 1001, 1003 and CS1004; the credit note is no order
    assert c.loc["100", "return_share"] == pytest.approx(10 / 75, abs=1e-3)
    assert c.loc["200", "monetary"] == pytest.approx(30 - 6)
    assert c.loc["200", "frequency"] == 1  # the free line of 1007 is not a purchase
    act, _ = activity_from_log(LOG)
    assert act.daily["sales"].sum() == pytest.approx(105) and act.daily["returns"].sum() == pytest.approx(16)


def test_credit_notes_of_the_shipped_sample_net_out(shop_log):
    table = customers_from_transactions(shop_log)
    value = shop_log["quantity"] * shop_log["unit_price"]
    assert table.cancellation_lines == 615
    assert table.customers["monetary"].sum() == pytest.approx(value.sum(), rel=1e-5)


# --- dates, one way -------------------------------------------------------------------------------------


def test_a_time_zone_aware_log_rolls_up_like_the_same_instants_without_a_zone(tmp_path):
    # Late-evening purchases in Berlin: the same instants in UTC fall on the day before for some of them.
    local = pd.to_datetime(["2024-01-01 00:30", "2024-01-15 23:30", "2024-02-01 00:15", "2024-02-20 12:00",
                            "2024-03-03 00:45", "2024-03-30 23:59"]).tz_localize("Europe/Berlin")
    log = pd.DataFrame({"order_id": ["1", "2", "3", "4", "5", "6"], "customer_id": [1, 1, 1, 2, 2, 2],
                        "order_date": local, "amount": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]})
    naive = log.assign(order_date=local.tz_convert("UTC").tz_localize(None))
    for as_of in (None, "2024-03-01"):
        aware, plain = customers_from_transactions(log, as_of=as_of), customers_from_transactions(naive, as_of=as_of)
        pd.testing.assert_frame_equal(aware.customers, plain.customers)
        assert aware.as_of == plain.as_of
    # The same log written to a file with offsets ("2024-01-15T23:30:00+01:00") reads the same way.
    log.assign(order_date=local.strftime("%Y-%m-%dT%H:%M:%S%z")).to_csv(tmp_path / "log.csv", index=False)
    read = load_table(tmp_path / "log.csv").frame
    assert read["order_date"].tolist() == naive["order_date"].tolist()
    pd.testing.assert_frame_equal(customers_from_transactions(read).customers,
                                  customers_from_transactions(naive).customers)


def test_order_dates_convert_mixed_offsets_to_utc_and_keep_naive_dates():
    mixed = pd.Series(["2024-01-02T23:30:00+02:00", "2024-07-02T23:30:00+01:00", "2024-01-03 08:00:00Z"])
    assert order_dates(mixed).tolist() == [pd.Timestamp("2024-01-02 21:30"), pd.Timestamp("2024-07-02 22:30"),
                                           pd.Timestamp("2024-01-03 08:00")]
    assert order_dates(pd.Series(["2024-01-02", "not a date"])).tolist()[0] == pd.Timestamp("2024-01-02")
    assert order_dates(pd.Series(["2024-01-02", "not a date"])).isna().tolist() == [False, True]


# --- the rules of a log read in parts ------------------------------------------------------------------


def test_line_rules_learned_part_by_part_equal_the_rules_of_the_whole_log():
    rng = np.random.default_rng(0)
    n = 4000
    codes = np.array([f"{20000 + i}" for i in range(40)] + ["POST", "90001", "77777"])
    pick = rng.integers(0, len(codes), n)
    price = np.where(codes[pick] == "77777", rng.uniform(1, 500, n).round(2), 2.5)
    log = pd.DataFrame({
        "InvoiceNo": np.where(rng.random(n) < 0.05, "C", "") + (500000 + np.arange(n) // 3).astype(str),
        "StockCode": codes[pick],
        "Description": np.where(codes[pick] == "90001", "Next Day Carriage", "LANTERN " + codes[pick]),
        "Quantity": rng.integers(1, 5, n),
        "InvoiceDate": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n), unit="h"),
        "UnitPrice": price,
        "CustomerID": rng.integers(1, 100, n),
    })
    log.loc[log["InvoiceNo"].str.startswith("C"), "Quantity"] *= -1
    cols = infer_transaction_columns(log)
    whole = line_rules(log, cols)
    tally = LineTally(cols)
    for start in range(0, n, 700):
        tally.add(log.iloc[start:start + 700])
    parts = tally.rules()
    assert parts.cancellation_prefixes == whole.cancellation_prefixes == ("C",)
    pd.testing.assert_frame_equal(parts.non_product_items, whole.non_product_items)
    assert set(whole.non_product_items["item"]) == {"POST", "90001", "77777"}
