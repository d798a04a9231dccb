"""Bullseye recognises what it was given (issue 27): a log rolls up by itself, stray late dates do not move
the as-of date, and the quality report speaks of what it read."""

import json

import numpy as np
import pandas as pd
import pytest

from lib.data.features import customers_from_transactions, default_cutoff, infer_transaction_columns
from lib.data.io import load_table
from lib.data.kind import recognise, rolls_up
from lib.data.quality import assess_quality
from lib.data.schema import infer_schema
from lib.errors import DataValidationError
from lib.flow import pipeline as p
from tests.conftest import ROOT, SHARED, requires_shared
from tests.test_cli import cli

SOURCE_ADVICE = ("Remove duplicate rows in the source", "Clean the non-numeric values")


def online_retail_ii(n_customers: int = 80, seed: int = 0) -> pd.DataFrame:
    """The Online Retail II shape: invoices of several lines, "C" credit notes, POST fees, guest lines."""
    rng = np.random.default_rng(seed)
    rows, invoice = [], 489434
    products = [f"{c}{s}" for c in range(85000, 85040) for s in ("", "A")]
    for _ in range(n_customers * 6):
        invoice += 1
        cust = float(12346 + rng.integers(n_customers)) if rng.random() > 0.05 else np.nan
        when = pd.Timestamp("2009-12-01") + pd.Timedelta(minutes=int(rng.integers(0, 60 * 24 * 730)))
        for _ in range(int(rng.integers(1, 6))):
            rows.append([str(invoice), str(rng.choice(products)), "WHITE HANGING HEART", int(rng.integers(1, 13)),
                         when, round(float(rng.choice([0.85, 1.25, 2.55, 4.95])), 2), cust, "United Kingdom"])
        if rng.random() < 0.3:
            rows.append([str(invoice), "POST", "POSTAGE", 1, when, 18.0, cust, "United Kingdom"])
        if rng.random() < 0.08:
            last = rows[-1]
            rows.append(["C" + str(invoice), last[1], last[2], -last[3], when + pd.Timedelta(days=2), last[5],
                         cust, "United Kingdom"])
    rows.append(rows[3][:])  # an item scanned twice
    return pd.DataFrame(rows, columns=["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price",
                                       "Customer ID", "Country"])


