"""The app's heavy steps go through the job gate (lib/flow/gate.py): while another session's job holds
the only slot, a training waits, is told it is queued, and then runs."""

from __future__ import annotations

import threading
import time

from streamlit.testing.v1 import AppTest

from lib.flow.gate import heavy_jobs

from .conftest import ROOT


def test_training_waits_for_another_sessions_job_and_says_it_is_queued(monkeypatch):
    gate = heavy_jobs()
    monkeypatch.setattr(gate, "slots", 1)
    heard: list[int] = []
    hold = gate.hold

    def spied(session, label="", on_wait=None, poll_seconds=0.5):
        def told(ahead: int) -> None:
            heard.append(ahead)
            if on_wait is not None:
                on_wait(ahead)

        return hold(session, label, told, poll_seconds)

    monkeypatch.setattr(gate, "hold", spied)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.button(key="sample_shop_customers.csv").click().run()
    at.switch_page("pages/propensity.py").run()
    at.number_input(key="w_cfg_model_seed").set_value(11).run()  # a model no other test has cached

    seen_queued = threading.Event()
    release = threading.Event()

    def other_session() -> None:
        with hold("someone-else", "train"):
            release.wait(60)

    def watcher() -> None:
        while gate.queued() == 0:
            time.sleep(0.01)
        seen_queued.set()
        time.sleep(0.3)
        release.set()

    other = threading.Thread(target=other_session, daemon=True)
    other.start()
    while gate.running() == 0:
        time.sleep(0.01)
    threading.Thread(target=watcher, daemon=True).start()
    at.button[0].click().run()
    other.join(10)
    assert seen_queued.is_set()
    assert heard[:2] == [1, 0]  # "queued behind 1 other job", then cleared when it started
    assert not at.exception, [e.value for e in at.exception]
    assert "Holdout AUC" in {m.label for m in at.metric}
    assert not [i for i in at.info if "Queued behind" in i.value]
    assert gate.running() == 0 and gate.queued() == 0
