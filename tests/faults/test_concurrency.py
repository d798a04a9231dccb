"""Campaign history with many writers, damaged model files, a reader that leaves early."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from lib.act import campaigns
from lib.errors import DataValidationError

from ..conftest import ROOT, SAMPLES


def cli_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "lib.cli", *args]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(cli_cmd(*args), cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("input") / "bank.csv"
    pd.read_csv(SAMPLES / "bank_marketing.csv.gz", sep=";", nrows=3000).rename_axis("id").to_csv(path)
    return path


def test_four_concurrent_run_campaign_into_one_data_folder_are_all_recorded_and_measurable(bank, tmp_path):
    data = tmp_path / "data"
    procs = [subprocess.Popen(cli_cmd("run", "--input", str(bank), "--target", "y", "--positive", "yes",
                                      "--id", "id", "--top-pct", "30", "--control-pct", "20",
                                      "--campaign", f"spring-{i}", "--data-dir", str(data), "--out",
                                      str(tmp_path / f"out{i}")),
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    recorded = campaigns.list_campaigns(data)
    assert sorted(recorded["name"]) == [f"spring-{i}" for i in range(4)]
    results = pd.read_csv(bank)[["id", "y"]]
    for i in range(4):
        lift = campaigns.measure_lift(f"spring-{i}", results, "id", "y", None, data)
        sent = pd.read_csv(tmp_path / f"out{i}" / "targets.csv")
        assert lift.target_n == (sent["group"] == "target").sum() and lift.control_n == (sent["group"] == "control").sum()
    trail = campaigns.list_exports(data)
    for i in range(4):  # every file each run delivered has its line in the audit trail
        report = json.loads((tmp_path / f"out{i}" / "report.json").read_text())
        for name, facts in report["files"].items():
            assert facts["sha256"] in set(trail["file_sha256"]), (i, name)


_WRITER = """
import sys
import numpy as np, pandas as pd
from lib.act import campaigns
i, data = int(sys.argv[1]), sys.argv[2]
ids = [f"c{i}-{k}" for k in range(20_000)]
members = pd.DataFrame({"id": ids, "group": np.where(np.arange(20_000) % 5 == 0, "control", "target"),
                        "score": np.linspace(1, 0, 20_000)})
for k in range(10):
    campaigns.record_export(f"list-{i}-{k}.csv", b"x" * (i + k), ["id"], 1, False, via="cli", data_dir=data)
campaigns.record_campaign(f"writer-{i}", members, "id", "digest", {}, None, data)
for k in range(10, 20):
    campaigns.record_export(f"list-{i}-{k}.csv", b"y" * (i + k), ["id"], 1, False, via="cli", data_dir=data)
"""


def test_eight_writers_at_once_lose_nothing(tmp_path):
    data = tmp_path / "data"
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(i), str(data)], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(8)]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    assert len(campaigns.list_campaigns(data)) == 8
    for i in range(8):
        assert len(campaigns.campaign_members(f"writer-{i}", data)) == 20_000
    assert len(campaigns.list_exports(data)) == 8 * 20


def test_a_campaign_name_taken_by_a_racing_writer_is_a_clear_message(tmp_path):
    members = pd.DataFrame({"id": ["a", "b"], "group": ["target", "control"]})
    campaigns.record_campaign("same", members, "id", "d", {}, None, tmp_path)
    with pytest.raises(DataValidationError, match="already exists"):
        campaigns.record_campaign("same", members, "id", "d", {}, None, tmp_path)


def test_a_locked_history_is_a_busy_message_not_a_traceback(tmp_path, monkeypatch):
    campaigns.record_export("a.csv", b"a", ["id"], 1, False, data_dir=tmp_path)
    holder = sqlite3.connect(campaigns.db_path(tmp_path), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process mid-write, for longer than anyone waits
    monkeypatch.setattr(campaigns, "BUSY_SECONDS", 0.3)
    try:
        with pytest.raises(DataValidationError, match="is busy"):
            campaigns.record_export("b.csv", b"b", ["id"], 1, False, data_dir=tmp_path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert list(campaigns.list_exports(tmp_path)["file_name"]) == ["a.csv"]


def test_a_damaged_history_is_one_error_line_from_the_cli(bank, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "campaigns.sqlite").write_bytes(b"this is not a database, it was overwritten" * 100)
    proc = cli("results", "--campaign", "spring", "--input", str(bank), "--id", "id", "--outcome", "y",
               "--data-dir", str(data))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "is damaged" in proc.stderr and "Traceback" not in proc.stderr


# --- model files that were damaged on the way ---------------------------------------------------------


@pytest.fixture(scope="module")
def model(bank, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    proc = cli("run", "--input", str(bank), "--target", "y", "--positive", "yes", "--out", str(folder / "out"),
               "--save-model", str(folder / "m.bullseye"))
    assert proc.returncode == 0, proc.stderr
    return folder / "m.bullseye"


def _older_format(data: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            payload = src.read(info)
            if info.filename == "manifest.json":
                manifest = json.loads(payload)
                manifest["format_version"] = 0
                payload = json.dumps(manifest).encode()
            out.writestr(info, payload)
    return buf.getvalue()


DAMAGES = {
    "cut in half": lambda d: d[: len(d) // 2],
    "cut just short": lambda d: d[:-40],
    "empty": lambda d: b"",
    "zeroed start": lambda d: b"\0" * 64 + d[64:],
    "zeroed middle": lambda d: d[: len(d) // 2] + b"\0" * 64 + d[len(d) // 2 + 64:],
    "zeroed end": lambda d: d[:-300] + b"\0" * 64 + d[-236:],
    "one bit flipped": lambda d: d[: len(d) // 3] + bytes([d[len(d) // 3] ^ 1]) + d[len(d) // 3 + 1:],
    "wrong format version": _older_format,
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_model_file_exits_2_with_one_line_saying_what_is_wrong(model, bank, tmp_path, damage):
    bad = tmp_path / "m.bullseye"
    bad.write_bytes(DAMAGES[damage](model.read_bytes()))
    proc = cli("score", "--model", str(bad), "--input", str(bank), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2, (damage, proc.stderr[-2000:])
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
    assert "m.bullseye" in proc.stderr
    assert not (tmp_path / "out" / "customers.csv").exists()


def test_the_model_file_records_digests_of_its_manifest_and_learner_and_checks_them(model):
    from lib.flow import model_file

    manifest = json.loads(zipfile.ZipFile(model).read("manifest.json"))
    assert manifest["content_sha256"] and manifest["files"]
    assert model_file.load(model).model_id == manifest["model_id"]


# --- a reader that stops early -------------------------------------------------------------------------


def test_output_piped_into_a_reader_that_leaves_early_ends_quietly(bank):
    """``python -m lib.cli check ... | head -1``: the reader closes the pipe; no traceback, no 'internal error'."""
    proc = subprocess.Popen(cli_cmd("check", "--input", str(bank)), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 0, err
    assert err == "", err


def test_the_campaigns_page_says_a_damaged_history_is_damaged(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("BULLSEYE_DATA_DIR", str(tmp_path))
    (tmp_path / "campaigns.sqlite").write_bytes(b"overwritten by something else" * 200)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.switch_page("pages/campaigns.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("is damaged" in e.value and "move it aside" in e.value for e in at.error), [e.value for e in at.error]
