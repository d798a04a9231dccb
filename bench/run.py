"""Benchmark: the full CLI pipeline at 100k and 1M customers, the no-SHAP part with plain library calls,
and a typical notebook pipeline, on this machine. Writes bench/results.md.

    python -m bench.run [--sizes 100000 1000000] [--skip-notebook]

Each measurement runs in a fresh process so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
OUT = ROOT / "bench" / "out"

# Targets from the performance issue (2 cores, no GPU).
TARGET_1M_S = 60.0
TARGET_100K_S = 8.0
TARGET_RSS_GB = 3.0


def _start(code: str) -> subprocess.Popen:
    """Start ``code`` in a fresh interpreter; it must print one JSON line (read by ``_finish``)."""
    wrapper = (
        "import json, resource, sys, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "t0 = time.perf_counter()\n" + code + "\n"
        "result['wall_s'] = time.perf_counter() - t0\n"
        "result['peak_rss_gb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024\n"
        "print(json.dumps(result))\n"
    )
    return subprocess.Popen([sys.executable, "-c", wrapper], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> dict:
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(stderr[-3000:])
    return json.loads(stdout.strip().splitlines()[-1])


def _child(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it must print one JSON line. Adds its peak RSS (GB)."""
    return _finish(_start(code))


def _pipeline_code(path: Path, out: Path, target: str = "responded", *extra: str) -> str:
    return (
        "from lib.cli import main\n"
        f"rc = main(['run', '--input', {str(path)!r}, '--out', {str(out)!r}, '--target', {target!r},"
        f" '--top-pct', '10', '--control-pct', '10', '--save-model', {str(out / 'model.bullseye')!r}, *{list(extra)!r}])\n"
        f"report = json.load(open({str(out / 'report.json')!r}))\n"
        "result = {'rc': rc, 'timings': report['timings_s'], 'auc': report['model']['holdout_auc'],"
        " 'baseline_auc': report['model']['baseline_auc'], 'trees': report['model']['trees'],"
        " 'explain_method': report['explain']['method'], 'rows_explained': report['explain']['rows_explained'],"
        " 'k': report['segmentation']['k'], 'n_fit': report['model'].get('n_fit'),"
        " 'algorithm': report['model'].get('algorithm')}\n"
    )


def bench_pipeline(path: Path, out: Path, *extra: str, target: str = "responded") -> dict:
    return _child(_pipeline_code(path, out, target, *extra))


def bench_two_at_once(path: Path, out: Path, target: str = "responded") -> list[dict]:
    """Two runs of the same file started together, as two users of one server would (each its own output)."""
    procs = [_start(_pipeline_code(path, out / f"together_{i}", target)) for i in range(2)]
    return [_finish(p) for p in procs]


# What each generator's table is: its target, the positive value, the columns no model should see, and
# the text date columns (the floor reads them as days before the latest, as any pipeline must).
TABLES = {
    "own": {"target": "responded", "positive": "'yes'", "drop": ["customer_id", "email"], "dates": []},
    "wide": {"target": "converted", "positive": "1", "drop": ["account_no", "contact_email"],
             "dates": ["signup_date", "last_order_at", "last_login"]},
}


