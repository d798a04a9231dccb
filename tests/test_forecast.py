"""The market forecast (lib.models.forecast): chosen by backtest, honest bands, clear words on thin or
odd logs, parts that add up, and the CLI's forecast.csv."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lib.errors import DataValidationError
from lib.models.forecast import ForecastSettings, forecast_sales, parse_horizon
from lib.models.forecast.choose import FORECAST_COLUMNS

from .conftest import SAMPLES, SHARED, requires_shared
from .test_cli import assert_bad_input, cli


def monthly_truth(months: int, seed: int = 0, start: str = "2020-01-01") -> pd.Series:
    """A shop's monthly sales with a growing trend, a Christmas-peaked season and 4% noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(months)
    season = 1 + 0.35 * np.sin(2 * np.pi * (t - 8) / 12) + 0.4 * (t % 12 == 10)
    values = 100_000 * (1 + 0.015 * t) * season * rng.lognormal(0, 0.04, months)
    return pd.Series(values, index=pd.date_range(start, periods=months, freq="MS"))


def log_of(monthly: pd.Series, countries=("UK", "France", "Germany"), shifting: bool = False) -> pd.DataFrame:
    """A transaction log whose daily lines sum to each month's sales: one line per day and country,
    plus a return on the 15th of every month. ``shifting``: France's share grows month by month."""
    rows = []
    for i, (month, total) in enumerate(monthly.items()):
        share = np.array([0.7, 0.2 + (0.02 * i if shifting else 0), 0.1])[:len(countries)]
        days = pd.date_range(month, month + pd.offsets.MonthEnd(0), freq="D")
        for d in days:
            for c, s in zip(countries, share / share.sum()):
                rows.append((f"{d:%Y%m%d}{c}", len(rows) % 97, d, total * s / len(days) * 1.01, c))
        rows.append((f"R{month:%Y%m}", 1, month + pd.Timedelta(days=14), -total * 0.01, countries[0]))
    return pd.DataFrame(rows, columns=["order_id", "customer_id", "order_date", "amount", "country"])


def misses(result, truth: pd.Series) -> np.ndarray:
    total = result.forecast[result.forecast["level"] == "total"]
    actual = truth.reindex(pd.to_datetime(total["period"])).to_numpy()
    return actual, total


def test_three_seasonal_years_beat_or_match_seasonal_naive_and_the_band_holds():
    truth = monthly_truth(42)
    result = forecast_sales(log_of(truth[:36]), ForecastSettings("M", 6, breakdowns=False))
    actual, total = misses(result, truth)
    snaive = truth[24:30].to_numpy()  # same months a year before the held-out ones
    assert np.abs(actual - total["forecast"]).mean() <= 1.05 * np.abs(actual - snaive).mean()
    assert np.mean((actual >= total["lower_95"]) & (actual <= total["upper_95"])) >= 5 / 6
    rep = result.to_report()
    assert rep["backtest"]["mase"] <= rep["backtest"]["seasonal_naive_mase"] + 1e-9
    assert rep["history_periods"] == 36 and rep["freq"] == "M" and rep["periods"] == 6
    assert set(result.backtest["method"]) >= {"seasonal_naive", "naive", "drift", "holt_winters"}


def test_three_seasonal_years_by_week():
    truth = monthly_truth(36)
    result = forecast_sales(log_of(truth), ForecastSettings("W", 8, breakdowns=False))
    assert result.freq == "W" and len(result.forecast) == 8
    assert pd.Timestamp(result.forecast["period"].iloc[0]).dayofweek == 0  # weeks start on Monday
    assert result.to_report()["backtest"]["mase"] <= result.to_report()["backtest"]["seasonal_naive_mase"] + 1e-9


@pytest.mark.parametrize("months", [12, 18])
def test_one_year_or_eighteen_months_still_forecast_and_say_what_they_cannot(months):
    truth = monthly_truth(months + 3, seed=months)
    result = forecast_sales(log_of(truth[:months]), ForecastSettings("M", 3, breakdowns=False))
    actual, total = misses(result, truth)
    assert result.method in ("seasonal_naive", "seasonal_naive_trend")
    assert any("under two years" in w for w in result.warnings)
    assert (total["upper_80"] - total["lower_80"] > 0).all()
    assert np.mean((actual >= total["lower_95"]) & (actual <= total["upper_95"])) >= 2 / 3
    snaive = truth[months - 12:months - 9].to_numpy()
    assert np.abs(actual - total["forecast"]).mean() <= 1.05 * np.abs(actual - snaive).mean()


def test_under_a_year_says_the_season_cannot_be_foreseen():
    result = forecast_sales(log_of(monthly_truth(7)), ForecastSettings("M", 3, breakdowns=False))
    assert any("under a year" in w and "season" in w for w in result.warnings)
    assert result.method in ("naive", "drift")


def test_a_log_of_a_few_weeks_is_a_clear_error():
    with pytest.raises(DataValidationError, match="at least 4"):
        forecast_sales(log_of(monthly_truth(3)), ForecastSettings("M", 3))


def test_a_month_with_no_sales_is_named_as_a_gap():
    log = log_of(monthly_truth(30))
    month = pd.to_datetime(log["order_date"]).dt.to_period("M")
    result = forecast_sales(log[month != pd.Period("2021-06")], ForecastSettings("M", 3, breakdowns=False))
    assert any("no sales at all" in w and "2021-06" in w for w in result.warnings)


def test_one_huge_spike_is_named_and_not_expected_again():
    truth = monthly_truth(30)
    spiky = truth.copy()
    spiky.iloc[-1] *= 10
    result = forecast_sales(log_of(spiky), ForecastSettings("M", 3, breakdowns=False))
    assert any("one-off" in w for w in result.warnings)
    assert result.forecast["forecast"].max() < 3 * truth.max()


