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

import io
import logging
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lib.act.targeting import ListSpec
from lib.errors import DataValidationError
from lib.flow.model_file import ModelBundle
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
    typed,
)
from lib.text.i18n import t

log = logging.getLogger(__name__)

PART_BYTES = 64 * 1024 * 1024  # CSV bytes per task: ~250k rows of 25 columns


def pieces(source: Source, part_bytes: int = PART_BYTES, min_parts: int = 1) -> list[tuple[int, int]]:
    """The file cut into tasks: byte ranges of a CSV (each row belongs to the range its first byte is
    in), or ranges of Parquet row groups. At least ``min_parts`` ranges (when the file is big enough),
    so every worker gets work."""
    if source.file_format == "parquet":
        groups = pq.ParquetFile(source.path).metadata.num_row_groups
        return [(i, i + 1) for i in range(groups)]
    if source.compressed:
        raise DataValidationError(t(
            "{file} is compressed, so it cannot be cut into parts for a cluster: decompress it, or save it as "
            "Parquet.", file=Path(source.path).name))
    size = source.size_bytes
    part_bytes = max(1 << 16, min(part_bytes, -(-size // max(min_parts, 1))))
    return [(a, min(a + part_bytes, size)) for a in range(0, size, part_bytes)] or [(0, 0)]


def read_piece(source: Source, piece: tuple[int, int], columns: list[str] | None) -> pd.DataFrame:
    """The raw rows of one piece (CSV cells as text), as ``lib.scale.streaming.batches`` reads them.
    A CSV range must not cut a quoted cell holding a line break: such files should be Parquet."""
    if source.file_format == "parquet":
        return typed(pq.ParquetFile(source.path).read_row_groups(list(range(*piece)), columns=columns))
    start, end = piece
    with open(source.path, "rb") as f:
        if start == 0:
            f.readline()  # the header
        else:
            f.seek(start - 1)
            f.readline()  # the rest of a row that began in the previous piece
        begin = f.tell()
        data = f.read(max(end - begin, 0)) if begin < end else b""
        if data and not data.endswith(b"\n"):
            data += f.readline()
    names = list(source.columns)
    if not data.strip():
        return pd.DataFrame({c: pd.Series([], dtype="str") for c in (columns or names)})
    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=names, encoding=source.encoding, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(delimiter=source.delimiter, invalid_row_handler=lambda row: "skip"),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in names}, null_values=[""],
                                             strings_can_be_null=True, quoted_strings_can_be_null=True,
                                             include_columns=columns),
    )
    return typed(table)


def _score_piece(plan: ScoringPlan, source: Source, piece: tuple[int, int], path: str):
    # workers=1: a Dask worker is a daemon process and may not fork (see the module docstring).
    return score_part(plan, read_piece(source, piece, list(plan.columns)), path, workers=1)


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
    n = workers or max(1, os.cpu_count() or 1)
    # Dask's own start-up and shut-down chatter would drown the progress lines.
    for name in ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.core"):
        logging.getLogger(name).setLevel(logging.WARNING)
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.WARNING)
    return Client(cluster), cluster


def score_dask(bundle: ModelBundle, model_bytes: bytes, source: Source, out_dir: Path, id_col: str | None,
               spec: ListSpec | None, explain_method: str = "auto", scheduler: str | None = None,
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
        result = finish(bundle, plan, source, results, spec, out_dir, warnings, say, parquet, ids)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
        shutil.rmtree(folder, ignore_errors=True)
    timings.update(result.timings)
    return replace(result, timings=timings)

