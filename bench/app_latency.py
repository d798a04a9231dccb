"""Server time of the app's interactive widgets at 1M customers, after the first (heavy) run.

Drives the real pages with Streamlit's AppTest: upload the generated table, segment, train, then
time re-runs of the Target list and Propensity pages as a marketer moves the sliders.

    python -m bench.app_latency [--rows 1000000]

Then the same page change and segment filter again while another session trains a model on the same
file (a second marketer on the same server): that training holds the heavy-job gate
(lib/flow/gate.py) and the cores, this session's page change and filter run on cached results.
"""

from __future__ import annotations

import argparse
import statistics
import threading
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
    # The filter's values are segment ids (the names are only how they are shown): 0..k-1.
    segments = list(range(len(at.multiselect(key="w_cfg_tgt_segments").options)))
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
    rounds.update(_page_and_filter(at, segments, "alone"))
    rounds.update(_while_another_trains(at, segments))
    print(f"{args.rows:,} rows")
    for k, v in first.items():
        print(f"- first run, {k}: {v:.1f} s")
    print("| interaction | median server time (ms) | max (ms) |")
    print("|---|---|---|")
    for k, v in rounds.items():
        print(f"| {k} | {1000 * statistics.median(v):.0f} | {1000 * max(v):.0f} |")


def _page_and_filter(at: AppTest, segments: list, when: str) -> dict[str, list[float]]:
    """Page change (Propensity -> Target list) and a segment filter on the Target list, 3 times each."""
    out = {f"page change, {when}": [], f"segment filter, {when}": []}
    for i in range(3):
        at.switch_page("pages/propensity.py").run()
        at.switch_page("pages/targets.py")
        out[f"page change, {when}"].append(timed(at))
        at.multiselect(key="w_cfg_tgt_segments").set_value(segments[: 1 + (i + 1) % max(len(segments), 1)])
        out[f"segment filter, {when}"].append(timed(at))
    return out


def _while_another_trains(at: AppTest, segments: list) -> dict[str, list[float]]:
    """The page change and filter while a second session trains (another seed: nothing cached)."""
    from lib.data.io import load_table
    from lib.flow import pipeline as p
    from lib.flow.gate import heavy_jobs

    # The other session's job: the step the Propensity page runs, through the same gate, on its own copy.
    source = at.session_state["source"]
    lr = load_table(source["data"], source["name"])
    cust = p.customers(lr, p.CustomerSettings())
    und = p.understand(cust, p.UnderstandSettings(target="responded"))
    started = threading.Event()

    def other() -> None:
        with heavy_jobs().hold("another-session", "train"):
            started.set()
            p.train(cust, und, p.TrainSettings(seed=7))

    thread = threading.Thread(target=other, daemon=True)
    thread.start()
    started.wait()
    out = _page_and_filter(at, segments, "while another session trains")
    thread.join()
    return out


if __name__ == "__main__":
    main()
