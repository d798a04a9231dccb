"""Customer value follows the season: a December cut-off must not carry Christmas into February."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lib.models.value import ValueSettings, customer_value
from lib.models.value.season import season_index

SEASON = {1: 0.6, 2: 0.6, 3: 0.8, 4: 0.9, 5: 0.9, 6: 0.9, 7: 0.9, 8: 1.0, 9: 1.2, 10: 1.5, 11: 2.4, 12: 2.6}


def _seasonal_log(seed: int = 0, customers: int = 1500) -> pd.DataFrame:
    """Three years of orders whose rate follows a strong Christmas season (known truth)."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2021-01-01", "2024-03-31", freq="D")
    season = np.array([SEASON[d.month] for d in days])
    rate = rng.gamma(1.5, 0.01, customers)  # orders per day in an ordinary month
    spend = rng.gamma(4, 12, customers)
    rows = []
    for c in range(customers):
        n = rng.poisson(rate[c] * season)
        for day in np.flatnonzero(n):
            rows.append((f"c{c}", days[day], round(float(spend[c] * rng.gamma(8, 1 / 8)), 2)))
    return pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])


def test_a_december_cut_off_does_not_carry_christmas_into_the_new_year():
    log = _seasonal_log()
    cut = pd.Timestamp("2023-12-10")
    before, after = log[log["order_date"] < cut], log[(log["order_date"] >= cut) &
                                                       (log["order_date"] < cut + pd.Timedelta(days=90))]
    result = customer_value(before, ValueSettings(horizon_days=90, seed=1))
    real = after["amount"].sum()
    assert real / 1.5 <= result.forecast_total <= real * 1.5, (result.forecast_total, real)
    assert any("season" in n for n in result.notes)


def test_a_total_carrying_the_autumn_rate_is_brought_to_the_season_ahead():
    """The failure seen on a real gift-shop log: a value model whose total carries the last 90 days' rate
    (the Christmas run-up) into January and February. The season index brings it to the market's
    expectation for those days."""
    log = _seasonal_log()
    cut = pd.Timestamp("2023-12-10")
    before = log[log["order_date"] < cut]
    after = log[(log["order_date"] >= cut) & (log["order_date"] < cut + pd.Timedelta(days=90))]
    carried = before.loc[before["order_date"] >= cut - pd.Timedelta(days=90), "amount"].sum()
    real = after["amount"].sum()
    assert carried > 1.5 * real  # what the page would have said without the season
    index, note = season_index(before, 90, carried)
    assert real / 1.5 <= carried * index <= real * 1.5 and "season" in note


def test_a_log_too_short_to_see_a_season_is_left_as_it_is():
    log = _seasonal_log(customers=300)
    short = log[log["order_date"] < "2021-09-01"]  # eight months: no year to learn a season from
    assert season_index(short, 90, 1000.0) == (1.0, None)
