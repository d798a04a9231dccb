"""Transactions -> customers, checked by hand and against the Online Retail facts."""

from __future__ import annotations

import pandas as pd
import pytest

from lib.data.features import customers_from_transactions, default_cutoff, repurchase_labels
from lib.data.io import load_table
from lib.errors import DataValidationError

from .conftest import SHARED, requires_shared

LOG = pd.DataFrame({
    "InvoiceNo": ["1", "1", "2", "C3", "4", "5", "6", "7"],
    "StockCode": ["85123A", "22423", "85123A", "85123A", "POST", "22423", "85123A", "85123A"],
    "Quantity": [2, 1, 1, -1, 1, 3, 1, 1],
    "InvoiceDate": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-11", "2024-01-12", "2024-01-20",
                                   "2024-01-05", "2024-02-10", "2024-01-07"]),
    "UnitPrice": [10.0, 5.0, 10.0, 10.0, 3.0, 2.0, 4.0, 1.0],
    "CustomerID": [100.0, 100.0, 100.0, 100.0, 100.0, 200.0, 200.0, None],
    "Country": ["UK", "UK", "UK", "UK", "UK", "FR", "DE", "UK"],
})


def test_rfm_features_of_a_hand_made_log_match_hand_computed_values():
    table = customers_from_transactions(LOG, as_of="2024-02-01")
    c = table.customers.set_index("customer_id")
    assert list(c.index) == ["100", "200"]
    # Customer 100: orders 1 and 2 (the C3 credit note and the POST fee are not orders).
    assert c.loc["100", "frequency"] == 2
    assert c.loc["100", "recency_days"] == 21  # last product order 2024-01-11 -> 2024-02-01
    assert c.loc["100", "tenure_days"] == 31
    assert c.loc["100", "monetary"] == pytest.approx(25 + 10 - 10)  # net of the return; fees excluded
    assert c.loc["100", "avg_order_value"] == pytest.approx(35 / 2)
    assert c.loc["100", "return_share"] == pytest.approx(10 / 35, abs=1e-3)
    assert c.loc["100", "days_between_orders"] == pytest.approx(10.0)
    assert c.loc["100", "distinct_products"] == 2
    assert c.loc["100", "top_country"] == "UK"
    # Customer 200: only the January order is before the cutoff.
    assert c.loc["200", "frequency"] == 1 and c.loc["200", "monetary"] == pytest.approx(6.0)
    assert table.lines_dropped_no_customer == 1
    assert table.cancellation_lines == 1 and table.non_product_lines == 1
    assert any("no customer id" in w for w in table.warnings)


def test_repurchase_labels_use_only_the_window_after_the_cutoff():
    cols = customers_from_transactions(LOG).columns
    labels = repurchase_labels(LOG, cols, pd.Timestamp("2024-01-10"), horizon_days=30)
    # 100 bought on 01-11 (inside); 200 bought on 02-10 (outside the 30 days); C3 is a return.
    assert sorted(labels.index) == ["100"]
    assert default_cutoff(LOG, cols, 30) == pd.Timestamp("2024-01-12")


def test_log_without_an_amount_is_refused_with_what_is_missing():
    with pytest.raises(DataValidationError, match="amount column"):
        customers_from_transactions(pd.DataFrame({"customer_id": [1], "order_date": ["2024-01-01"], "note": ["x"]}))


def test_sample_log_rolls_up_to_the_sample_customers(shop):
    customers, transactions, _ = shop
    table = customers_from_transactions(transactions)
    assert len(table.customers) == len(customers)
    merged = table.customers.merge(customers.astype({"customer_id": str}), on="customer_id")
    assert (merged["frequency"] == merged["orders"]).all()


@requires_shared
def test_online_retail_rollup_matches_the_known_facts():
    frame = load_table(SHARED / "online_retail" / "online_retail.csv.gz").frame
    table = customers_from_transactions(frame)
    assert len(table.customers) == 4372
    assert table.lines_dropped_no_customer == 135080
    assert table.columns.customer == "CustomerID" and table.columns.order == "InvoiceNo"
    assert table.columns.quantity == "Quantity" and table.columns.unit_price == "UnitPrice"
    c = table.customers
    assert c["top_country"].nunique() <= 38
    assert (c["frequency"] >= 0).all() and c["recency_days"].max() <= 374
