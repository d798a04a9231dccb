"""Generate Bullseye's synthetic sample shop (fixed seed): customers, their order lines, and the truth.

Five planted segments (loyal big spenders, new, lapsed, bargain hunters, occasional) with distinct
buying behaviour, and a response label drawn from a known logistic model, so tests can check that
segmentation recovers the segments and the propensity model recovers the drivers.

Run ``python sample_data/make_samples.py`` to rewrite the files in this folder; it also copies the UCI
Bank Marketing file from ``../shared/datasets`` when that folder is present.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SEED = 20261124
AS_OF = pd.Timestamp("2026-10-31")

# name: share, mean orders, mean order value, recency (days), discount share, tenure (days)
SEGMENTS = {
    "loyal_big_spenders": (0.10, 30.0, 150.0, 7.0, 0.05, 1000.0),
    "new": (0.15, 1.5, 55.0, 10.0, 0.15, 30.0),
    "lapsed": (0.20, 5.0, 40.0, 450.0, 0.10, 1000.0),
    "bargain_hunters": (0.20, 12.0, 20.0, 25.0, 0.80, 600.0),
    "occasional": (0.35, 4.0, 85.0, 60.0, 0.15, 400.0),
}
# The planted response model (log-odds); tests check the model ranks these drivers first.
# Deliberately non-linear (a sweet spot of email opens, saturating web visits, a lapse step), so a tree
# model can beat the logistic baseline, as it does on real response data.
RESPONSE_MODEL = {
    "intercept": -3.6,
    "email_opens_90d in 4..12": 1.6,
    "web_visits_last_month (capped at 8)": 0.25,
    "recency_days > 180": -1.5,
}
REGIONS = ["North", "South", "East", "West", "Central"]
CHANNELS = ["web", "app", "store"]
CATEGORIES = {"Home": 35.0, "Fashion": 45.0, "Beauty": 20.0, "Electronics": 120.0, "Garden": 30.0}
FIRST = ["Anna", "Ben", "Chen", "Dana", "Eli", "Fatima", "Goran", "Hana", "Ivan", "Julia", "Kofi", "Li", "Mia", "Noah"]
LAST = ["Smith", "Wang", "Garcia", "Müller", "Rossi", "Kim", "Nowak", "Silva", "Dubois", "Zhang", "Okafor"]


def make_shop(seed: int = SEED, n_customers: int = 5000) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Return (customers, transactions, truth); ``truth`` holds each customer's planted segment and
    true response probability."""
    rng = np.random.default_rng(seed)
    names = list(SEGMENTS)
    shares = np.array([SEGMENTS[s][0] for s in names])
    seg = rng.choice(len(names), size=n_customers, p=shares / shares.sum())
    params = np.array([SEGMENTS[s][1:] for s in names])[seg]
    mean_orders, aov, recency_mu, discount, tenure_mu = params.T
    ids = np.arange(100001, 100001 + n_customers)
    orders = np.maximum(1, rng.poisson(mean_orders))
    tenure = np.maximum(orders * 2 + 1, rng.gamma(16, tenure_mu / 16)).round()
    recency = np.minimum(tenure - 1, rng.gamma(9, recency_mu / 9)).clip(0).round()
    # Order lines: each order has 1..4 lines, dated between first purchase and last purchase.
    cust_of_order = np.repeat(np.arange(n_customers), orders)
    first_day = tenure[cust_of_order]
    last_day = recency[cust_of_order]
    u = rng.random(len(cust_of_order))
    days_ago = (last_day + u * (first_day - last_day)).round()
    # The newest order of each customer is exactly at their recency, the oldest at their tenure.
    starts = np.concatenate([[0], np.cumsum(orders)[:-1]])
    days_ago[starts] = recency
    multi = orders > 1
    days_ago[(starts + orders - 1)[multi]] = tenure[multi]
    order_ids = np.arange(500001, 500001 + len(cust_of_order))
    lines_per_order = rng.integers(1, 3, size=len(cust_of_order))
    line_order = np.repeat(np.arange(len(cust_of_order)), lines_per_order)
    cat_names = list(CATEGORIES)
    category = rng.choice(len(cat_names), size=len(line_order))
    line_cust = cust_of_order[line_order]
    target_line_value = aov[line_cust] / lines_per_order[line_order]
    quantity = rng.integers(1, 4, size=len(line_order))
    unit_price = (target_line_value / quantity * rng.lognormal(0, 0.25, len(line_order))).round(2).clip(0.5)
    disc = rng.random(len(line_order)) < discount[line_cust]
    unit_price = np.where(disc, (unit_price * 0.7).round(2), unit_price)
    channel = rng.choice(3, size=n_customers, p=[0.5, 0.3, 0.2])
    region = rng.choice(len(REGIONS), size=n_customers)
    transactions = pd.DataFrame(
        {
            "order_id": order_ids[line_order],
            "customer_id": ids[line_cust],
            "order_date": (AS_OF - pd.to_timedelta(days_ago[line_order], unit="D")).strftime("%Y-%m-%d"),
            "category": np.array(cat_names)[category],
            "quantity": quantity,
            "unit_price": unit_price,
            "discounted": np.where(disc, "yes", "no"),
            "channel": np.array(CHANNELS)[channel[line_cust]],
            "region": np.array(REGIONS)[region[line_cust]],
        }
    )
    # A few returns, recorded as negative quantities on a credit note ("C" prefix).
    returns = transactions.sample(frac=0.01, random_state=seed).copy()
    returns["order_id"] = "C" + returns["order_id"].astype(str)
    returns["quantity"] = -returns["quantity"]
    transactions["order_id"] = transactions["order_id"].astype(str)
    transactions = pd.concat([transactions, returns]).sort_values(["order_date", "order_id"], kind="stable")
    transactions = transactions.reset_index(drop=True)

    line_value = transactions["quantity"] * transactions["unit_price"]
    per = transactions.assign(value=line_value, disc=transactions["discounted"].eq("yes"))
    sales = per[per["quantity"] > 0]
    monetary = per.groupby("customer_id")["value"].sum()
    n_orders = sales.groupby("customer_id")["order_id"].nunique()
    disc_share = sales.groupby("customer_id")["disc"].mean()
    engagement = np.clip(1.5 - recency / 120, 0, None) + (seg == 0) * 1.0
    web_visits = rng.poisson(2 + 4 * engagement)
    email_opens = rng.poisson(1 + 3 * engagement + rng.gamma(1, 1.5, n_customers))
    coef = list(RESPONSE_MODEL.values())
    logit = (
        coef[0]
        + coef[1] * ((email_opens >= 4) & (email_opens <= 12))
        + coef[2] * np.minimum(web_visits, 8)
        + coef[3] * (recency > 180)
    )
    p = 1 / (1 + np.exp(-logit))
    responded = rng.random(n_customers) < p
    first = rng.choice(FIRST, n_customers)
    last = rng.choice(LAST, n_customers)
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "name": [f"{a} {b}" for a, b in zip(first, last)],
            "email": [f"{a.lower()}.{b.lower()}{i}@example.com" for a, b, i in zip(first, last, ids)],
            "age": rng.integers(18, 80, n_customers),
            "region": np.array(REGIONS)[region],
            "preferred_channel": np.array(CHANNELS)[channel],
            "signup_date": (AS_OF - pd.to_timedelta(tenure, unit="D")).strftime("%Y-%m-%d"),
            "recency_days": recency.astype(int),
            "orders": n_orders.reindex(ids).fillna(0).astype(int).to_numpy(),
            "total_spend": monetary.reindex(ids).fillna(0).round(2).to_numpy(),
            "discount_share": disc_share.reindex(ids).fillna(0).round(3).to_numpy(),
            "web_visits_last_month": web_visits,
            "email_opens_90d": email_opens,
            "email_consent": np.where(rng.random(n_customers) < 0.92, "yes", "no"),
            "responded": np.where(responded, "yes", "no"),
        }
    )
    customers["avg_order_value"] = (customers["total_spend"] / customers["orders"].clip(lower=1)).round(2)
    customers.insert(customers.columns.get_loc("recency_days"), "tenure_days", tenure.astype(int))
    truth = pd.DataFrame({"customer_id": ids, "segment": np.array(names)[seg], "response_probability": p})
    return customers, transactions, truth


def main() -> None:
    customers, transactions, _ = make_shop()
    customers.to_csv(HERE / "shop_customers.csv", index=False)
    with gzip.open(HERE / "shop_transactions.csv.gz", "wt", encoding="utf-8", newline="") as fh:
        transactions.to_csv(fh, index=False)
    bank = HERE.parent.parent / "shared" / "datasets" / "bank_marketing" / "bank-full.csv"
    if bank.exists():
        with open(bank, "rb") as src, gzip.open(HERE / "bank_marketing.csv.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
    print(f"{len(customers):,} customers, {len(transactions):,} order lines written to {HERE}")


if __name__ == "__main__":
    main()
