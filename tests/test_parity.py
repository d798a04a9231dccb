"""The app and the CLI run the same steps: the same file and settings give the same segments, scores,
reasons and list, for a customer table and for a transaction log."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from .conftest import ROOT, SAMPLES
from .test_cli import cli

CASES = {
    "customer table": ("shop_customers.csv", ["--target", "responded"]),
    "transaction log": ("shop_transactions.csv.gz", ["--transactions", "--horizon", "90"]),
}
TABLE = ["id", "segment", "segment_name", "score", "rank", "decile", "reason_1", "reason_2", "reason_3"]


def _app_walk(sample: str) -> dict[str, pd.DataFrame]:
    """The guided flow with every default, reading what each page shows."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.button(key=f"sample_{sample}").click().run()
    at.switch_page("pages/segments.py").run()
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    segments = next(d.value for d in at.dataframe if "description" in d.value.columns)  # "Who is in each segment"
    at.switch_page("pages/propensity.py").run()
    at.button[0].click().run()
    at.switch_page("pages/explain.py").run()
    reasons = at.dataframe[-1].value  # reason codes tab: the 500 best customers
    at.switch_page("pages/targets.py").run()
    at.selectbox(key="w_cfg_tgt_consent").select_index(0).run()  # "None": the CLI applies no consent filter
    assert at.selectbox(key="w_cfg_tgt_consent").value is None
    assert not at.exception and not at.error, [e.value for e in at.error]
    send = at.dataframe[-1].value
    return {"segments": segments, "reasons": reasons, "list": send}


@pytest.mark.parametrize("case", list(CASES))
def test_app_and_cli_give_the_same_segments_scores_reasons_and_list(case, tmp_path):
    sample, args = CASES[case]
    proc = cli("run", "--input", str(SAMPLES / sample), "--out", str(tmp_path), *args, "--top", "1000",
               "--control-pct", "10", "--seed", "42")
    assert proc.returncode == 0, proc.stderr
    report = pd.read_json(tmp_path / "report.json", typ="series")
    customers = pd.read_csv(tmp_path / "customers.csv", dtype={"id": str}, keep_default_na=False)
    targets = pd.read_csv(tmp_path / "targets.csv", dtype={"id": str}, keep_default_na=False)
    app = _app_walk(sample)

    cli_segments = pd.DataFrame(report["segments"])
    assert app["segments"]["name"].tolist() == cli_segments["name"].tolist()
    assert app["segments"]["customers"].str.replace(",", "").astype(int).tolist() == cli_segments["size"].tolist()

    best = customers.sort_values("rank").head(500).reset_index(drop=True)
    shown = app["reasons"].reset_index(drop=True)
    assert list(shown.columns) == TABLE
    assert (shown["id"].astype(str) == best["id"]).all()
    assert (shown["score"] - best["score"]).abs().max() < 1e-9
    for col in ("segment_name", "rank", "decile", "reason_1", "reason_2", "reason_3"):
        assert shown[col].fillna("").astype(str).tolist() == best[col].astype(str).tolist(), col

    listed = app["list"].reset_index(drop=True)
    expected = targets.head(len(listed)).reset_index(drop=True)
    assert len(listed) == 500
    id_col = listed.columns[0]
    assert (listed[id_col].astype(str) == expected["id"]).all()
    assert listed["group"].tolist() == expected["group"].tolist()
    assert (listed["score"] - expected["score"]).abs().max() < 1e-9
