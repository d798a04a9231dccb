"""kill -9 at several moments of a 1M-row run, then the same command again in the same folder.

    python -m bench.faults [--rows 1000000]

After every kill the output folder must hold either the previous run, whole, or (when the kill came after
the outputs landed) the new one, whole: ``delivery_problems`` finds nothing, and no file is cut short
under its final name. The rerun must then succeed. Prints one line per kill and appends the table to
bench/results.md's faults section (the small-file version of this runs in tests/faults/)."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.generate import make_table
from lib.data.io.atomic import delivery_problems, staged_files

ROOT = Path(__file__).resolve().parents[1]


def _command(data: Path, out: Path, top: str) -> list[str]:
    return [sys.executable, "-m", "lib.cli", "run", "--input", str(data), "--target", "responded", "--positive",
            "yes", "--top-pct", top, "--control-pct", "10", "--out", str(out)]


def _digests(out: Path) -> dict[str, tuple[int, float]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime) for p in out.iterdir() if p.is_file()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.5, 0.8, 0.95, 0.99])
    args = parser.parse_args()
    work = ROOT / "bench" / "out" / "faults"
    work.mkdir(parents=True, exist_ok=True)
    data = ROOT / "bench" / "data" / f"faults_{args.rows}.csv"
    if not data.exists():
        data.parent.mkdir(parents=True, exist_ok=True)
        make_table(args.rows, seed=3)[0].to_csv(data, index=False)
    out = work / "out"
    t0 = time.perf_counter()
    first = subprocess.run(_command(data, out, "10"), cwd=ROOT, capture_output=True, text=True)
    whole = time.perf_counter() - t0
    assert first.returncode == 0, first.stderr
    rows = [f"| first run | {whole:.1f} s | exit 0 | {'; '.join(delivery_problems(out)) or 'whole'} |"]
    for fraction in args.fractions:
        before = _digests(out)
        proc = subprocess.Popen(_command(data, out, "20"), cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(fraction * whole)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        problems = delivery_problems(out)
        state = "previous run" if _digests(out) == before else "new run"
        leftovers = len(list(staged_files(out)))
        rows.append(f"| kill -9 at {fraction:.0%} ({fraction * whole:.1f} s) | {state} | "
                    f"{leftovers} staging folder(s) left | {'; '.join(problems) or 'whole'} |")
        print(rows[-1], flush=True)
    t0 = time.perf_counter()
    rerun = subprocess.run(_command(data, out, "20"), cwd=ROOT, capture_output=True, text=True)
    rows.append(f"| rerun in the same folder | {time.perf_counter() - t0:.1f} s | exit {rerun.returncode} | "
                f"{'; '.join(delivery_problems(out)) or 'whole'}, {len(list(staged_files(out)))} leftovers |")
    table = "\n".join(["| moment | outcome | | folder |", "|---|---|---|---|", *rows])
    print(table)
    results = ROOT / "bench" / "results.md"
    results.write_text(results.read_text() + f"\n\n## Faults: kill -9 during a {args.rows:,}-row run\n\n{table}\n")


if __name__ == "__main__":
    main()
