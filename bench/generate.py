"""Synthetic customer tables for the benchmark, with a known response model.

~25 columns: an id, an email (PII), 15 numbers (some with missing values, skewed money columns),
6 categories and a yes/no response drawn from a known logistic model with interactions, so the
Bayes-optimal AUC (the AUC of the true probabilities) is known and a model can be judged against it.
Four planted clusters shift the behaviour columns.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

CATEGORIES = {
    "region": ["North", "South", "East", "West", "Central"],
    "channel": ["web", "app", "store"],
    "plan": ["basic", "plus", "premium"],
    "device": ["ios", "android", "desktop", "other"],
    "acquisition": [f"campaign_{i}" for i in range(12)],
    "segment_code": [f"S{i}" for i in range(20)],
}


def true_logit(df: pd.DataFrame) -> np.ndarray:
    """The planted response model (log-odds)."""
    opens = df["email_opens_90d"].to_numpy(dtype="float64")
    visits = np.nan_to_num(df["web_visits_30d"].to_numpy(dtype="float64"), nan=0.0)
    recency = df["recency_days"].to_numpy(dtype="float64")
    tenure = df["tenure_days"].to_numpy(dtype="float64")
    premium = (df["plan"] == "premium").to_numpy()
    app = (df["channel"] == "app").to_numpy()
    return (
        -2.4
        + 0.9 * ((opens >= 3) & (opens <= 12))
        + 0.12 * np.minimum(visits, 10)
        - 1.1 * (recency > 120)
        + 0.5 * premium
        + 0.4 * app * (visits > 4)
        + 0.25 * np.log1p(df["spend_12m"].to_numpy(dtype="float64")) / 3
        - 0.3 * (tenure < 60)
    )


def make_table(n: int, seed: int = 0) -> tuple[pd.DataFrame, float]:
    """Return the table and its Bayes-optimal AUC."""
    rng = np.random.default_rng(seed)
    cluster = rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1])
    shift = np.array([0.0, 1.0, -0.8, 2.0])[cluster]
    df = pd.DataFrame({"customer_id": np.arange(1, n + 1), "email": [f"user{i}@example.com" for i in range(n)]})
    df["age"] = rng.integers(18, 85, n)
    df["tenure_days"] = rng.gamma(2.0, 300.0, n).round()
    df["recency_days"] = (rng.gamma(1.5, 40.0, n) * np.exp(-0.4 * shift)).round()
    df["orders_12m"] = rng.poisson(np.exp(1.0 + 0.5 * shift))
    df["spend_12m"] = (df["orders_12m"] * rng.lognormal(3.5 + 0.3 * shift, 0.6)).round(2)
    df["avg_basket"] = (df["spend_12m"] / df["orders_12m"].clip(lower=1)).round(2)
    df["email_opens_90d"] = rng.poisson(np.exp(1.2 + 0.3 * shift))
    df["web_visits_30d"] = rng.poisson(np.exp(1.0 + 0.4 * shift)).astype("float64")
    df.loc[rng.random(n) < 0.08, "web_visits_30d"] = np.nan
    df["app_sessions_30d"] = rng.poisson(2.0, n)
    df["support_tickets"] = rng.poisson(0.3, n)
    df["discount_share"] = rng.beta(2, 5, n).round(3)
    df["returns_12m"] = rng.poisson(0.5, n)
    df["income"] = rng.lognormal(10.5, 0.5, n).round(-2)
    df.loc[rng.random(n) < 0.05, "income"] = np.nan
    df["household_size"] = rng.integers(1, 6, n)
    df["loyalty_points"] = rng.gamma(1.0, 500.0, n).round()
    for col, values in CATEGORIES.items():
        df[col] = rng.choice(values, n)
    p = 1 / (1 + np.exp(-true_logit(df)))
    y = rng.random(n) < p
    df["responded"] = np.where(y, "yes", "no")
    return df, float(roc_auc_score(y, p))


def write_table_cli(make) -> None:
    """The command line every generator shares: ``--rows``, ``--out``, ``--seed`` -> a CSV of ``make``'s table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    df, auc = make(args.rows, args.seed)
    df.to_csv(args.out, index=False)
    print(f"{len(df):,} rows, {df.shape[1]} columns, Bayes-optimal AUC {auc:.4f}")


def main() -> None:
    write_table_cli(make_table)


if __name__ == "__main__":
    main()
