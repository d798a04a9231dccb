"""Benchmark: recommendations (lib/models/recommend/) end to end, including the time-split evaluation and
the tuning, on the UCI Online Retail log and on a 5M-line synthetic shop. Prints a markdown table.

    python -m bench.recommend [--lines 5000000] [--skip-synthetic] [--skip-online-retail]

Targets (issue #14, 2 cores, no GPU): Online Retail (541,909 lines) <= 10 s including reading the
file; 5M lines (~50k customers, ~5k items) <= 2 min. Each measurement runs in a fresh process so its
peak RSS (resource.getrusage) is its own.

Last results (2 cores shared with other jobs, load average ~3-4; K=10, test_days=90; the synthetic
peak RSS includes building the 5M-line frame in memory):

| log | mode | method | hit rate@10 | repeat | popularity | read s | recommend s | total s | peak RSS GB |
|---|---|---|---|---|---|---|---|---|---|
| Online Retail, 541,909 lines | all | repeat | 0.831 | 0.831 | 0.546 | 1.2 | 4.4 | 5.5 | 0.58 |
| Online Retail, 541,909 lines | new | als | 0.495 | 0.335 | 0.335 | 0.9 | 5.5 | 6.5 | 0.59 |
| synthetic, 5,000,000 lines | all | blend | 0.986 | 0.980 | 0.336 | - | 28.0 | 28.1 | 2.09 |
| synthetic, 5,000,000 lines | new | als | 0.761 | 0.116 | 0.116 | - | 28.3 | 28.4 | 2.07 |

Under heavier load from other jobs (load average 5-6) the same runs took up to 12 s (Online
Retail, read + recommend) and 63 s (5M lines): the ALS fits are most of the time and share the cores.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from bench.run import _child  # a fresh interpreter per run, so its peak RSS is the run's own

ROOT = Path(__file__).resolve().parent.parent
ONLINE_RETAIL = ROOT.parent / "shared" / "datasets" / "online_retail" / "online_retail.csv.gz"
TARGET_ONLINE_RETAIL_S = 10.0
TARGET_5M_S = 120.0

_ADJECTIVES = ["VINTAGE", "RETRO", "JUMBO", "MINI", "SET OF 3", "HANGING", "WOODEN", "GLASS", "PAPER", "CERAMIC",
               "KNITTED", "ENAMEL", "PAINTED", "SWEET", "FRENCH", "ROUND"]
_COLOURS = ["RED", "PINK", "BLUE", "GREEN", "WHITE", "IVORY", "BLACK", "GOLD", "SILVER", "POLKADOT", "SPOTTY",
            "FLORAL", "STRIPED"]
_NOUNS = ["BAG", "MUG", "CANDLE", "LANTERN", "HEART", "FRAME", "CLOCK", "BOX", "TIN", "BOTTLE", "CUSHION",
          "TEACUP", "BUNTING", "SIGN", "JAR", "BOWL", "NAPKINS", "PURSE", "DOORSTOP", "APRON"]


def make_log(n_lines: int = 5_000_000, n_customers: int = 50_000, n_items: int = 5_000, seed: int = 0) -> pd.DataFrame:
    """A synthetic order-line log with the shape of a gift wholesaler's (Online Retail-like columns).

    Items belong to 50 themes with a long-tailed popularity inside each; every customer favours two
    or three themes, keeps a personal set of staple items and re-buys them (with a customer-specific
    repeat propensity), and otherwise explores their themes. About 1.5% of lines are cancellations
    (a "C" invoice with a negative quantity) and ~10% of orders carry a POSTAGE line, so the cleaning
    has work to do."""
    rng = np.random.default_rng(seed)
    n_themes = 50
    per_theme = n_items // n_themes
    n_items = per_theme * n_themes
    # Zipf-like popularity within each theme; item = theme * per_theme + rank.
    within = 1.0 / np.arange(1, per_theme + 1) ** 0.9
    within_cdf = np.cumsum(within) / within.sum()
    # Customers: activity (orders), themes, staples and repeat propensity.
    mean_lines_per_order = 5.0
    # Cancellations (1.5% of lines) and postage (1 line in ~10% of orders) come on top of the product
    # lines; aim 5% over and cut to exactly n_lines after sorting by date.
    mean_orders = 1.05 * n_lines / 1.035 / n_customers / mean_lines_per_order
    orders = 1 + rng.negative_binomial(1.2, 1.2 / (1.2 + mean_orders - 1), n_customers)
    themes = rng.integers(0, n_themes, size=(n_customers, 3))
    theme_weight = rng.dirichlet([2.0, 1.0, 0.5], n_customers)
    n_staples = 12
    staple_rank = np.searchsorted(within_cdf, rng.random((n_customers, n_staples)) ** 1.5)
    staple_theme = np.take_along_axis(themes, _pick(rng, theme_weight, n_staples), axis=1)
    staples = staple_theme * per_theme + np.minimum(staple_rank, per_theme - 1)
    staple_cdf = np.cumsum(1.0 / np.arange(1, n_staples + 1))
    staple_cdf /= staple_cdf[-1]
    repeat_p = rng.beta(4.0, 3.0, n_customers)
    # Orders: customer, date (each customer active between a start and an end day, 2 years in all).
    order_customer = np.repeat(np.arange(n_customers), orders)
    start = rng.uniform(0, 600, n_customers)
    span = np.minimum(730 - start, rng.exponential(300, n_customers) + 30)
    order_day = start[order_customer] + rng.random(len(order_customer)) * span[order_customer]
    lines = 1 + rng.poisson(mean_lines_per_order - 1, len(order_customer))
    line_order = np.repeat(np.arange(len(order_customer)), lines)
    c = order_customer[line_order]
    repeat = rng.random(len(line_order)) < repeat_p[c]
    staple_pick = np.searchsorted(staple_cdf, rng.random(len(line_order)))
    explore_theme = np.where(
        rng.random(len(line_order)) < 0.85,
        themes[c, _pick(rng, theme_weight[c], 1)[:, 0]],
        rng.integers(0, n_themes, len(line_order)),
    )
    explore_item = explore_theme * per_theme + np.minimum(np.searchsorted(within_cdf, rng.random(len(line_order))), per_theme - 1)
    item = np.where(repeat, staples[c, staple_pick], explore_item)
    price = np.round(rng.lognormal(0.8, 0.6, n_items), 2) + 0.25
    quantity = rng.choice([1, 2, 3, 4, 6, 12, 24], size=len(line_order), p=[0.3, 0.15, 0.1, 0.15, 0.15, 0.1, 0.05])
    codes = np.array([f"{20000 + i}" for i in range(n_items)], dtype=object)
    descriptions = np.array(
        [f"{_ADJECTIVES[i % 16]} {_COLOURS[(i // 16) % 13]} {_NOUNS[(i // 208) % 20]} {i % 7 + 1}" for i in range(n_items)],
        dtype=object,
    )
    invoice = (500000 + line_order).astype(str).astype(object)
    base = pd.Timestamp("2022-01-01")
    frame = pd.DataFrame({
        "InvoiceNo": invoice,
        "StockCode": codes[item],
        "Description": descriptions[item],
        "Quantity": quantity,
        "InvoiceDate": base + pd.to_timedelta(np.round(order_day[line_order] * 1440), unit="min"),
        "UnitPrice": price[item],
        "CustomerID": (12000 + c).astype(np.int64),
    })
    # Cancellations: a copy of 1.5% of lines on a "C" credit note with the quantity negated.
    cancel = rng.random(len(frame)) < 0.015
    credit = frame[cancel].copy()
    credit["InvoiceNo"] = "C" + credit["InvoiceNo"].astype(str)
    credit["Quantity"] = -credit["Quantity"]
    # Postage on ~10% of orders: one line per order, priced by weight (a different price each time).
    post_orders = np.flatnonzero(rng.random(len(order_customer)) < 0.10)
    postage = pd.DataFrame({
        "InvoiceNo": (500000 + post_orders).astype(str).astype(object),
        "StockCode": "POST",
        "Description": "POSTAGE",
        "Quantity": 1,
        "InvoiceDate": base + pd.to_timedelta(np.round(order_day[post_orders] * 1440), unit="min"),
        "UnitPrice": np.round(rng.uniform(5, 60, len(post_orders)), 2),
        "CustomerID": (12000 + order_customer[post_orders]).astype(np.int64),
    })
    out = pd.concat([frame, credit, postage], ignore_index=True).sort_values("InvoiceDate", kind="stable")
    return out.iloc[: max(n_lines, 1)].reset_index(drop=True)


def _pick(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    """``n`` column indices per row drawn from each row's ``weights``."""
    cdf = np.cumsum(weights, axis=1)
    u = rng.random((len(weights), n)) * cdf[:, -1:]
    return (u[:, :, None] > cdf[:, None, :]).sum(axis=2)


