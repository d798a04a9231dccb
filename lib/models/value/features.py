"""The boosted models' features per customer at a cutoff, named in words, and the yardstick built on them
(past spend, scaled)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.models.value.activity import Activity
from lib.models.value.settings import SPEND_WINDOWS


def value_features(act: Activity, horizon: int) -> pd.DataFrame:
    """One row per customer seen before ``act.end_day`` (index: customer code), named in words because the
    names become the reasons a marketer reads ("spend last 90 days")."""
    c = act.end_day
    codes = act.customers()
    n_all = len(act.ids)
    d = act.daily
    cust = d["cust"].to_numpy()
    day = d["day"].to_numpy()
    sales = d["sales"].to_numpy()
    net = sales - d["returns"].to_numpy()
    orders = d["orders"].to_numpy().astype("float64")
    bought = sales > 0

    def per(weights: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        if mask is None:
            return np.bincount(cust, weights=weights, minlength=n_all)[codes]
        return np.bincount(cust[mask], weights=weights[mask], minlength=n_all)[codes]

    out: dict[str, np.ndarray] = {}
    first_buy = np.full(n_all, np.iinfo(np.int64).max)
    np.minimum.at(first_buy, cust[bought], day[bought])
    last_buy = np.full(n_all, -1)
    np.maximum.at(last_buy, cust[bought], day[bought])
    fb, lb = first_buy[codes], last_buy[codes]
    has = lb >= 0
    born = np.where(has, fb, act.first_seen[codes])
    out["days since last purchase"] = np.where(has, c - lb, np.nan)
    out["days as a customer"] = (c - born).astype("float64")
    out["orders in total"] = per(orders)
    out["spend in total"] = per(net)
    for w in SPEND_WINDOWS:
        m = day >= c - w
        out[f"spend last {w} days"] = per(net, m)
        out[f"orders last {w} days"] = per(orders, m)
    prev = (day >= c - 180) & (day < c - 90)
    out["spend trend (last 90 vs the 90 before)"] = out["spend last 90 days"] - per(net, prev)
    gross = per(sales)
    n_orders = out["orders in total"]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["average order value"] = np.where(n_orders > 0, gross / n_orders, np.nan)
    biggest = np.zeros(n_all)
    np.maximum.at(biggest, cust, sales)
    out["largest day's spend"] = biggest[codes]
    out["share returned"] = np.where(gross > 0, np.clip(per(d["returns"].to_numpy()) / np.maximum(gross, 1e-9), 0, 1), 0.0)
    # Regularity: mean and spread of the gaps between purchase days.
    bc, bd = cust[bought], day[bought]
    same = np.r_[False, bc[1:] == bc[:-1]]
    gap = np.r_[0, np.diff(bd)].astype("float64")
    n_gap = np.bincount(bc[same], minlength=n_all)[codes].astype("float64")
    s1 = np.bincount(bc[same], weights=gap[same], minlength=n_all)[codes]
    s2 = np.bincount(bc[same], weights=gap[same] ** 2, minlength=n_all)[codes]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_gap = np.where(n_gap > 0, s1 / n_gap, np.nan)
        sd_gap = np.sqrt(np.maximum(s2 / n_gap - mean_gap ** 2, 0))
        out["days between purchases"] = mean_gap
        out["irregularity of purchases"] = np.where(n_gap > 1, sd_gap / mean_gap, np.nan)
        out["overdue (days since last ÷ usual gap)"] = out["days since last purchase"] / mean_gap
    out["purchase days"] = np.bincount(bc, minlength=n_all)[codes].astype("float64")
    if act.has_products:
        out["distinct products"] = np.bincount(act.products["cust"].to_numpy(), minlength=n_all)[codes].astype("float64")
    # The same season a year earlier, when the log reaches back that far (else unknown, not zero).
    season = (day >= c - 365) & (day < c - 365 + horizon)
    known = c - 365 >= 0 and horizon < 365
    out["spend same season last year"] = per(net, season) if known else np.full(len(codes), np.nan)
    out["orders same season last year"] = per(orders, season) if known else np.full(len(codes), np.nan)
    # The whole shop's season: last year, how the H days ahead compared with the H days before them. The
    # same for every customer at a cutoff; across the training cutoffs it tells the model a peak is coming.
    index = np.nan
    if known and c - 365 - horizon >= 0:
        ahead = net[season].sum()
        before = net[(day >= c - 365 - horizon) & (day < c - 365)].sum()
        index = ahead / before if before > 0 else np.nan
    out["season ahead last year (× the months before)"] = np.full(len(codes), index)
    return pd.DataFrame(out, index=pd.Index(codes, name="cust"))


# --- what a method predicts, and the yardstick ------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """One method's prediction for every customer seen before its cutoff (``codes``), over H days."""

    codes: np.ndarray
    p_buy: np.ndarray
    predicted_orders: np.ndarray
    predicted_value: np.ndarray
    churn_risk: np.ndarray
    clv: np.ndarray | None = None  # only BG/NBD can reach 12 months on its own


def _run_rate(features: pd.DataFrame, cutoff: int, horizon: int) -> np.ndarray:
    """Spend over the last 12 months (or the whole log when shorter), scaled to ``horizon`` days."""
    span = max(min(365, cutoff), 1)
    return features["spend last 365 days"].clip(lower=0).to_numpy() * horizon / span


def predict_naive(act: Activity, horizon: int) -> Prediction:
    """The yardstick: past spend per day times H. It has no chance of buying; its churn score for the
    AUC is simply "spent less" (``-predicted_value``)."""
    f = value_features(act, horizon)
    value = _run_rate(f, act.end_day, horizon)
    span = max(min(365, act.end_day), 1)
    orders = f["orders last 365 days"].to_numpy() * horizon / span
    nan = np.full(len(f), np.nan)
    return Prediction(f.index.to_numpy(), nan, orders, value, nan)
