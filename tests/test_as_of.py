"""The as-of date of a log (issue 27): the export's plausible end until the user picks another day, in the
roll-up, the training windows and the Upload page's picker; lines after it are left out and counted."""

from __future__ import annotations

import json

import pandas as pd
from streamlit.testing.v1 import AppTest

from lib.data.io import load_table
from lib.flow import pipeline as p
from tests.conftest import ROOT
from tests.test_recognise import online_retail_ii, with_stray_lines


def loaded_log() -> object:
    return load_table(with_stray_lines(online_retail_ii()).to_csv(index=False).encode(), "export.csv")


def test_without_a_choice_the_as_of_date_is_the_plausible_end_and_strays_are_counted():
    cust = p.customers(loaded_log(), p.CustomerSettings(True))
    choice = p.as_of_choice(cust)
    assert choice.chosen == choice.suggested == cust.rollup.as_of and choice.suggested.year < 2030
    assert choice.left_out == 5 and choice.latest.year == 2031
    assert "5 lines" in choice.note


def test_a_chosen_as_of_date_leaves_later_lines_out_counts_them_and_bounds_the_training_windows():
    lr = loaded_log()
    cust = p.customers(lr, p.CustomerSettings(True, horizon=60, as_of="2011-01-01"))
    choice = p.as_of_choice(cust)
    assert choice.chosen == pd.Timestamp("2011-01-01") and choice.suggested > choice.chosen
    dates = pd.to_datetime(lr.frame["InvoiceDate"])
    later = int(((dates >= "2011-01-01") & lr.frame["Customer ID"].notna()).sum())
    assert choice.left_out == cust.rollup.lines_after_as_of == later > 5
    assert any("on or after the as-of date 2011-01-01" in w for w in cust.warnings)
    assert (cust.frame["recency_days"] >= 0).all()
    # The latest training window ends at the chosen day, never in the lines left out.
    assert cust.out_of_time["cutoff"] == "2010-11-02"
    assert p.log_lines(lr, cust)["InvoiceDate"].max() < pd.Timestamp("2011-01-01")


def chosen(at: AppTest) -> str | None:
    return at.session_state["cfg_as_of"] if "cfg_as_of" in at.session_state else None


def test_upload_page_as_of_picker_defaults_to_the_plausible_end_and_a_pick_changes_the_roll_up():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.file_uploader[0].upload("export.csv", with_stray_lines(online_retail_ii()).to_csv(index=False).encode(),
                               "text/csv").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    picker = at.date_input(key="w_cfg_as_of")
    suggested = picker.value
    assert suggested.year < 2030 and chosen(at) is None
    assert any("5 lines dated from" in c.value for c in at.caption)
    at.date_input(key="w_cfg_as_of").set_value(pd.Timestamp("2011-01-01").date()).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert chosen(at) == "2011-01-01"
    assert any("customers as of 1 Jan 2011" in c.value for c in at.caption)
    assert any("on or after the as-of date 2011-01-01" in i.value for i in at.info)
    # Back to the suggested day: no choice left, the default roll-up again.
    at.date_input(key="w_cfg_as_of").set_value(suggested).run()
    assert chosen(at) is None


def test_the_cli_takes_an_as_of_date_and_refuses_one_that_is_no_date(tmp_path):
    from tests.test_cli import assert_bad_input, cli

    path = tmp_path / "export.csv"
    with_stray_lines(online_retail_ii()).to_csv(path, index=False)
    proc = cli("run", "--input", str(path), "--out", str(tmp_path / "out"), "--as-of", "2011-01-01", "--no-value",
               "--segments", "3")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert any("on or after the as-of date 2011-01-01" in w for w in report["warnings"])
    assert_bad_input(cli("run", "--input", str(path), "--out", str(tmp_path / "bad"), "--as-of", "2011-13-45"),
                     "is not a date")
