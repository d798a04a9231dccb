"""Scale benchmark: a saved model scores and explains 1M and 10M customers in batches (`score --engine
stream`), and 1M on a Dask LocalCluster of 2 workers; plus the learning curve behind the training sample.

    python -m bench.scale --model bench/out/1000000/model.bullseye [--rows 1000000 10000000]

The 10M file is generated once (bench/data/customers_10000000.csv, ~1.4 GB) and kept. Each command
runs in its own process; peak memory is sampled every 0.1 s over the process and its children (forked
SHAP workers, Dask workers): "tree" adds them up (an upper bound: forked children share pages with
their parent), "main" is the scoring process alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
OUT = ROOT / "bench" / "out" / "scale"
CHUNK = 1_000_000


def _write_once(path: Path, tables) -> Path:
    """``path`` as CSV from ``tables`` (an iterator of pyarrow tables, one header), unless it exists: written
    to a .part file first, so an interrupted run never leaves a half file that passes for a whole one."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    writer = None
    with open(tmp, "wb") as f:
        for table in tables:
            if writer is None:
                writer = pacsv.CSVWriter(f, table.schema)
            writer.write_table(table)
        writer.close()
    tmp.rename(path)
    return path


def big_file(n: int) -> Path:
    """``n`` customers like bench.generate's, written 1M at a time (ids and emails stay unique)."""
    from bench.generate import make_table

    def chunks():
        for i, start in enumerate(range(0, n, CHUNK)):
            df, _ = make_table(min(CHUNK, n - start), seed=1000 + i)
            df["customer_id"] += start
            df["email"] = "user" + df["customer_id"].astype(str) + "@example.com"
            yield pa.Table.from_pandas(df, preserve_index=False)

    return _write_once(DATA / f"customers_{n}.csv", chunks())


