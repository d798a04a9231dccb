"""A second synthetic customer table, built unlike ``bench/generate.py`` on purpose: the benchmark
should see what users' files do, not only what our own generator makes.

25 columns: a text account number, a contact e-mail, three dates in three spellings (ISO date,
date + time, and slashes), eight categories of which six have many levels (cities, stores, referral
sources...), eleven numbers with gaps, and a 1/0 ``converted`` column drawn from a known logistic
model, so the Bayes-optimal AUC (the AUC of the true probabilities) is known.

    python -m bench.generate_wide --rows 1000000 --out bench/data/wide_1000000.csv
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

TARGET = "converted"
SNAPSHOT = np.datetime64("2026-06-30")
# name: number of levels (level effects on the log-odds are drawn once from the seed)
CATEGORIES = {"city": 300, "store": 150, "referral": 60, "occupation": 80, "product_line": 40,
              "language": 25, "tier": 5, "payment": 8}


def _levels(name: str, k: int) -> np.ndarray:
    return np.array([f"{name}_{i:03d}" for i in range(k)], dtype=object)


def _dates(days_back: np.ndarray, spelling: str, rng: np.random.Generator) -> np.ndarray:
    """Dates ``days_back`` before the snapshot as text in one of three spellings users' exports have."""
    d = SNAPSHOT - days_back.astype("int64").astype("timedelta64[D]")
    if spelling == "iso":
        return np.datetime_as_string(d, unit="D")
    if spelling == "datetime":
        secs = rng.integers(0, 86_400, len(d)).astype("timedelta64[s]")
        return np.char.replace(np.datetime_as_string(d + secs, unit="s"), "T", " ")
    return np.char.replace(np.datetime_as_string(d, unit="D"), "-", "/")


def make_table(n: int, seed: int = 0) -> tuple[pd.DataFrame, float]:
    """Return the table and its Bayes-optimal AUC."""
    rng = np.random.default_rng(seed)
    effects = {c: rng.normal(0, 0.35, k) for c, k in CATEGORIES.items()}
    df = pd.DataFrame({"account_no": [f"AC-{i:08d}" for i in range(n)]})
    df["contact_email"] = [f"c{i}.x@mail{i % 7}.example.org" for i in range(n)]
    tenure = rng.gamma(2.0, 400.0, n).round() + 30
    since_order = np.minimum(rng.gamma(1.3, 60.0, n).round(), tenure)
    since_login = np.minimum(rng.exponential(20.0, n).round(), tenure)
    df["signup_date"] = _dates(tenure, "iso", rng)
    df["last_order_at"] = _dates(since_order, "datetime", rng)
    df["last_login"] = _dates(since_login, "slash", rng)
    df.loc[rng.random(n) < 0.04, "last_login"] = ""
    codes = {}
    for col, k in CATEGORIES.items():
        weights = rng.zipf(1.6, k).astype(float)
        codes[col] = rng.choice(k, size=n, p=weights / weights.sum())
        df[col] = _levels(col, k)[codes[col]]
    df["age"] = rng.integers(18, 90, n)
    df["income_k"] = rng.lognormal(3.8, 0.5, n).round(1)
    df.loc[rng.random(n) < 0.07, "income_k"] = np.nan
    df["visits_90d"] = rng.poisson(6.0, n)
    df["orders_24m"] = rng.poisson(3.0, n)
    df["spend_24m"] = (df["orders_24m"] * rng.lognormal(3.2, 0.7, n)).round(2)
    df["avg_discount"] = rng.beta(2, 6, n).round(3)
    df["pages_per_visit"] = rng.gamma(2.0, 2.0, n).round(1)
    df.loc[rng.random(n) < 0.1, "pages_per_visit"] = np.nan
    df["support_calls"] = rng.poisson(0.4, n)
    df["returns_24m"] = rng.poisson(0.3, n)
    df["points_balance"] = rng.gamma(0.8, 900.0, n).round()
    df["nps"] = rng.integers(0, 11, n).astype(float)
    df.loc[rng.random(n) < 0.3, "nps"] = np.nan
    logit = (-2.2 - 0.9 * (since_order > 90) + 0.5 * (since_login < 7) + 0.25 * np.log1p(tenure) / 7
             + 0.08 * np.minimum(df["visits_90d"].to_numpy(), 15) + 0.3 * (df["orders_24m"].to_numpy() >= 4)
             - 0.35 * (df["support_calls"].to_numpy() >= 2)
             + 0.6 * np.nan_to_num((df["nps"].to_numpy() >= 9), nan=0.0)
             + sum(effects[c][codes[c]] for c in ("city", "referral", "occupation", "tier")))
    p = 1 / (1 + np.exp(-logit))
    y = rng.random(n) < p
    df[TARGET] = y.astype(int)
    return df, float(roc_auc_score(y, p))


def main() -> None:
    from bench.generate import write_table_cli

    write_table_cli(make_table)


if __name__ == "__main__":
    main()
