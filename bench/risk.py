"""Benchmark: the risk check (lib/models/risk) on a generated order log of a million customers, in a fresh
process so its peak RSS is its own; the section it writes goes into bench/results.md.

    python -m bench.risk [--customers 1000000]   (or python -m bench.run --risk)

The log is bench.recommend's gift-shop generator (Online Retail-like columns, times of day, 1.5%
cancellations, postage lines) at 6 lines per customer. Timed: classifying the lines, every pattern,
the thresholds, the ECOD score, the reasons and the flagged orders (``customer_risk`` on the raw log).
In a run the roll-up has learned the line rules already and the risk step reuses them.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from bench.run import _child

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.md"
HEADING = "## Risk control at scale (bench/risk.py)"
LINES_PER_CUSTOMER = 6

_CODE = (
    "from bench.recommend import make_log\n"
    "frame = make_log({lines}, {customers})\n"
    "from lib.models.risk import customer_risk\n"
    "t1, c1 = time.perf_counter(), time.process_time()\n"
    "r = customer_risk(frame)\n"
    "rep = r.to_report()\n"
    "result = {{'lines': len(frame), 'customers': rep['customers'], 'risk_s': time.perf_counter() - t1,"
    " 'risk_cpu_s': time.process_time() - c1, 'flagged': rep['flagged'], 'by_pattern': rep['flagged_by_pattern'],"
    " 'orders': rep['flagged_orders']}}\n"
)


def measure(customers: int = 1_000_000) -> dict:
    return _child(_CODE.format(lines=LINES_PER_CUSTOMER * customers, customers=customers))


def section(r: dict, before: str | None = None) -> list[str]:
    """The markdown section of one measurement (``before``: a sentence on the earlier time)."""
    patterns = ", ".join(f"{p} {n:,}" for p, n in r["by_pattern"].items())
    out = [HEADING, "",
           "`python -m bench.risk`: `customer_risk` on a generated log (bench.recommend.make_log, 6 lines per "
           "customer): classify the lines, every pattern, thresholds, ECOD, reasons, flagged orders.", "",
           "| lines | customers | risk s (wall) | risk s (CPU) | peak RSS GB | flagged | suspicious orders |",
           "|---|---|---|---|---|---|---|",
           f"| {r['lines']:,} | {r['customers']:,} | {r['risk_s']:.1f} | {r['risk_cpu_s']:.1f} | {r['peak_rss_gb']:.2f} "
           f"| {r['flagged']:,} | {r['orders']:,} |", "",
           f"Flagged by pattern: {patterns}."]
    if before:
        out += ["", before]
    return out + [""]


def write_section(lines: list[str]) -> None:
    """Put the section into bench/results.md, replacing an earlier one."""
    text = RESULTS.read_text() if RESULTS.exists() else ""
    block = "\n".join(lines)
    pattern = re.compile(re.escape(HEADING) + r".*?(?=\n## |\Z)", re.S)
    text = pattern.sub(lambda _: block.rstrip("\n"), text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block
    RESULTS.write_text(text.rstrip("\n") + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--before", help="a sentence on the time before, kept in the section")
    args = parser.parse_args(argv)
    lines = section(measure(args.customers), args.before)
    write_section(lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
