"""Server time of the app's interactive widgets at 1M customers, after the first (heavy) run.

Drives the real pages with Streamlit's AppTest: upload the generated table, segment, train, then
time re-runs of the Target list and Propensity pages as a marketer moves the sliders.

    python -m bench.app_latency [--rows 1000000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from bench.generate import make_table

ROOT = Path(__file__).resolve().parent.parent


def timed(at: AppTest) -> float:
    t = time.perf_counter()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    frame, _ = make_table(args.rows, seed=0)
    data = frame.to_csv(index=False).encode()
    del frame
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
    at.run()
    first = {}
    at.file_uploader[0].upload("customers.csv", data, "text/csv")
    first["upload + roles + quality"] = timed(at)
    at.switch_page("pages/segments.py").run()
    at.button[0].click()
    first["segment"] = timed(at)
    at.switch_page("pages/propensity.py").run()
    at.button[0].click()
    first["train + SHAP"] = timed(at)
    at.switch_page("pages/targets.py")
    first["target page, first"] = timed(at)
    rounds = {"top N": [], "segment filter": [], "control %": [], "profit inputs (propensity page)": []}
    segments = at.multiselect(key="w_cfg_tgt_segments").options
    for i in range(5):
        at.number_input(key="w_cfg_tgt_top_n").set_value(1000 + 500 * i)
        rounds["top N"].append(timed(at))
        at.multiselect(key="w_cfg_tgt_segments").set_value(segments[: 1 + i % max(len(segments), 1)])
        rounds["segment filter"].append(timed(at))
        at.slider(key="w_cfg_tgt_control").set_value(5 + i)
        rounds["control %"].append(timed(at))
    at.switch_page("pages/propensity.py").run()
    for i in range(5):
        at.number_input(key="w_cfg_value").set_value(20.0 + i)
        rounds["profit inputs (propensity page)"].append(timed(at))
    print(f"{args.rows:,} rows")
    for k, v in first.items():
        print(f"- first run, {k}: {v:.1f} s")
    print("| interaction | median server time (ms) | max (ms) |")
    print("|---|---|---|")
    for k, v in rounds.items():
        print(f"| {k} | {1000 * statistics.median(v):.0f} | {1000 * max(v):.0f} |")


if __name__ == "__main__":
    main()
