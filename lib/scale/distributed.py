"""Scoring on a Dask cluster: the file is cut into parts, Dask workers score and explain them, this
machine ranks the scores and writes the outputs (``lib.scale.streaming.finish``).

Why Dask: it is the Python cluster engine marketers' data teams already run (on Kubernetes, YARN or
Coiled), so Bullseye connects to it instead of shipping a scheduler of its own. Each part runs
``lib.scale.streaming.score_part``, the same function the one-machine engine runs, so scores and reasons are
the same. The model travels as the model file's bytes, sent once to every worker. Dask worker
processes are daemons and cannot fork, so WOODELF and the reason codes run in one process per task:
the cluster's parallelism is its workers.

What a cluster needs: every worker can read the input path and write into the output folder (a shared
or network file system), and has Bullseye's requirements installed (the same versions).
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import replace
from pathlib import Path

from lib.act.targeting import ListSpec
from lib.compute import usable_cores
from lib.errors import DataValidationError
from lib.flow.listing import AUTO
from lib.flow.model_file import ModelBundle
from lib.scale.parts import PART_BYTES, pieces, read_piece
from lib.scale.streaming import (
    Meter,
    Progress,
    ScoringPlan,
    Source,
    StreamResult,
    estimated_rows,
    finish,
    latest_dates,
    parts_dir,
    plan_for,
    score_part,
)
from lib.text.i18n import t

log = logging.getLogger(__name__)

def _score_piece(plan: ScoringPlan, source: Source, piece: tuple[int, int], path: str):
    skipped: list[int] = []
    raw = read_piece(source, piece, list(plan.columns), skipped)
    # workers=1: a Dask worker is a daemon process and may not fork (see the module docstring).
    return replace(score_part(plan, raw, path, workers=1), skipped_rows=len(skipped))


def _latest_piece(source: Source, piece: tuple[int, int], dates: list[str], decimal: str) -> dict[str, str]:
    return latest_dates(source, dates, decimal, iter([read_piece(source, piece, dates)]))


def connect(scheduler: str | None, workers: int | None = None):
    """A client for the cluster at ``scheduler`` ('tcp://host:8786'), or for a LocalCluster on this
    machine (one single-threaded worker process per core) when none is given. Returns (client, cluster)."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise DataValidationError(t("The Dask engine needs the 'distributed' package: pip install -r requirements.txt.")) from None
    if scheduler:
        try:
            return Client(scheduler, timeout="20s"), None
        except (OSError, TimeoutError) as exc:
            raise DataValidationError(t("Cannot reach the Dask scheduler at {address} ({why}). Check the address and "
                                        "that the scheduler is running.", address=scheduler, why=exc)) from None
    n = workers or usable_cores()
    # Dask's own start-up and shut-down chatter would drown the progress lines.
    for name in ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.core"):
        logging.getLogger(name).setLevel(logging.WARNING)
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.WARNING)
    return Client(cluster), cluster


def score_dask(bundle: ModelBundle, model_bytes: bytes, source: Source, out_dir: Path, id_col: str | None,
               spec: ListSpec | None, explain_method: str = "auto", rank_by: str = AUTO, scheduler: str | None = None,
               workers: int | None = None, part_bytes: int = PART_BYTES, say: Progress | None = None,
               parquet: bool = False, ids=None) -> StreamResult:
    """Score ``source`` on a Dask cluster (a LocalCluster when ``scheduler`` is None)."""
    say = say or (lambda m: log.info(m))
    plan, dates, warnings = plan_for(bundle, model_bytes, source, id_col, explain_method)
    client, cluster = connect(scheduler, workers)
    folder = parts_dir(out_dir)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        n_workers = len(client.scheduler_info().get("workers", {}))
        # Four parts per worker keep every worker busy to the end.
        cuts = pieces(source, part_bytes, min_parts=4 * max(n_workers, 1))
        say(t("Dask: {workers} worker(s), {parts} part(s)", workers=n_workers, parts=len(cuts)))
        if dates:
            found = client.gather(client.map(_latest_piece, [source] * len(cuts), cuts, [dates] * len(cuts),
                                             [plan.decimal] * len(cuts), pure=False))
            latest = {c: max(d[c] for d in found if c in d) for c in dates if any(c in d for d in found)}
            plan = replace(plan, latest=latest)
        timings["dates"] = time.perf_counter() - t0
        # The plan (with the model file's bytes) goes to every worker once, not with every task.
        shared = client.scatter(plan, broadcast=True)
        paths = [str(folder / f"part-{i:05d}.parquet") for i in range(len(cuts))]
        futures = client.map(_score_piece, [shared] * len(cuts), [source] * len(cuts), cuts, paths, pure=False)
        from dask.distributed import as_completed

        meter = Meter(say, estimated_rows(source))
        for fut in as_completed(futures):
            meter(fut.result().rows)
        results = client.gather(futures)
        timings["score_explain"] = time.perf_counter() - t0 - timings["dates"]
        result = finish(bundle, plan, source, results, spec, out_dir, warnings, say, parquet, ids, rank_by)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
        shutil.rmtree(folder, ignore_errors=True)
    timings.update(result.timings)
    return replace(result, timings=timings)