def with_stray_lines(log: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    stray = log[log["Customer ID"].notna()].head(n).copy()
    stray["InvoiceDate"] = pd.Timestamp("2031-01-01 10:00")
    return pd.concat([log, stray], ignore_index=True)


RENAMED = {"Invoice": "order_no", "StockCode": "sku", "Description": "product_name", "Quantity": "qty",
           "InvoiceDate": "order_date", "Price": "unit_price", "Customer ID": "client_id", "Country": "country"}


def problems_text(report) -> str:
    return " ".join(f"{pr.message} {pr.fix}" for pr in report.problems)


@pytest.mark.parametrize("renamed", [False, True])
def test_online_retail_shape_is_recognised_as_a_log(renamed):
    log = online_retail_ii()
    log = log.rename(columns=RENAMED) if renamed else log
    kind = recognise(log)
    assert kind.kind == "order_lines"
    assert kind.columns["customer"] == ("client_id" if renamed else "Customer ID")
    assert kind.columns["quantity"] == ("qty" if renamed else "Quantity")
    assert rolls_up(kind) and not rolls_up(kind, refuse=True)


def test_customer_table_with_a_repeated_id_is_not_a_log():
    rng = np.random.default_rng(1)
    n = 400
    table = pd.DataFrame({
        "customer_id": np.arange(n) + 1000, "signup_date": pd.date_range("2020-01-01", periods=n, freq="D"),
        "age": rng.integers(18, 80, n), "total_spend": rng.gamma(2, 100, n).round(2),
        "responded": rng.choice(["yes", "no"], n)})
    table.loc[::20, "customer_id"] = 1000  # the odd duplicated id of a messy export
    assert recognise(table).kind == "customers"
    assert not rolls_up(recognise(table))
    assert rolls_up(recognise(table), force=True)  # --transactions still forces it
    with pytest.raises(DataValidationError):
        rolls_up(recognise(table), force=True, refuse=True)


def test_campaign_results_are_recognised():
    rng = np.random.default_rng(2)
    n = 300
    frame = pd.DataFrame({"customer_id": np.arange(n), "group": rng.choice(["sent", "control"], n),
                          "age": rng.integers(18, 80, n), "responded": rng.choice(["yes", "no"], n)})
    kind = recognise(frame)
    assert kind.kind == "campaign_results" and kind.columns == {"arm": "group", "outcome": "responded"}


def test_stray_future_lines_do_not_move_the_as_of_date_and_are_reported():
    log = online_retail_ii()
    clean = customers_from_transactions(log)
    strayed = customers_from_transactions(with_stray_lines(log))
    assert strayed.as_of == clean.as_of < pd.Timestamp("2012-01-01")
    assert strayed.lines_after_end == 5 and clean.lines_after_end == 0
    assert any("plausible end" in w for w in strayed.warnings)
    assert any("plausible end" in pr.message for pr in strayed.source_problems)
    pd.testing.assert_frame_equal(strayed.customers, clean.customers)
    cols = infer_transaction_columns(log)
    assert default_cutoff(with_stray_lines(log), cols, 30) == default_cutoff(log, cols, 30)
    # The user's own as-of date wins: no line is set aside for it.
    assert customers_from_transactions(with_stray_lines(log), as_of="2031-06-01").lines_after_end == 0


def test_quality_report_on_a_log_and_its_roll_up_speaks_log_terms():
    log = with_stray_lines(online_retail_ii())
    # The log itself: its codes are not numbers gone wrong.
    on_log = problems_text(assess_quality(log, infer_schema(log)))
    assert "non-numeric values" not in on_log
    # Read as a table (the switch off, `check`), a recognised log is still reported in log terms.
    as_table = p.understand(p.customers(_loaded(log), p.CustomerSettings()), p.UnderstandSettings())
    said = problems_text(as_table.quality)
    for advice in SOURCE_ADVICE:
        assert advice not in said
    assert "cancellation lines" in said and "exact copies" in said and "high cardinality" not in said
    # The roll-up: the source's problems once, in log terms; nothing about the source's rows or shares.
    cust = p.customers(_loaded(log), p.CustomerSettings(transactions=True))
    und = p.understand(cust, p.UnderstandSettings())
    said = problems_text(und.quality)
    for advice in SOURCE_ADVICE:
        assert advice not in said
    assert "'return_share' has" not in said
    assert "cancellation lines" in said and "fees, postage" in said and "plausible end" in said
    assert "no customer id" in said and "exact copies" in said


def test_shares_at_their_bounds_and_long_tails_are_not_extreme():
    rng = np.random.default_rng(3)
    n = 2000
    frame = pd.DataFrame({"customer_id": np.arange(n),
                          "return_share": np.where(rng.random(n) < 0.05, 1.0, rng.random(n) * 0.05),
                          "monetary": rng.lognormal(5, 1.2, n).round(2)})
    said = problems_text(assess_quality(frame, infer_schema(frame)))
    assert "extreme values" not in said
    frame.loc[:29, "monetary"] = 1e12  # genuinely odd: a typo'd amount
    assert "'monetary' has 30 extreme values" in problems_text(assess_quality(frame, infer_schema(frame)))


def test_numeric_customer_id_is_never_a_feature():
    log = online_retail_ii()
    schema = infer_schema(log)
    assert schema.roles["Customer ID"] == "identifier"
    assert "Customer ID" not in schema.feature_columns()
    assert infer_schema(pd.DataFrame({"amount_paid": np.arange(200) % 90})).roles["amount_paid"] == "numeric"


def _loaded(frame: pd.DataFrame):
    import io

    buf = io.BytesIO()
    frame.to_csv(buf, index=False)
    return load_table(buf.getvalue(), "log.csv")


@pytest.mark.parametrize("renamed", [False, True])
def test_cli_run_rolls_a_log_up_by_itself(tmp_path, renamed):
    log = online_retail_ii()
    log = log.rename(columns=RENAMED) if renamed else log
    path = tmp_path / "log.csv"
    log.to_csv(path, index=False)
    out = tmp_path / "out"
    proc = cli("run", "--input", str(path), "--out", str(out), "--segments", "2", "--no-value")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["file_kind"]["kind"] == "order_lines"
    customers = pd.read_csv(out / "customers.csv")
    assert len(customers) == log.iloc[:, 6].nunique() == report["customers"]
    proc = cli("run", "--input", str(path), "--out", str(tmp_path / "raw"), "--segments", "2", "--no-transactions")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "raw" / "report.json").read_text())["customers"] == len(log)


@requires_shared
def test_online_retail_file_rolls_up_by_itself():
    frame = pd.read_csv(SHARED / "online_retail" / "online_retail.csv.gz", nrows=60_000, encoding="latin-1")
    kind = recognise(frame)
    assert kind.is_log
    frame = frame.rename(columns={"CustomerID": "Customer ID"})  # the 2010-2011 file's spelling
    table = customers_from_transactions(with_stray_lines(frame))
    assert table.lines_after_end == 5 and table.as_of < pd.Timestamp("2012-01-01")


def test_bank_marketing_stays_a_customer_table():
    frame = load_table((ROOT / "sample_data" / "bank_marketing.csv.gz").read_bytes(), "bank_marketing.csv.gz").frame
    assert recognise(frame).kind != "order_lines"


def test_upload_page_rolls_an_uploaded_log_up_by_itself_and_one_click_undoes_it():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.file_uploader[0].upload("export.csv", online_retail_ii().to_csv(index=False).encode(), "text/csv").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["cfg_transactions"] is True
    assert any("Recognised as an order-line log" in c.value and "Customer ID" in c.value for c in at.caption)
    assert any("customers as of" in c.value for c in at.caption)
    at.toggle(key="w_cfg_transactions").set_value(False).run()
    assert not at.exception and at.session_state["cfg_transactions"] is False
    assert not any("customers as of" in c.value for c in at.caption)
