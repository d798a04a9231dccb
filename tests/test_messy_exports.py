"""Messy exports of a public log give the same customers as the clean file, or a clear error, never a
traceback (issue 27): other date formats, Excel, amounts only, leading zeros, currency signs, pasted
headers, a totals line, time zones, stray future dates, renamed and Chinese headers (tests/messy_exports.py).

What is compared: the file is recognised as a log and rolled up by itself (no --transactions), the same
customer ids, the same order counts, the same money to the cent and the same as-of date."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from lib.data.io import load_table
from lib.data.kind import recognise, rolls_up
from lib.flow import pipeline as p
from tests.conftest import SAMPLES, SHARED, requires_shared
from tests.messy_exports import ONLINE_RETAIL, SHOP, VARIANTS, Roles, _csv, clean_log
from tests.test_cli import cli

SHOP_LINES = 6_000
RETAIL_LINES = 12_000


def rolled_up(name: str, data: bytes) -> p.Customers:
    """What ``python -m lib.cli run`` does before it models: load, recognise, roll up when it is a log."""
    loaded = load_table(data, name)
    kind = recognise(loaded.frame)
    assert kind.is_log, kind.reason
    return p.customers(loaded, p.CustomerSettings(transactions=rolls_up(kind)))


def assert_same_customers(clean: p.Customers, messy: p.Customers, variant: str) -> None:
    want = clean.frame.set_index("customer_id")
    got = messy.frame.set_index("customer_id")
    if "leading zeros" in variant:
        # The id stays text, zeros kept, and names the same customer.
        assert got.index.str.startswith("0").all()
        got.index = got.index.str.lstrip("0")
    assert sorted(got.index) == sorted(want.index)
    got = got.loc[want.index]
    assert (got["frequency"] == want["frequency"]).all()
    assert (got["monetary"] - want["monetary"]).abs().max() <= 0.011
    shift = abs(messy.rollup.as_of - clean.rollup.as_of)
    # +01:00 is read on one clock (UTC, lib.data.orders.naive_utc): a midnight order falls on the day before.
    assert shift <= (pd.Timedelta(days=1) if "+01:00" in variant else pd.Timedelta(0))


def check_variants(log: pd.DataFrame, roles: Roles, variants: list[str]) -> None:
    clean = rolled_up(*_csv(log))
    for variant in variants:
        name, data = VARIANTS[variant](log, roles)
        assert_same_customers(clean, rolled_up(name, data), variant)


@pytest.fixture(scope="module")
def shop_log() -> pd.DataFrame:
    return clean_log(SAMPLES / "shop_transactions.csv.gz", SHOP_LINES)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_messy_export_of_the_shop_log_gives_the_same_customers(shop_log, variant):
    check_variants(shop_log, SHOP, [variant])


@requires_shared
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_messy_export_of_online_retail_gives_the_same_customers(variant):
    lines = 4_000 if variant.startswith("Excel workbook") else RETAIL_LINES  # writing .xlsx is slow
    log = clean_log(SHARED / "online_retail" / "online_retail.csv.gz", lines)
    check_variants(log, ONLINE_RETAIL, [variant])


def test_pasted_headers_and_a_totals_line_are_dropped_and_said(shop_log):
    for variant, words in (("header pasted in the middle", "repeat the header"), ("totals line at the bottom", "totals line")):
        name, data = VARIANTS[variant](shop_log, SHOP)
        loaded = load_table(data, name)
        assert len(loaded.frame) == len(shop_log)
        assert any(words in w for w in loaded.warnings)
        assert pd.api.types.is_datetime64_any_dtype(loaded.frame["order_date"])


@pytest.mark.parametrize("plans", [["basic", "pro", "Total", "pro"], ["basic", "pro", "basic", "Total"]])
def test_a_row_saying_total_with_every_cell_filled_is_data(plans):
    frame = pd.DataFrame({"plan": plans, "spend": [1, 2, 3, 4]})
    loaded = load_table(frame.to_csv(index=False).encode(), "plans.csv")
    assert len(loaded.frame) == 4 and not loaded.warnings


@pytest.mark.parametrize("numbers, first", [
    ([40543.586806, 40544.0], "2010-12-31 14:05:00"),  # Excel serial days
    ([19970101, 19970315], "1997-01-01 00:00:00"),  # YYYYMMDD
    ([1293805500, 1293840000], "2010-12-31 14:25:00"),  # Unix seconds
])
def test_a_date_column_written_as_numbers_is_read_as_dates(numbers, first):
    from lib.data.orders import order_dates

    assert str(order_dates(pd.Series(numbers))[0]) == first


def test_numbers_that_are_no_date_are_not_read_as_1970():
    from lib.data.orders import order_dates

    assert order_dates(pd.Series([1, 2, 3])).isna().all()


@pytest.mark.parametrize("variant", ["Chinese headers", "prices 1.234,50 € (semicolons)", "Excel serial dates"])
def test_the_cli_rolls_a_messy_export_up_without_being_told(tmp_path, shop_log, variant):
    name, data = VARIANTS[variant](shop_log.head(2_000), SHOP)
    path = tmp_path / name
    path.write_bytes(data)
    proc = cli("run", "--input", str(path), "--out", str(tmp_path / "out"), "--no-value", "--segments", "3")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["file_kind"]["kind"] == "order_lines"
    clean = rolled_up(*_csv(shop_log.head(2_000)))
    assert report["customers"] == len(clean.frame)
    written = pd.read_csv(tmp_path / "out" / "customers.csv", dtype=str)
    assert set(written["id"]) == set(clean.frame["customer_id"])


def test_an_am_pm_export_of_the_first_days_of_december_is_december():
    """Every value reads day first too (12 Jan, 12 Feb...), but a 12-hour clock is the US convention."""
    from lib.data.io import parse_dates

    dates = parse_dates(pd.Series(["12/01/2010 8:26 AM", "12/02/2010 9:00 AM", "12/06/2010 1:05 PM"]))
    assert [d.strftime("%Y-%m-%d %H:%M") for d in dates] == ["2010-12-01 08:26", "2010-12-02 09:00", "2010-12-06 13:05"]
    assert parse_dates(pd.Series(["13/01/2010 8:26 AM", "12/02/2010 9:00 AM"]))[0].month == 1