def bench_no_shap(path: Path, out: Path, table: str = "own") -> dict:
    """read -> train -> score -> write with plain library calls (the floor any pipeline pays)."""
    spec = TABLES[table]
    code = (
        "import numpy as np, pandas as pd, pyarrow.csv as pc, xgboost as xgb\n"
        "from sklearn.model_selection import train_test_split\n"
        f"df = pc.read_csv({str(path)!r}).to_pandas()\n"
        f"y = (df.pop({spec['target']!r}) == {spec['positive']}).astype(int).to_numpy()\n"
        f"df = df.drop(columns={spec['drop']!r})\n"
        f"for c in {spec['dates']!r}:\n"
        "    d = pd.to_datetime(df[c].replace('', None), format='mixed')\n"
        "    df[c] = (d.max() - d).dt.days\n"
        "for c in df.columns:\n"
        "    if not pd.api.types.is_numeric_dtype(df[c]): df[c] = df[c].astype('category')\n"
        "a, b = train_test_split(np.arange(len(df)), test_size=0.2, random_state=0, stratify=y)\n"
        "m = xgb.XGBClassifier(max_depth=4, n_estimators=600, learning_rate=0.08, tree_method='hist',"
        " enable_categorical=True, early_stopping_rounds=40, n_jobs=2)\n"
        "m.fit(df.iloc[a], y[a], eval_set=[(df.iloc[b], y[b])], verbose=False)\n"
        "p = m.predict_proba(df)[:, 1]\n"
        f"pd.DataFrame({{'score': p}}).to_csv({str(out / 'noshap.csv')!r}, index=False)\n"
        "result = {}\n"
    )
    return _child(code)


def bench_notebook(path: Path) -> dict:
    """The typical notebook: pandas reader, get_dummies, XGBClassifier() defaults, shap on all rows."""
    code = (
        "import pandas as pd, shap, xgboost as xgb\n"
        f"df = pd.read_csv({str(path)!r})\n"
        "y = (df.pop('responded') == 'yes').astype(int)\n"
        "X = pd.get_dummies(df.drop(columns=['customer_id', 'email']), dtype=float)\n"
        "m = xgb.XGBClassifier(n_jobs=2).fit(X, y)\n"
        "t = time.perf_counter()\n"
        "values = shap.TreeExplainer(m).shap_values(X)\n"
        "result = {'shap_s': time.perf_counter() - t}\n"
    )
    return _child(code)


def _machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return f"{os.cpu_count()} cores, {mem:.0f} GB RAM, {platform.machine()}, Python {platform.python_version()}"


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--skip-notebook", action="store_true")
    parser.add_argument("--skip-app", action="store_true", help="skip the app latency run (AppTest)")
    parser.add_argument("--notebook-1m", action="store_true",
                        help="also time the notebook pipeline at 1M rows (about 9 minutes)")
    parser.add_argument("--risk", action="store_true",
                        help="also time the risk check on a 1M-customer log (bench/risk.py; ~3 minutes)")
    parser.add_argument("--scale", action="store_true",
                        help="also score 1M and 10M rows in batches and 1M on Dask (bench/scale.py; ~15 minutes)")
    parser.add_argument("--learners", action="store_true",
                        help="also run --learners all at 100k and auto at 1M (bench/learners.py; ~10 minutes)")
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES),
                        help="which generators' tables: own (bench/generate.py), wide (bench/generate_wide.py)")
    parser.add_argument("--skip-together", action="store_true", help="skip the two-runs-at-once row")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    DATA.mkdir(parents=True, exist_ok=True)
    rows = []
    notebook = None
    notebook_1m = None
    together = None
    for table in args.tables:
        for n in args.sizes:
            path, optimal = _table(table, n)
            out = OUT / f"{table}_{n}" if table != "own" else OUT / str(n)
            out.mkdir(parents=True, exist_ok=True)
            target = TABLES[table]["target"]
            print(f"[{table} {n:,}] pipeline…", flush=True)
            pipe = bench_pipeline(path, out, target=target)
            print(f"[{table} {n:,}] no-SHAP baseline…", flush=True)
            floor = bench_no_shap(path, out, table)
            rows.append({"table": table, "n": n, "optimal_auc": optimal, "pipe": pipe, "floor": floor})
            print(json.dumps(rows[-1]), flush=True)
            if n == 100_000 and table == "own" and not args.skip_together:
                print(f"[{table} {n:,}] two runs at once…", flush=True)
                together = {"alone": pipe, "both": bench_two_at_once(path, out, target)}
                print(json.dumps(together), flush=True)
            if table != "own":
                continue
            if n >= 1_000_000:
                # Before the training-sample lever: the trees learn from every training row.
                print(f"[{n:,}] pipeline, every row trains (before)…", flush=True)
                every = bench_pipeline(path, OUT / f"{n}_every_row", "--train-rows", "0")
                rows.append({"table": table, "n": n, "optimal_auc": optimal, "pipe": every, "floor": floor,
                             "label": "every row trains"})
                print(json.dumps(rows[-1]), flush=True)
            if n == 100_000 and not args.skip_notebook:
                print("[100,000] notebook pipeline…", flush=True)
                notebook = bench_notebook(path)
                print(json.dumps(notebook), flush=True)
            if n == 1_000_000 and args.notebook_1m:
                print("[1,000,000] notebook pipeline (slow)…", flush=True)
                notebook_1m = bench_notebook(path)
                print(json.dumps(notebook_1m), flush=True)
    app = None
    if not args.skip_app:
        biggest = max(args.sizes)
        print(f"[{biggest:,}] app latency (AppTest)…", flush=True)
        proc = subprocess.run([sys.executable, "-m", "bench.app_latency", "--rows", str(biggest)], cwd=ROOT,
                              capture_output=True, text=True, env={**os.environ, "BULLSEYE_DATA_DIR": str(OUT / "app")})
        app = [ln for ln in proc.stdout.splitlines() if ln.startswith(("|", "-", "1", "2", "3", "4", "5", "6", "7", "8", "9"))]
    scale = None
    if args.scale:
        from bench import scale as sc

        model = OUT / str(max(args.sizes)) / "model.bullseye"
        results = sc.run(model, [1_000_000, 10_000_000], 1_000_000, log_lines=50_000_000)
        scale = sc.lines(results, sc.learning_curve())
    risk = None
    if args.risk:
        from bench import risk as rk

        print("risk at 1M…", flush=True)
        risk = rk.section(rk.measure())
    write_results(rows, notebook, notebook_1m, app, scale, together, risk)
    if args.learners:
        from bench import learners

        learners.write_section(learners.run(100_000, 1_000_000))


