"""One gate for the heavy steps (training, SHAP, uplift, value) of every session in one process.

Each heavy step already uses every core (XGBoost's threads, the forked SHAP workers), so two sessions
training at once do not finish sooner than one after the other: they take turns on the cores, and
both wait for the slower. The app's sessions therefore queue here: at most ``slots`` heavy jobs run at
once (sized from the cores, ``default_slots``), first come first served, and one session runs one heavy
job at a time. A waiting caller is told how many jobs are ahead of it, so its page can say "queued
behind 2 other jobs" instead of a frozen spinner. Nothing here knows about Streamlit: the pages hand
in a session id and a callback.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from lib.compute import usable_cores

# An app server can allow more (or fewer) heavy jobs at once than the cores suggest.
SLOTS_ENV = "BULLSEYE_HEAVY_JOBS"
CORES_PER_JOB = 2  # XGBoost and the SHAP workers keep about two cores busy per job


def default_slots(cores: int | None = None) -> int:
    """Heavy jobs that can run at once without taking turns on the cores: one per two usable cores
    (at least one), unless ``BULLSEYE_HEAVY_JOBS`` says otherwise."""
    chosen = os.environ.get(SLOTS_ENV, "").strip()
    if chosen.isdigit() and int(chosen) > 0:
        return int(chosen)
    return max(1, (usable_cores() if cores is None else cores) // CORES_PER_JOB)


@dataclass(eq=False)
class _Ticket:
    session: str
    label: str
    started: threading.Event = field(default_factory=threading.Event)


class JobGate:
    """A first-come-first-served gate: ``with gate.hold(session, on_wait=...):`` runs the block when a slot
    is free and no other job of ``session`` runs; ``on_wait(ahead)`` is called (in the caller's thread)
    each time the number of jobs ahead changes, and with 0 once the job starts after waiting."""

    def __init__(self, slots: int | None = None):
        self.slots = max(1, slots if slots is not None else default_slots())
        self._cond = threading.Condition()
        self._running: list[_Ticket] = []
        self._waiting: list[_Ticket] = []

    def _may_start(self, ticket: _Ticket) -> bool:
        if len(self._running) >= self.slots or any(r.session == ticket.session for r in self._running):
            return False
        # Fairness: the first waiting ticket whose session is free goes first.
        busy = {r.session for r in self._running}
        first = next((w for w in self._waiting if w.session not in busy), None)
        return first is ticket

    def _ahead(self, ticket: _Ticket) -> int:
        return len(self._running) + self._waiting.index(ticket)

    def running(self) -> int:
        with self._cond:
            return len(self._running)

    def queued(self) -> int:
        with self._cond:
            return len(self._waiting)

    @contextmanager
    def hold(self, session: str, label: str = "", on_wait: Callable[[int], None] | None = None,
             poll_seconds: float = 0.5) -> Iterator[None]:
        """Run the block as one heavy job of ``session`` (see the class). If the caller is interrupted
        while queued (a page rerun raises inside ``on_wait``), it leaves the queue."""
        ticket = _Ticket(session, label)
        told = None
        with self._cond:
            self._waiting.append(ticket)
            try:
                while not self._may_start(ticket):
                    ahead = self._ahead(ticket)
                    if on_wait is not None and ahead != told:
                        told = ahead
                        self._cond.release()  # the callback may be slow (it draws a page): never under the lock
                        try:
                            on_wait(ahead)
                        finally:
                            self._cond.acquire()
                        continue
                    self._cond.wait(poll_seconds)
            except BaseException:
                self._waiting.remove(ticket)
                self._cond.notify_all()
                raise
            self._waiting.remove(ticket)
            self._running.append(ticket)
            ticket.started.set()
        try:
            if on_wait is not None and told is not None:
                on_wait(0)
            yield
        finally:
            with self._cond:
                self._running.remove(ticket)
                self._cond.notify_all()


_HEAVY: JobGate | None = None
_HEAVY_LOCK = threading.Lock()


def heavy_jobs() -> JobGate:
    """The process's one gate for heavy steps (made on first use, sized by ``default_slots``)."""
    global _HEAVY
    with _HEAVY_LOCK:
        if _HEAVY is None:
            _HEAVY = JobGate()
        return _HEAVY
