"""Nothing lost, nothing half-written: outputs under kill -9, a full disk and a folder that refuses writes.

Every case runs the real CLI in its own process and does to it what the world does: SIGKILL mid-run, a
disk that fills up, a folder that cannot be written, a second run into the same folder."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from lib.data.io.atomic import OUTPUT_NAMES, OutputFolder, create_once, delivery_problems, staged_files, write_atomic
from lib.errors import DataValidationError

from ..conftest import ROOT, SAMPLES

# 8,000 calls of the bank sample: a real file, small enough for a dozen runs (the 1M case is in bench/faults.py).
BANK = Path()  # set by the fixture below
RUN: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _bank(tmp_path_factory):
    global BANK, RUN
    BANK = tmp_path_factory.mktemp("input") / "bank.csv"
    pd.read_csv(SAMPLES / "bank_marketing.csv.gz", sep=";", nrows=8000).to_csv(BANK, index=False)
    RUN = ["run", "--input", str(BANK), "--target", "y", "--positive", "yes", "--top-pct", "10", "--control-pct", "10"]


def cli_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "lib.cli", *args]


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cli_cmd(*args), cwd=ROOT, capture_output=True, text=True, timeout=600, **kw)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def outputs_in(folder: Path) -> dict[str, str]:
    """Every output file in ``folder`` (by its final name) with its digest."""
    import fnmatch

    return {p.name: sha(p) for p in folder.iterdir()
            if p.is_file() and any(fnmatch.fnmatchcase(p.name, pat) for pat in OUTPUT_NAMES)}


def assert_consistent(folder: Path) -> dict:
    """The folder holds one finished run: report.json names every output there with its digest and size,
    each file matches, and the customers file is whole (every row of the input)."""
    assert delivery_problems(folder) == []
    report = json.loads((folder / "report.json").read_text())
    assert len(pd.read_csv(folder / "customers.csv", usecols=[0])) == report["rows"]
    return report


def copy_of(finished: Path, folder: Path) -> Path:
    """``folder`` holding a copy of a finished run's files (the previous outputs a fault must leave alone)."""
    folder.mkdir(exist_ok=True)
    for f in finished.iterdir():
        if f.is_file():
            (folder / f.name).write_bytes(f.read_bytes())
    return folder


