"""The heavy-job gate (lib/flow/gate.py), with real threads: one slot means one job at a time, first come
first served; one session never runs two; a waiter hears how many are ahead and leaves the queue when
interrupted."""

from __future__ import annotations

import threading
import time

import pytest

from lib.flow.gate import SLOTS_ENV, JobGate, default_slots


def _job(gate: JobGate, session: str, log: list, release: threading.Event | None = None,
         heard: list | None = None) -> threading.Thread:
    def run() -> None:
        with gate.hold(session, on_wait=(heard.append if heard is not None else None), poll_seconds=0.01):
            log.append(("start", session))
            if release is not None:
                assert release.wait(10)
            log.append(("end", session))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _until(cond, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


def test_one_slot_runs_one_job_at_a_time_in_arrival_order():
    gate, log = JobGate(slots=1), []
    first_done = threading.Event()
    a = _job(gate, "alice", log, first_done)
    _until(lambda: ("start", "alice") in log)
    heard_b, heard_c = [], []
    b = _job(gate, "bob", log, heard=heard_b)
    _until(lambda: gate.queued() == 1)
    c = _job(gate, "carol", log, heard=heard_c)
    _until(lambda: gate.queued() == 2 and heard_c)
    assert heard_b == [1] and heard_c == [2]  # queued behind 1 and 2 other jobs
    assert log == [("start", "alice")] and gate.running() == 1
    first_done.set()
    for t in (a, b, c):
        t.join(5)
    assert [s for what, s in log if what == "start"] == ["alice", "bob", "carol"]
    # never two at once: every start follows the previous end
    assert log == [("start", "alice"), ("end", "alice"), ("start", "bob"), ("end", "bob"),
                   ("start", "carol"), ("end", "carol")]
    assert heard_b[-1] == 0 and heard_c[-1] == 0  # told when they start, so the page clears "queued"
    assert gate.running() == 0 and gate.queued() == 0


def test_a_session_runs_one_heavy_job_at_a_time_while_others_use_free_slots():
    gate, log = JobGate(slots=2), []
    release = threading.Event()
    first = _job(gate, "alice", log, release)
    _until(lambda: gate.running() == 1)
    second = _job(gate, "alice", log)  # the same session: waits although a slot is free
    _until(lambda: gate.queued() == 1)
    other = _job(gate, "bob", log)  # another session takes the free slot past alice's second job
    other.join(5)
    assert ("end", "bob") in log and ("start", "alice") == log[0] and log.count(("start", "alice")) == 1
    release.set()
    first.join(5)
    second.join(5)
    assert log.count(("end", "alice")) == 2


def test_an_interrupted_waiter_leaves_the_queue():
    gate, log = JobGate(slots=1), []
    release = threading.Event()
    a = _job(gate, "alice", log, release)
    _until(lambda: gate.running() == 1)

    class Rerun(Exception):
        pass

    def on_wait(ahead: int) -> None:
        raise Rerun  # what a page rerun does inside the "queued" message

    with pytest.raises(Rerun), gate.hold("bob", on_wait=on_wait):
        pass
    assert gate.queued() == 0
    release.set()
    a.join(5)
    with gate.hold("carol"):
        assert gate.running() == 1


def test_an_error_in_the_job_frees_its_slot():
    gate = JobGate(slots=1)
    with pytest.raises(ValueError), gate.hold("alice"):
        raise ValueError("training failed")
    assert gate.running() == 0
    with gate.hold("alice"):
        pass


def test_slots_follow_the_cores_unless_the_server_says(monkeypatch):
    monkeypatch.delenv(SLOTS_ENV, raising=False)
    assert default_slots(1) == 1 and default_slots(2) == 1 and default_slots(8) == 4
    monkeypatch.setenv(SLOTS_ENV, "3")
    assert default_slots(2) == 3 and JobGate().slots == 3
