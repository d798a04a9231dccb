"""Benchmark of the learner comparison: `run --learners all` at 100k rows (seconds per learner) and the
default `auto` at 1M rows, which must not be slower than the pipeline row of bench/results.md.

    python -m bench.learners [--rows-all 100000] [--rows-auto 1000000]

Writes (or replaces) the section "## Learners compared" of bench/results.md; `python -m bench.run
--learners` runs it after the pipeline rows. Each run is a fresh process (bench.run._child).
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from bench.run import DATA, OUT, ROOT, _child, _commit, bench_pipeline

HEADER = "## Learners compared (bench/learners.py)"


def _table(n: int) -> Path:
    from bench.generate import make_table

    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"customers_{n}.csv"
    if not path.exists():
        make_table(n, seed=0)[0].to_csv(path, index=False)
    return path


def bench_all(path: Path, out: Path) -> dict:
    """`run --learners all`: the comparison table of report.json and the run's stage timings."""
    code = (
        "from lib.cli import main\n"
        f"rc = main(['run', '--input', {str(path)!r}, '--out', {str(out)!r}, '--target', 'responded',"
        " '--top-pct', '10', '--learners', 'all'])\n"
        f"report = json.load(open({str(out / 'report.json')!r}))\n"
        "result = {'rc': rc, 'timings': report['timings_s'], 'learners': report['learners'],"
        " 'chosen': report['model']['algorithm'], 'verdict': report['model']['learner_verdict'],"
        " 'auc': report['model']['holdout_auc'], 'explain_method': report['explain']['method']}\n"
    )
    return _child(code)


def lines(n_all: int, all_run: dict, n_auto: int | None, auto_run: dict | None) -> list[str]:
    load = os.getloadavg()
    out = [HEADER, "",
           f"Commit {_commit()}; load average at the end {load[0]:.1f} (1 min) / {load[2]:.1f} (15 min): the machine "
           "is shared, so seconds are upper bounds. Data: `bench/generate.py` (the pipeline rows' table).", "",
           f"`python -m lib.cli run --target responded --top-pct 10 --learners all` on {n_all:,} rows: "
           f"{all_run['wall_s']:.1f} s in all (train {all_run['timings'].get('train', 0):.1f} s, explain "
           f"{all_run['timings'].get('explain', 0):.1f} s: {all_run['explain_method']}); chosen **{all_run['chosen']}**, "
           f"holdout AUC {all_run['auc']:.4f}. {all_run['verdict']}", "",
           "| learner | AUC mean ± sd (3 folds of a 20k sample) | PR AUC | Brier | top-decile lift | seconds | status "
           "| tied with the best |", "|---|---|---|---|---|---|---|---|"]
    for s in all_run["learners"]:
        sd = "–" if s["cv_auc_sd"] is None else f"{s['cv_auc_sd']:.4f}"
        auc = "" if s["cv_auc_mean"] is None else f"{s['cv_auc_mean']:.4f} ± {sd}"
        out.append(f"| {s['name']} | {auc} | {s['pr_auc']} | {s['brier']} | {s['lift_top_decile']} | {s['seconds']:.1f} "
                   f"| {s['status']} | {'yes' if s['tied_with_best'] else 'no'} |")
    out.append("")
    if auto_run is not None:
        before = _recorded_1m()
        then = f"; the pipeline row above recorded {before:.1f} s" if before else ""
        out += [f"`auto` (the default) at {n_auto:,} rows, the pipeline command with `--save-model`: "
                f"{auto_run['wall_s']:.1f} s (train {auto_run['timings'].get('train', 0):.1f} s, AUC "
                f"{auto_run['auc']:.4f}){then}.", ""]
    return out


def _recorded_1m() -> float | None:
    text = (ROOT / "bench" / "results.md").read_text() if (ROOT / "bench" / "results.md").exists() else ""
    found = re.search(r"^\| 1,000,000 \| ([0-9.]+) \|", text, flags=re.M)
    return float(found.group(1)) if found else None


def write_section(section: list[str]) -> None:
    """Put ``section`` into bench/results.md in place of the previous one (or at the end)."""
    path = ROOT / "bench" / "results.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start = text.find(HEADER)
    if start >= 0:
        end = text.find("\n## ", start + len(HEADER))
        text = text[:start] + text[end + 1:] if end >= 0 else text[:start]
    path.write_text(text.rstrip("\n") + "\n\n" + "\n".join(section) + "\n")


def run(rows_all: int, rows_auto: int | None) -> list[str]:
    print(f"[{rows_all:,}] --learners all…", flush=True)
    all_run = bench_all(_table(rows_all), OUT / f"{rows_all}_learners_all")
    auto_run = None
    if rows_auto:
        print(f"[{rows_auto:,}] auto…", flush=True)
        out = OUT / f"{rows_auto}_auto"
        out.mkdir(parents=True, exist_ok=True)
        auto_run = bench_pipeline(_table(rows_auto), out)
    return lines(rows_all, all_run, rows_auto, auto_run)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows-all", type=int, default=100_000)
    parser.add_argument("--rows-auto", type=int, default=1_000_000, help="0: skip the auto run")
    args = parser.parse_args()
    section = run(args.rows_all, args.rows_auto or None)
    write_section(section)
    print("\n".join(section))


if __name__ == "__main__":
    main()