def _table(table: str, n: int) -> tuple[Path, float]:
    """The generator's CSV of ``n`` rows (written once) and its Bayes-optimal AUC."""
    if table == "own":
        from bench.generate import make_table
        path = DATA / f"customers_{n}.csv"
    else:
        from bench.generate_wide import make_table
        path = DATA / f"{table}_{n}.csv"
    df, optimal = make_table(n, seed=0)
    if not path.exists():
        df.to_csv(path, index=False)
    return path, optimal


def write_results(rows: list[dict], notebook: dict | None, notebook_1m: dict | None = None,
                  app: list[str] | None = None, scale: list[str] | None = None,
                  together: dict | None = None, risk: list[str] | None = None) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark results",
        "",
        f"- Date: {now}; commit {_commit()}; machine: {_machine()}; load average at the end "
        f"{os.getloadavg()[0]:.1f} (1 min) / {os.getloadavg()[2]:.1f} (15 min).",
        f"- Command: `{' '.join(['python -m bench.run', *sys.argv[1:]])}` (`make bench`).",
        "- Data: own = `bench/generate.py` (24 columns: 15 numbers with missing values, 6 categories, id, email,",
        "  response from a known model); wide = `bench/generate_wide.py` (25 columns: text account number, e-mail,",
        "  three dates in three spellings, 8 categories of which 6 have 25-300 levels, 11 numbers with gaps, a 1/0",
        "  response from a known logistic model). Pipeline: `python -m lib.cli run --target responded|converted",
        "  --top-pct 10 --control-pct 10`: load, roles, quality, segment (k by silhouette), learners compared,",
        "  train + baseline, exact SHAP for every row, reasons, target list, write. Floor: read, dates as days,",
        "  XGBoost with early stopping, score, write, with plain library calls.",
        "",
        "| data | rows | learner | total s | load | roles | quality | segment | train | explain (SHAP + reasons) | target | write "
        "| peak RSS GB | no-SHAP floor s | total / floor | AUC | optimal AUC | baseline AUC |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = r["pipe"]["timings"]
        total = r["pipe"]["wall_s"]
        floor = r["floor"]["wall_s"]
        label = f"{r['n']:,}" + (f" ({r['label']})" if r.get("label") else "")
        lines.append(
            f"| {r.get('table', 'own')} | {label} | {r['pipe'].get('algorithm', '')} | {total:.1f} | {t.get('load', 0):.1f} | {t.get('roles', 0):.1f} | {t.get('quality', 0):.1f} "
            f"| {t.get('segment', 0):.1f} | {t.get('train', 0):.1f} | {t.get('explain', 0):.1f} | {t.get('target', 0):.1f} "
            f"| {t.get('write', 0):.1f} | {r['pipe']['peak_rss_gb']:.2f} | {floor:.1f} | {total / floor:.2f} "
            f"| {r['pipe']['auc']:.4f} | {r['optimal_auc']:.4f} | {r['pipe']['baseline_auc']:.4f} |"
        )
    lines.append("")
    by_n = {r["n"]: r for r in rows if not r.get("label") and r.get("table", "own") == "own"}
    checks = []
    if 1_000_000 in by_n:
        r = by_n[1_000_000]
        checks.append(("1M end to end ≤ 60 s", r["pipe"]["wall_s"], r["pipe"]["wall_s"] <= TARGET_1M_S))
        checks.append(("1M ≤ 2.5× the no-SHAP floor (same run)", r["pipe"]["wall_s"] / r["floor"]["wall_s"],
                       r["pipe"]["wall_s"] <= 2.5 * r["floor"]["wall_s"]))
        checks.append(("1M peak RSS ≤ 3 GB", r["pipe"]["peak_rss_gb"], r["pipe"]["peak_rss_gb"] <= TARGET_RSS_GB))
        checks.append(("1M AUC within 0.01 of optimal", r["optimal_auc"] - r["pipe"]["auc"],
                       r["optimal_auc"] - r["pipe"]["auc"] <= 0.01))
    if 100_000 in by_n:
        r = by_n[100_000]
        checks.append(("100k end to end ≤ 8 s", r["pipe"]["wall_s"], r["pipe"]["wall_s"] <= TARGET_100K_S))
        checks.append(("100k AUC within 0.01 of optimal", r["optimal_auc"] - r["pipe"]["auc"],
                       r["optimal_auc"] - r["pipe"]["auc"] <= 0.01))
    if 100_000 in by_n and 1_000_000 in by_n:
        ratio = by_n[1_000_000]["pipe"]["wall_s"] / by_n[100_000]["pipe"]["wall_s"]
        checks.append(("t(1M) / t(100k) ≤ 12", ratio, ratio <= 12))
    checks += _wide_checks(rows)
    if together is not None:
        alone = together["alone"]["wall_s"]
        walls = [b["wall_s"] for b in together["both"]]
        checks.append(("two 100k runs at once: each ≤ 2× one alone", max(walls) / alone, max(walls) <= 2 * alone))
        lines += [f"Two 100k runs (own table) started together: {walls[0]:.1f} s and {walls[1]:.1f} s; one alone "
                  f"{alone:.1f} s ({max(walls) / alone:.2f}×). OpenMP waits passively (lib/compute.py).", ""]
    if notebook is not None and 100_000 in by_n:
        speedup = notebook["wall_s"] / by_n[100_000]["pipe"]["wall_s"]
        checks.append(("≥ 5× faster than the notebook pipeline at 100k", speedup, speedup >= 5))
        lines += [f"Notebook pipeline at 100k (pandas reader, get_dummies, XGBClassifier() defaults, "
                  f"shap.TreeExplainer on all rows): {notebook['wall_s']:.1f} s, of which SHAP "
                  f"{notebook['shap_s']:.1f} s; peak RSS {notebook['peak_rss_gb']:.2f} GB.", ""]
    if notebook_1m is not None and 1_000_000 in by_n:
        speedup = notebook_1m["wall_s"] / by_n[1_000_000]["pipe"]["wall_s"]
        checks.append(("≥ 10× faster than the notebook pipeline at 1M", speedup, speedup >= 10))
        lines += [f"Notebook pipeline at 1M: {notebook_1m['wall_s']:.1f} s, of which SHAP {notebook_1m['shap_s']:.1f} s; "
                  f"peak RSS {notebook_1m['peak_rss_gb']:.2f} GB.", ""]
    lines += ["| target | measured | met |", "|---|---|---|"]
    lines += [f"| {name} | {value:.3f} | {'yes' if ok else '**no**'} |" for name, value, ok in checks]
    lines.append("")
    if app:
        lines += ["## The app after the first run (server time per interaction, bench/app_latency.py)", ""]
        lines += app + [""]
    if scale:
        lines += scale
    if risk:
        lines += risk
    levers = _levers(rows)
    if levers:
        (ROOT / "bench" / "levers.md").write_text("\n".join(levers) + "\n")
        lines += levers + [""]
    (ROOT / "bench" / "results.md").write_text("\n".join(lines))
    print("\n".join(lines))