def big_log(lines: int, customers: int | None = None) -> Path:
    """An order-line log of ``lines`` lines (order, customer, date, product, quantity, unit price,
    country) over two years, written 5M lines at a time; generated once and kept."""
    customers = customers or max(1000, lines // 25)
    start_day = np.datetime64("2024-01-01T00:00:00")

    def chunks():
        for i, start in enumerate(range(0, lines, 5_000_000)):
            n = min(5_000_000, lines - start)
            rng = np.random.default_rng(2000 + i)
            # Orders of 4 lines; heavy-tailed activity: a few customers place most orders, as in real shops.
            order = np.arange(n) // 4
            orders = int(order[-1]) + 1
            cust = (np.minimum((rng.pareto(1.2, orders) * customers / 20).astype(np.int64), customers - 1) + 1)[order]
            seconds = rng.integers(0, 730 * 86400, orders)[order]
            yield pa.table({
                "order_id": pa.array(order + start // 4 + 500_000).cast(pa.string()),
                "customer_id": pa.array(cust),
                "date": pa.array(start_day + seconds.astype("timedelta64[s]")),
                "product_id": pa.array(rng.integers(10_000, 14_000, n)).cast(pa.string()),
                "quantity": pa.array(np.maximum(rng.poisson(2.0, n), 1)),
                "unit_price": pa.array(np.round(rng.lognormal(1.5, 0.7, n), 2)),
                "country": pa.array(rng.choice(["UK", "France", "Germany", "Spain", "Netherlands"], n)),
            })

    return _write_once(DATA / f"log_{lines}.csv", chunks())


def log_rollup(lines: int) -> dict:
    """A repurchase model trained on a 2M-line log scores a ``lines``-line log with --engine stream: the
    log is filed by customer into partitions and rolled up part by part, then every customer scored."""
    small, big = big_log(2_000_000), big_log(lines)
    out = OUT / "log_train"
    measured(["run", "--input", str(small), "--out", str(out), "--transactions", "--horizon", "60", "--no-value",
              "--save-model", str(out / "log.bullseye")])
    r = score(out / "log.bullseye", big, "stream", OUT / f"log_{lines}")
    r["lines"] = lines
    return r


def measured(args: list[str]) -> dict:
    """Run ``python -m lib.cli <args>``: wall seconds and peak RSS (main process, and with its children)."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "lib.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    main = psutil.Process(proc.pid)
    peak_main = peak_tree = 0
    while proc.poll() is None:
        try:
            rss = main.memory_info().rss
            # PSS splits each shared page between the processes sharing it: forked SHAP workers share most
            # of their parent's memory, so summing RSS would count it two or three times.
            tree = sum(p.memory_full_info().pss for p in [main, *main.children(recursive=True)])
        except psutil.Error:
            break
        peak_main, peak_tree = max(peak_main, rss), max(peak_tree, tree)
        time.sleep(0.1)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(err[-3000:])
    return {"wall_s": time.perf_counter() - t0, "peak_main_gb": peak_main / 1024**3, "peak_tree_gb": peak_tree / 1024**3,
            "stderr": err}


def score(model: Path, path: Path, engine: str, out: Path, *extra: str) -> dict:
    r = measured(["score", "--model", str(model), "--input", str(path), "--out", str(out), "--engine", engine,
                  "--top-pct", "10", "--control-pct", "10", *extra])
    report = json.loads((out / "report.json").read_text())
    r.update(rows=report["rows"], customers=report["customers"], timings=report["timings_s"], engine=report["engine"])
    r["rows_per_s"] = r["rows"] / r["wall_s"]
    return r


def learning_curve(sizes=(100_000, 200_000, 400_000, 800_000)) -> tuple[list[dict], float]:
    """Holdout AUC and training time of the propensity model by rows learnt from (1M benchmark table,
    one fixed 200k holdout): why the trees learn from a 300k sample above that size."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from bench.generate import make_table
    from lib.models.model import PropensityModel
    from lib.models.propensity import VALIDATION_MAX_ROWS

    df, optimal = make_table(1_000_000, seed=0)
    y = (df.pop("responded") == "yes").astype(int).to_numpy()
    feats = tuple(c for c in df.columns if c not in ("customer_id", "email"))
    train, test = train_test_split(np.arange(len(df)), test_size=0.2, stratify=y, random_state=42)
    rows = []
    for n in sizes:
        sub = train if n >= len(train) else train_test_split(train, train_size=n, stratify=y[train], random_state=42)[0]
        fit, val = train_test_split(sub, test_size=min(0.15, VALIDATION_MAX_ROWS / len(sub)), stratify=y[sub],
                                    random_state=42)
        t0 = time.perf_counter()
        model = PropensityModel(feats, 42, 1.0).fit(df.iloc[fit], y[fit], eval_set=(df.iloc[val], y[val]))
        secs = time.perf_counter() - t0
        rows.append({"fit_rows": len(fit), "auc": float(roc_auc_score(y[test], model.decision_function(df.iloc[test]))),
                     "train_s": secs, "trees": model.best_iteration_ + 1})
        print(json.dumps(rows[-1]), flush=True)
    return rows, optimal


def run(model: Path, sizes: list[int], dask_rows: int, log_lines: int = 0) -> dict:
    results: dict = {"stream": {}, "dask": None, "log": None}
    for n in sizes:
        path = big_file(n)
        print(f"[{n:,}] score --engine stream…", flush=True)
        results["stream"][n] = score(model, path, "stream", OUT / f"stream_{n}")
        print(json.dumps({k: v for k, v in results["stream"][n].items() if k != "stderr"}), flush=True)
    if dask_rows:
        print(f"[{dask_rows:,}] score --engine dask (LocalCluster, 2 workers)…", flush=True)
        results["dask"] = score(model, big_file(dask_rows), "dask", OUT / f"dask_{dask_rows}", "--workers", "2")
        results["dask"]["n"] = dask_rows
        print(json.dumps({k: v for k, v in results["dask"].items() if k != "stderr"}), flush=True)
    if log_lines:
        print(f"[{log_lines:,} log lines] score --engine stream (roll-up in parts)…", flush=True)
        results["log"] = log_rollup(log_lines)
        print(json.dumps({k: v for k, v in results["log"].items() if k != "stderr"}), flush=True)
    return results


def lines(results: dict, curve: tuple[list[dict], float] | None) -> list[str]:
    out = ["## Scoring big files with a saved model (bench/scale.py)", "",
           "`python -m lib.cli score --model M --input F --engine stream --top-pct 10 --control-pct 10`: read in",
           "250k-row batches, segments, scores, exact SHAP (WOODELF), reasons, ranks, list, customers.csv.",
           "Memory sampled every 0.1 s: main = the scoring process's peak RSS; all = the peak of the PSS of it and",
           "its forked SHAP workers (or Dask workers) added up, shared pages counted once.", "",
           "| engine | rows | wall s | rows/s | read+clean | segments | score | SHAP | reasons | finish | peak RSS main GB "
           "| peak memory all GB |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = [("stream", n, r) for n, r in sorted(results["stream"].items())]
    if results.get("dask"):
        rows.append(("dask (2 workers)", results["dask"]["n"], results["dask"]))
    for engine, n, r in rows:
        t = r["timings"]
        out.append(f"| {engine} | {n:,} | {r['wall_s']:.1f} | {r['rows_per_s']:,.0f} | {t.get('part_read', 0):.1f} "
                   f"| {t.get('part_segments', 0):.1f} | {t.get('part_score', 0):.1f} | {t.get('part_shap', 0):.1f} "
                   f"| {t.get('part_reasons', 0):.1f} | {t.get('finish', 0):.1f} | {r['peak_main_gb']:.2f} "
                   f"| {r['peak_tree_gb']:.2f} |")
    out += ["", "Stage seconds are summed over parts (on Dask: worker seconds, not wall time).", ""]
    stream = results["stream"]
    checks = []
    if 10_000_000 in stream:
        big = stream[10_000_000]
        checks.append(("10M scored + explained + written, peak RSS ≤ 3 GB (main process)",
                       f"{big['peak_main_gb']:.2f} GB", big["peak_main_gb"] <= 3.0))
        checks.append(("… and with its SHAP workers (PSS, shared pages once) ≤ 3 GB", f"{big['peak_tree_gb']:.2f} GB",
                       big["peak_tree_gb"] <= 3.0))
        if 1_000_000 in stream:
            ratio = big["wall_s"] / stream[1_000_000]["wall_s"]
            checks.append(("t(10M) ≤ 11 × t(1M)", f"{ratio:.2f}×", ratio <= 11))
    if results.get("dask") and results["dask"]["n"] in stream:
        ratio = results["dask"]["wall_s"] / stream[results["dask"]["n"]]["wall_s"]
        checks.append((f"Dask LocalCluster vs stream at {results['dask']['n']:,} rows", f"{ratio:.2f}× the time",
                       True))
    if checks:
        out += ["| target | measured | met |", "|---|---|---|"]
        out += [f"| {a} | {b} | {'yes' if ok else '**no**'} |" for a, b, ok in checks]
        out.append("")
    basis = results.get("dask") or (max(stream.items())[1] if stream else None)
    if basis:
        t = basis["timings"]
        worker_s = sum(v for k, v in t.items() if k.startswith("part_"))
        per_core = basis["rows"] / worker_s  # rows per second of one core's work on the parts
        client_s = t.get("finish", 0.0) * 1e8 / basis["rows"]  # ranking + writing on the client, linear
        out += [f"Work on the parts, per core: **{per_core:,.0f} rows/s** (read, segments, score, SHAP, reasons, "
                f"parking; {basis['rows']:,} rows over {worker_s:.1f} worker-seconds). The client's ranking and "
                f"writing of one customers.csv took {t.get('finish', 0.0):.1f} s, about {client_s / 60:.1f} min "
                "at 100M. Projected for 100M customers on N 8-core workers:", "",
                "| workers (8 cores each) | parts, min | client, min | total, min |", "|---|---|---|---|"]
        for w in (2, 4, 8, 16):
            parts_min = 1e8 / (per_core * 8 * w) / 60
            out.append(f"| {w} | {parts_min:.1f} | {client_s / 60:.1f} | {parts_min + client_s / 60:.1f} |")
        out += ["", "With --output-format parquet the client writes no CSV: each part is its own file.", ""]
    if results.get("log"):
        r = results["log"]
        t = r["timings"]
        out += ["## A transaction log bigger than memory (bench/scale.py)", "",
                f"A repurchase model (trained on a 2M-line log) scores a {r['lines']:,}-line log "
                f"({big_log(r['lines']).stat().st_size / 1024**3:.1f} GB CSV) with `--engine stream`: each line is "
                "filed under one of 32 partitions by customer, each partition rolled up alone with the same code "
                "as a small log, then every customer scored and explained.", "",
                "| lines | customers | wall s | roll-up s | score + explain s | peak RSS main GB | peak memory all GB |",
                "|---|---|---|---|---|---|---|",
                f"| {r['lines']:,} | {r['customers']:,} | {r['wall_s']:.1f} | {t.get('load', 0):.1f} "
                f"| {t.get('score', 0) + t.get('explain', 0):.1f} | {r['peak_main_gb']:.2f} | {r['peak_tree_gb']:.2f} |", ""]
    if curve is not None:
        rows_, optimal = curve
        out += ["## Rows the trees learn from (bench/scale.py learning curve, 1M table, same 200k holdout)", "",
                f"Bayes-optimal AUC {optimal:.4f}.", "", "| fit rows | holdout AUC | train s | trees |", "|---|---|---|---|"]
        out += [f"| {r['fit_rows']:,} | {r['auc']:.4f} | {r['train_s']:.1f} | {r['trees']} |" for r in rows_]
        out.append("")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--dask-rows", type=int, default=1_000_000, help="0: skip the Dask run")
    parser.add_argument("--log-lines", type=int, default=50_000_000, help="0: skip the big-log run")
    parser.add_argument("--skip-curve", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    results = run(args.model, args.rows, args.dask_rows, args.log_lines)
    curve = None if args.skip_curve else learning_curve()
    print("\n".join(lines(results, curve)))


if __name__ == "__main__":
    main()
