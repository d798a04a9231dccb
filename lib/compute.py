"""Compute that shares the machine: how many cores this process may really use, and OpenMP threads that
sleep instead of spinning while they wait.

XGBoost and scikit-learn run their loops on OpenMP threads. By default a thread that runs out of work
spins for a while (busy-waiting, burning a core) before it sleeps; on a machine where another process
holds the cores — a second marketer's training on the same app server, a test run, CI — the spinners
take turns with the threads doing real work and a 5 s training took 40 s (issue 28). With
``OMP_WAIT_POLICY=PASSIVE`` waiting threads sleep at once. OpenMP reads it once, when the library
loads, so it is set here, in ``lib/__init__.py``'s first import, before any step can load XGBoost;
``app.py`` imports this module before Streamlit. A value the user set is never overridden.

Thread counts come from ``usable_cores``: the CPUs this process is allowed on (affinity, e.g. taskset
or a container's cpuset) and the container's CPU quota (cgroup v2 ``cpu.max`` or v1 ``cfs_quota_us``),
never a fixed number. This module imports nothing from ``lib`` (it is the package's earliest stage).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def _quota_cores(root: Path = CGROUP) -> float | None:
    """The container's CPU quota in cores (cgroup v2, then v1), or None when there is none."""
    try:
        v2 = root / "cpu.max"
        if v2.exists():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        v1 = root / "cpu" / "cpu.cfs_quota_us"
        if v1.exists():
            quota = int(v1.read_text())
            period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
            return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None
    return None


def usable_cores(root: Path = CGROUP) -> int:
    """Cores this process may use: its CPU affinity, capped by the container's CPU quota (rounded up:
    a 1.5-core quota still runs two threads well), at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    quota = _quota_cores(root)
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)


def thread_settings(cores: int) -> dict[str, str]:
    """The environment the native libraries read when they load: threads that sleep while they wait
    (libgomp, used by XGBoost and scikit-learn; Intel's OpenMP, used by MKL builds) and, unless the
    user chose, no more OpenMP threads than usable cores (OpenMP counts the CPUs, not the quota)."""
    return {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0", "OMP_NUM_THREADS": str(cores)}


def share_the_machine(environ: MutableMapping[str, str] | None = None, cores: int | None = None) -> dict[str, str]:
    """Set the thread settings in ``environ`` (``os.environ``) where the user has not; return what was set."""
    environ = os.environ if environ is None else environ
    wanted = thread_settings(usable_cores() if cores is None else cores)
    added = {k: v for k, v in wanted.items() if k not in environ}
    environ.update(added)
    return added


# --- work split over forked processes (SHAP, reasons, choosing the number of segments) ------------
PARALLEL_MIN_ROWS = 100_000


def default_workers(rows: int) -> int:
    """Processes worth forking for a step on ``rows``: one per usable core (at most 4), only on Linux and
    large data (below PARALLEL_MIN_ROWS a fork's set-up costs about what it saves, and the app's small
    sessions stay in one process)."""
    if rows < PARALLEL_MIN_ROWS or sys.platform != "linux":
        return 1
    return max(1, min(4, usable_cores()))


def row_slices(n: int, parts: int) -> list[slice]:
    """``n`` rows cut into ``parts`` contiguous, near-equal slices."""
    import numpy as np  # here, not at the top: this module must load before any native library does

    edges = np.linspace(0, n, max(parts, 1) + 1).astype(int)
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a] or [slice(0, 0)]


_FORK_JOB: tuple | None = None


def _fork_run(i: int):
    func, parts = _FORK_JOB
    return func(parts[i])


def fork_map(func, parts: list) -> list:
    """``[func(p) for p in parts]``, in forked worker processes when there is more than one part.
    Forked workers inherit ``func``'s data without pickling it; only results travel back."""
    global _FORK_JOB
    if len(parts) <= 1:
        return [func(p) for p in parts]
    import multiprocessing

    _FORK_JOB = (func, parts)
    try:
        with multiprocessing.get_context("fork").Pool(len(parts)) as pool:
            return pool.map(_fork_run, range(len(parts)))
    finally:
        _FORK_JOB = None


share_the_machine()
