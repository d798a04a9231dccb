"""Benchmark: customer value end to end (every method, the held-out check, the refit) on UCI Online Retail
and on a generated order log of about a million lines, each in a fresh process so its peak RSS is its own.

    python -m bench.value [--lines 1000000] [--skip-online-retail]

Target (issue #15): Online Retail end to end in 15 s or less on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
ONLINE_RETAIL = ROOT.parent / "shared" / "datasets" / "online_retail" / "online_retail.csv.gz"
TARGET_ONLINE_RETAIL_S = 15.0


def make_log(lines: int = 1_000_000, seed: int = 0, days: int = 730) -> pd.DataFrame:
    """An order-line log over ``days`` with what real shops have: customers arriving over time, buying at
    their own rate, leaving, a fourth-quarter peak, multi-line orders and a few returns (credit notes)."""
    rng = np.random.default_rng(seed)
    n = max(100, lines // 16)
    birth = rng.integers(0, days - 30, n)
    life = rng.exponential(400, n)
    rate = rng.gamma(0.9, 1 / 45, n)  # orders per day while a customer
    active = np.minimum(days - birth, life)
    # Thinning: candidate order days uniform over each customer's active span, kept with the season's
    # weight (October-December twice as busy).
    cand = rng.poisson(rate * active * 2)
    cust = np.repeat(np.arange(n), cand)
    day = birth[cust] + (rng.random(len(cust)) * active[cust]).astype(int)
    doy = (pd.Timestamp("2023-01-01") + pd.to_timedelta(day, unit="D")).dayofyear.to_numpy()
    weight = np.where((doy >= 274) & (doy <= 358), 1.0, 0.5)
    keep = rng.random(len(cust)) < weight
    cust, day = cust[keep], day[keep]
    first = np.r_[True, cust[1:] != cust[:-1]]
    day[first] = birth[cust[first]]  # everyone's first order is on the day they arrive
    per_order = 1 + rng.poisson(lines / max(len(cust), 1) - 1, len(cust)).clip(0, 30)
    line_order = np.repeat(np.arange(len(cust)), per_order)
    n_lines = len(line_order)
    price = rng.lognormal(1.2, 0.7, 500).round(2)
    product = rng.integers(0, 500, n_lines)
    qty = rng.integers(1, 13, n_lines)
    order_id = (100000 + line_order).astype(str)
    ret = rng.random(n_lines) < 0.01
    qty = np.where(ret, -qty, qty)
    order_id = np.where(ret, "C" + order_id, order_id)
    return pd.DataFrame({
        "InvoiceNo": order_id,
        "StockCode": (10000 + product).astype(str),
        "Quantity": qty,
        "InvoiceDate": pd.Timestamp("2023-01-01") + pd.to_timedelta(day[line_order], unit="D"),
        "UnitPrice": price[product],
        "CustomerID": (12000 + cust[line_order]).astype(float),
    })


def _child(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it sets ``result``. Adds wall time and peak RSS (GB)."""
    wrapper = (
        "import json, resource, sys, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import pandas as pd\n"
        "from lib.models.value import ValueSettings, customer_value\n"
        + code + "\n"
        "t0 = time.perf_counter()\n"
        "res = customer_value(frame, ValueSettings())\n"
        "result['value_s'] = time.perf_counter() - t0\n"
        "result['peak_rss_gb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024\n"
        "result['lines'] = len(frame)\n"
        "result['customers'] = len(res.table)\n"
        "result['method'] = res.method\n"
        "result['validation'] = res.to_report()['validation']\n"
        "print(json.dumps(result))\n"
    )
    proc = subprocess.run([sys.executable, "-c", wrapper], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--skip-online-retail", action="store_true")
    args = parser.parse_args(argv)
    runs = []
    if not args.skip_online_retail and ONLINE_RETAIL.exists():
        runs.append(("UCI Online Retail", _child(
            "t = time.perf_counter()\n"
            f"frame = pd.read_csv({str(ONLINE_RETAIL)!r})\n"
            "result = {'read_s': time.perf_counter() - t}\n")))
    runs.append((f"generated, {args.lines:,} lines", _child(
        "from bench.value import make_log\n"
        "t = time.perf_counter()\n"
        f"frame = make_log({args.lines})\n"
        "result = {'read_s': time.perf_counter() - t}\n")))
    print("| log | lines | customers | read/generate s | customer value s | peak RSS GB | chosen |"
          " Spearman chosen / naive | top-10% capture chosen / naive | total ratio | churn AUC |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in runs:
        v = r["validation"]
        c, nv = v[r["method"]], v["naive"]
        print(f"| {name} | {r['lines']:,} | {r['customers']:,} | {r['read_s']:.1f} | {r['value_s']:.1f} "
              f"| {r['peak_rss_gb']:.2f} | {r['method']} | {c['spearman']:.3f} / {nv['spearman']:.3f} "
              f"| {c['top10_capture']:.3f} / {nv['top10_capture']:.3f} | {c['total_ratio']:.2f} "
              f"| {c['churn_auc']:.3f} |", flush=True)
    print(f"\nTarget: Online Retail end to end in {TARGET_ONLINE_RETAIL_S:.0f} s or less (customer value s).")


if __name__ == "__main__":
    main()