def _wide_checks(rows: list[dict]) -> list[tuple[str, float, bool]]:
    """The targets on the table our generator did not shape (bench/generate_wide.py)."""
    checks = []
    for r in (r for r in rows if r.get("table") == "wide"):
        wall, floor, gap = r["pipe"]["wall_s"], r["floor"]["wall_s"], r["optimal_auc"] - r["pipe"]["auc"]
        if r["n"] >= 1_000_000:
            checks.append((f"wide {r['n']:,} ≤ 2.5× the no-SHAP floor (same run)", wall / floor, wall <= 2.5 * floor))
            checks.append((f"wide {r['n']:,} peak RSS ≤ 3 GB", r["pipe"]["peak_rss_gb"],
                           r["pipe"]["peak_rss_gb"] <= TARGET_RSS_GB))
        if r["n"] == 100_000:
            checks.append(("wide 100k end to end ≤ 8 s", wall, wall <= TARGET_100K_S))
        checks.append((f"wide {r['n']:,} AUC within 0.01 of optimal", gap, gap <= 0.01))
    return checks


def _levers(rows: list[dict]) -> list[str]:
    """What each lever bought, from this run's own measurements (bench/levers.md is written here, never by hand)."""
    out = []
    for before in (r for r in rows if r.get("label") == "every row trains"):
        after = next(r for r in rows if r["n"] == before["n"] and not r.get("label") and r.get("table") == "own")
        b, a = before["pipe"], after["pipe"]
        out.append(f"| Trees learn from a stratified {a.get('n_fit') or 0:,}-row sample of the training rows "
                   f"(holdout untouched), {before['n']:,} rows | train {b['timings']['train']:.1f} s, total "
                   f"{b['wall_s']:.1f} s, {b['wall_s'] / before['floor']['wall_s']:.2f}× floor, AUC {b['auc']:.4f} "
                   f"| train {a['timings']['train']:.1f} s, total {a['wall_s']:.1f} s, "
                   f"{a['wall_s'] / after['floor']['wall_s']:.2f}× floor, AUC {a['auc']:.4f} |")
    if not out:
        return []
    return ["## Levers measured in this run (written by bench/run.py)", "",
            "| lever | before | after |", "|---|---|---|", *out, "",
            "Earlier levers (WOODELF instead of pred_contribs, depth 4, the pyarrow reader...) are re-measured by "
            "`python -m bench.explain_paths` and `python -m bench.depth`."]


if __name__ == "__main__":
    main()