def test_the_breakdown_adds_up_to_the_total():
    result = forecast_sales(log_of(monthly_truth(30), shifting=True), ForecastSettings("M", 4))
    assert result.method != "naive"  # a method that is not linear in its input, so the parts need reconciling
    fc = result.forecast
    parts = fc[fc["level"].str.startswith("country=")]
    assert set(parts["level"]) == {"country=UK", "country=France", "country=Germany"}
    total = fc[fc["level"] == "total"].set_index("period")["forecast"]
    summed = parts.groupby("period")["forecast"].sum()
    assert np.allclose(summed.reindex(total.index), total, rtol=1e-9)
    assert (parts["lower_95"] <= parts["forecast"]).all() and (parts["forecast"] <= parts["upper_95"]).all()


def test_partial_last_month_is_left_out():
    log = log_of(monthly_truth(20))
    cut = log[pd.to_datetime(log["order_date"]) < "2021-08-10"]  # 9 days of August
    result = forecast_sales(cut, ForecastSettings("M", 2, breakdowns=False))
    assert result.history_periods == 19 and result.forecast["period"].iloc[0] == "2021-08"


@pytest.mark.parametrize("text,freq,n", [("3M", "M", 3), ("8w", "W", 8), (" 12M ", "M", 12)])
def test_horizon_text_is_parsed(text, freq, n):
    assert parse_horizon(text) == ForecastSettings(freq=freq, horizon=n)


@pytest.mark.parametrize("text", ["3", "M3", "0M", "3Y", "500W", "-2M"])
def test_bad_horizon_text_is_a_clear_error(text):
    with pytest.raises(DataValidationError, match="--forecast"):
        parse_horizon(text)


def test_cli_writes_forecast_csv_with_the_exact_columns(tmp_path):
    proc = cli("run", "--input", str(SAMPLES / "shop_transactions.csv.gz"), "--transactions", "--no-value",
               "--forecast", "3M", "--out", str(tmp_path), "--data-dir", str(tmp_path / "d"))
    assert proc.returncode == 0, proc.stderr
    fc = pd.read_csv(tmp_path / "forecast.csv")
    assert tuple(fc.columns) == FORECAST_COLUMNS
    assert list(fc[fc["level"] == "total"]["period"]) == ["2026-10", "2026-11", "2026-12"]
    assert any(lv.startswith("segment=") for lv in fc["level"])
    rep = json.loads((tmp_path / "report.json").read_text())["forecast"]
    assert set(rep) == {"method", "freq", "periods", "history_periods", "backtest", "warnings"}
    assert set(rep["backtest"]) == {"mase", "seasonal_naive_mase", "coverage_80", "coverage_95"}


def test_cli_bad_forecast_value_is_one_error_line(tmp_path):
    assert_bad_input(cli("run", "--input", str(SAMPLES / "shop_transactions.csv.gz"), "--transactions",
                         "--forecast", "3Q", "--out", str(tmp_path)), "--forecast", "3M")


@requires_shared
def test_online_retail_cut_in_september():
    """Online Retail cut at 2011-09-01: nine months, so no same-month-last-year exists; the forecast says
    it cannot see the season. What we found: the naive level (~0.68M a month) misses the autumn rise
    (~1.0-1.5M), but the 95% band is wide enough to hold September and October."""
    log = pd.read_csv(SHARED / "online_retail" / "online_retail.csv.gz")
    dates = pd.to_datetime(log["InvoiceDate"])
    result = forecast_sales(log[dates < "2011-09-01"], ForecastSettings("M", 3, breakdowns=False))
    assert any("under a year" in w for w in result.warnings)
    value = log["Quantity"] * log["UnitPrice"]
    real = value[(dates >= "2011-09-01") & (dates < "2011-12-01")].groupby(dates.dt.to_period("M")).sum()
    total = result.forecast
    inside = (real.to_numpy() >= total["lower_95"].to_numpy()) & (real.to_numpy() <= total["upper_95"].to_numpy())
    assert inside.sum() >= 2


def test_market_forecast_page_shows_the_sentence_chart_backtest_and_breakdowns():
    from streamlit.testing.v1 import AppTest

    from .conftest import ROOT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.run()
    at.button(key="sample_shop_transactions.csv.gz").click().run()
    at.switch_page("pages/forecast.py").run()
    assert not at.exception and "Forecast sales" in at.info[0].value
    [b for b in at.button if b.label == "Forecast sales"][0].click().run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert at.success[0].value.startswith("Next 3 months (2026-10 to 2026-12):")
    assert {m.label for m in at.metric} >= {"Method", "Backtest error (MASE)", "95% band held"}
    assert len(at.get("plotly_chart")) == 1
    backtest, breakdowns = at.dataframe[0].value, at.dataframe[1].value
    assert {"seasonal_naive", "holt_winters"} <= set(backtest["method"])
    assert any(str(lv).startswith("category=") for lv in breakdowns["level"])
    at.switch_page("pages/value.py").run()
    assert any(link.proto.page == "forecast" for link in at.get("page_link"))


def test_a_band_never_goes_below_zero_for_sales_that_never_did():
    result = forecast_sales(log_of(monthly_truth(12)), ForecastSettings("M", 6))
    assert (result.forecast["lower_95"] >= 0).all()
    assert (result.forecast["upper_95"] > result.forecast["forecast"]).all()


def test_cli_forecast_of_a_customer_table_asks_for_the_log(tmp_path):
    assert_bad_input(cli("run", "--input", str(SAMPLES / "shop_customers.csv"), "--forecast", "3M",
                         "--out", str(tmp_path), "--data-dir", str(tmp_path / "d")), "transaction log")