@pytest.fixture(scope="module")
def finished(tmp_path_factory, _bank) -> Path:
    """A folder holding a finished run (the 'previous outputs' every fault must leave alone)."""
    out = tmp_path_factory.mktemp("finished")
    proc = cli(*RUN, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def test_a_finished_run_names_every_file_it_wrote_with_its_digest(finished):
    report = assert_consistent(finished)
    assert {"customers.csv", "targets.csv"} <= set(report["files"])
    assert not list(staged_files(finished))


def test_kill_9_at_any_moment_leaves_no_truncated_output_and_the_rerun_succeeds(finished, tmp_path):
    """SIGKILL at several moments of a run into a folder that holds a previous run: after each, the folder
    holds the previous run whole, or (once the outputs have landed) the new one whole; never a file cut short.
    The same command then succeeds in the same folder."""
    out = copy_of(finished, tmp_path / "out")
    before = outputs_in(out)
    args = [*RUN[:-4], "--top-pct", "20", "--control-pct", "5", "--out", str(out)]  # a different list
    t0 = time.perf_counter()
    assert cli(*args, "--out", str(tmp_path / "timing")).returncode == 0
    whole = time.perf_counter() - t0
    kills = [0.5, 0.5 * whole, 0.85 * whole, 0.95 * whole]
    outcomes = []
    for at in kills:
        proc = subprocess.Popen(cli_cmd(*args), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.perf_counter() + at
        while time.perf_counter() < deadline and proc.poll() is None:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = outputs_in(out)
        if now == before:
            outcomes.append("previous")
        else:
            assert (out / "report.json").exists(), f"killed at {at:.1f}s: outputs changed but no report.json"
            assert_consistent(out)
            before = now
            outcomes.append("new")
    assert "previous" in outcomes  # the kills did land mid-run
    rerun = cli(*args)
    assert rerun.returncode == 0, rerun.stderr
    report = assert_consistent(out)
    assert report["targeting"]["selected"] == pytest.approx(0.2 * report["rows"] * 0.95, rel=0.05)
    assert not list(staged_files(out)), list(staged_files(out))


def _no_bigger_than(limit: int):
    """In the child: files cannot grow past ``limit`` bytes (what a full disk looks like to a writer:
    the write fails). SIGXFSZ is ignored so the write returns an error instead of killing the process."""
    def limit_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return limit_files


def test_a_full_disk_is_one_error_line_and_the_previous_outputs_stay(finished, tmp_path):
    out = copy_of(finished, tmp_path / "out")
    before = outputs_in(out)
    proc = subprocess.run(cli_cmd(*RUN, "--top-pct", "30", "--out", str(out)), cwd=ROOT, capture_output=True,
                          text=True, timeout=600, preexec_fn=_no_bigger_than(300_000))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(out) in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert outputs_in(out) == before
    assert not list(staged_files(out))


def _small_disk(path: Path, size: str) -> bool:
    """A real small filesystem (tmpfs) at ``path`` when this machine lets the tests mount one."""
    path.mkdir()
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_a_really_full_filesystem_keeps_the_previous_outputs(finished, tmp_path):
    disk = tmp_path / "disk"
    room = sum(f.stat().st_size for f in finished.iterdir() if f.is_file()) + 256 * 1024  # not room for two runs
    if not _small_disk(disk, str(room)):
        pytest.skip("cannot mount a small tmpfs here (needs root); the file-size limit test covers the rule")
    try:
        out = copy_of(finished, disk / "out")
        before = outputs_in(out)
        proc = cli(*RUN, "--top-pct", "30", "--out", str(out))
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("error: ") and "No space left" in proc.stderr, proc.stderr
        assert outputs_in(out) == before
        assert not list(staged_files(out))
    finally:
        subprocess.run(["umount", str(disk)], check=False)


class _RefusingFolder:
    """A folder that refuses new files, by the means this machine allows (chmod for a user; an immutable
    folder for root, whom permissions do not stop)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self):
        if os.geteuid() != 0:
            self.folder.chmod(0o555)
            self.undo = lambda: self.folder.chmod(0o755)
        elif subprocess.run(["chattr", "+i", str(self.folder)], capture_output=True).returncode == 0:
            self.undo = lambda: subprocess.run(["chattr", "-i", str(self.folder)], check=False)
        else:
            pytest.skip("no way to make a folder refuse writes here")
        return self

    def __exit__(self, *exc) -> None:
        self.undo()


def test_an_unwritable_folder_fails_at_once_with_one_line_and_changes_nothing(finished, tmp_path):
    out = copy_of(finished, tmp_path / "out")
    before = outputs_in(out)
    with _RefusingFolder(out):
        t0 = time.perf_counter()
        proc = cli(*RUN, "--out", str(out))
        seconds = time.perf_counter() - t0
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: Cannot write the outputs into " + str(out))
    assert outputs_in(out) == before
    assert seconds < 30, "refused before the training, not after"  # generous: the check is 'before the work'


def test_an_unwritable_model_file_folder_keeps_the_outputs_and_the_old_model(finished, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "m.bullseye").write_bytes(b"the previous model")
    out = tmp_path / "out"
    with _RefusingFolder(models):
        proc = cli(*RUN, "--out", str(out), "--save-model", str(models / "m.bullseye"))
    assert proc.returncode == 2 and proc.stderr.startswith("error: "), proc.stderr
    assert (models / "m.bullseye").read_bytes() == b"the previous model"
    assert not (out / "report.json").exists()


def test_two_runs_into_one_folder_do_not_mix_their_files(tmp_path, _bank):
    """The second waits for the first (and says so) instead of writing between its files."""
    out = tmp_path / "out"
    procs = [subprocess.Popen(cli_cmd(*RUN[:-4], "--top-pct", pct, "--out", str(out)), cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for pct in ("5", "25")]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    report = assert_consistent(out)
    sent = pd.read_csv(out / "targets.csv")
    assert report["targeting"]["selected"] == (sent["group"] == "target").sum()  # the report is this list's
    assert any("waiting for it to finish" in err for _, err in results), [err for _, err in results]


# --- the writers themselves -------------------------------------------------------------------------


def test_delivery_problems_name_a_changed_a_missing_and_a_foreign_output(finished, tmp_path):
    copy_of(finished, tmp_path)
    assert delivery_problems(tmp_path) == []
    with open(tmp_path / "customers.csv", "ab") as fh:
        fh.write(b"1,2,3\n")
    (tmp_path / "targets.csv").unlink()
    (tmp_path / "risk.csv").write_text("customer_id\n")
    problems = " ".join(delivery_problems(tmp_path))
    assert "customers.csv is not the file" in problems and "targets.csv is named" in problems
    assert "risk.csv is not part" in problems
    (tmp_path / "report.json").unlink()
    assert "no finished run" in delivery_problems(tmp_path)[0]


def test_write_atomic_replaces_whole_and_leaves_no_temp_behind(tmp_path):
    path = tmp_path / "model.bullseye"
    path.write_bytes(b"old")
    write_atomic(path, b"new" * 1000)
    assert path.read_bytes() == b"new" * 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bullseye"]


def test_write_atomic_that_fails_keeps_the_old_file(tmp_path):
    """In a child limited to small files: the write fails, the old file is intact, no temp is left."""
    path = tmp_path / "model.bullseye"
    path.write_bytes(b"old")
    code = ("import sys; from lib.data.io.atomic import write_atomic\n"
            "try:\n    write_atomic(sys.argv[1], b'x' * 100_000)\nexcept OSError as e:\n    print(e.errno)")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, capture_output=True, text=True,
                          preexec_fn=_no_bigger_than(10_000))
    assert proc.stdout.strip() == "27", proc.stderr  # EFBIG: the write did fail
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bullseye"]


def test_create_once_never_shows_a_half_written_key_to_a_racing_reader(tmp_path):
    key = tmp_path / "key"
    assert create_once(key, b"a" * 64) is True
    assert create_once(key, b"b" * 64) is False  # the second writer reads the first's key
    assert key.read_bytes() == b"a" * 64
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key"]


def test_an_output_folder_left_without_commit_is_as_it_was(tmp_path):
    (tmp_path / "customers.csv").write_text("old\n")
    with pytest.raises(RuntimeError), OutputFolder(tmp_path) as folder:
        folder.write("customers.csv", b"new\n")
        raise RuntimeError("the run died")
    assert (tmp_path / "customers.csv").read_text() == "old\n"
    assert not list(staged_files(tmp_path))


def test_a_commit_removes_an_earlier_runs_outputs_this_run_did_not_write_and_keeps_the_users(tmp_path):
    for name in ("customers.csv", "targets.csv", "audience_meta.csv", "notes.txt"):
        (tmp_path / name).write_text("earlier\n")
    with OutputFolder(tmp_path) as folder:
        folder.write("customers.csv", b"id\n1\n")
        files = folder.commit(lambda f: json.dumps({"files": f}).encode())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["customers.csv", "notes.txt", "report.json"]
    assert files["customers.csv"]["sha256"] == sha(tmp_path / "customers.csv")


def test_a_write_refused_inside_the_folder_becomes_one_message_naming_it(tmp_path):
    with pytest.raises(DataValidationError, match="Cannot write the outputs into"), OutputFolder(tmp_path) as folder:
        raise OSError(28, "No space left on device", str(folder.path("customers.csv")))