_RECOMMEND = (
    "from lib.models.recommend import RecommendSettings, recommend\n"
    "t1 = time.perf_counter()\n"
    "rec = recommend(frame, RecommendSettings(mode={mode!r}))\n"
    "t2 = time.perf_counter()\n"
    "rep = rec.to_report()\n"
    "result = {{'lines': len(frame), 'customers': rec.customers, 'items': rec.items_used, 'method': rec.method,"
    " 'hit_rate_at_k': rep['hit_rate_at_k'], 'repeat_hit_rate_at_k': rep['baselines']['repeat']['hit_rate_at_k'],"
    " 'popularity_hit_rate_at_k': rep['baselines']['popularity']['hit_rate_at_k'],"
    " 'evaluated_customers': rec.evaluated_customers, 'read_s': t1 - t0, 'recommend_s': t2 - t1, 'total_s': t2 - t0}}\n"
)


def bench_online_retail(mode: str) -> dict:
    code = (
        "from lib.data.io import load_table\n"
        "t0 = time.perf_counter()\n"
        f"frame = load_table({str(ONLINE_RETAIL)!r}).frame\n"
        + _RECOMMEND.format(mode=mode)
    )
    return _child(code)


def bench_synthetic(mode: str, n_lines: int) -> dict:
    code = (
        "from bench.recommend import make_log\n"
        f"frame = make_log({n_lines})\n"
        "t0 = time.perf_counter()\n"
        + _RECOMMEND.format(mode=mode)
    )
    result = _child(code)
    result["read_s"] = None  # generated in memory, not read
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=5_000_000)
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--skip-online-retail", action="store_true")
    parser.add_argument("--modes", nargs="+", default=["all", "new"])
    args = parser.parse_args(argv)
    rows = []
    if not args.skip_online_retail and ONLINE_RETAIL.exists():
        for mode in args.modes:
            rows.append(("Online Retail (read + recommend)", mode, TARGET_ONLINE_RETAIL_S, bench_online_retail(mode)))
    if not args.skip_synthetic:
        for mode in args.modes:
            rows.append((f"synthetic {args.lines:,} lines (recommend)", mode, TARGET_5M_S, bench_synthetic(mode, args.lines)))
    print("| log | mode | lines | customers | items | method | hit rate@10 | repeat | popularity | evaluated "
          "| read s | recommend s | total s | target s | peak RSS GB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, mode, target, r in rows:
        read = "-" if r["read_s"] is None else f"{r['read_s']:.1f}"
        print(
            f"| {name} | {mode} | {r['lines']:,} | {r['customers']:,} | {r['items']:,} | {r['method']} "
            f"| {r['hit_rate_at_k']:.3f} | {r['repeat_hit_rate_at_k']:.3f} | {r['popularity_hit_rate_at_k']:.3f} "
            f"| {r['evaluated_customers']:,} | {read} | {r['recommend_s']:.1f} | {r['total_s']:.1f} "
            f"| {target:.0f} | {r['peak_rss_gb']:.2f} |"
        )

if __name__ == "__main__":
    main()
