"""Scoring files bigger than memory: the steps of ``pipeline.score_file``, one batch of rows at a time.

A saved model scores every row on its own, so a file can be read in parts; only three things need the
whole file, and each is settled without holding it:

- each date column's latest date (dates count back from the file's snapshot): a first, cheap pass
  over the date columns only;
- ranks, deciles and the target list: scores are kept (8 bytes a customer), ranked once at the end,
  and the scored parts, parked as Parquet, are read back once to write customers.csv in file order;
- the drift check, segment sizes and the SHAP summary: counts that add up across parts.

The same ``score_part`` runs a part in this process (``engine="stream"``) or on a Dask worker
(``lib.scale.distributed``), so both engines give the same scores and reasons.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lib.act.targeting import ListSpec, TargetList, neutralise_formulas
from lib.data.privacy import segments_report
from lib.data.schema import ids_as_text
from lib.errors import DataValidationError
from lib.flow.drift import DriftTally, drift_from_tally, tally
from lib.flow.listing import AUTO, Ranking, make_list
from lib.flow.model_file import ModelBundle
from lib.flow.reuse import check_model_columns, model_columns
from lib.flow.runs import Laps, saved_ranking
from lib.models.explain import Explanation, explain, reason_codes
from lib.scale.log_parts import LOG_PARTITIONS, roll_up_log, rolled_up_customers  # noqa: F401
from lib.scale.parts import (  # noqa: F401 (the readers are part of the engine's public face)
    BATCH_ROWS,
    STREAM_ABOVE_BYTES,
    STREAMABLE,
    Source,
    batches,
    clean,
    csv_options,
    estimated_rows,
    file_sha256,
    latest_dates,
    open_source,
    skipped_rows_warning,
    streamable,
    typed,
)
from lib.text.i18n import t

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


# --- one part of the file, scored ---------------------------------------------------------------


@dataclass(frozen=True)
class ScoringPlan:
    """Everything a part needs, settled before the first one: picklable, so a Dask worker gets it whole.
    The model travels as the model file's bytes (what a worker on another machine can read)."""

    model_bytes: bytes
    id_col: str | None
    decimal: str
    columns: tuple[str, ...]  # the input columns a part reads (model, segments, uplift, id)
    latest: dict[str, str]  # date column -> ISO latest date in the whole file
    explain_method: str = "auto"


@dataclass(frozen=True)
class PartResult:
    """A scored part: its table is parked at ``path`` (Parquet); what the totals need comes back."""

    path: str
    rows: int
    scores: np.ndarray  # float64, unrounded: ranks use these
    uplift: np.ndarray | None
    labels: np.ndarray | None
    id_hashes: np.ndarray  # uint64 per row, to count duplicate ids without keeping the ids
    drift: DriftTally
    shap_abs_sum: np.ndarray  # per feature, sum over rows of |SHAP| (log-odds)
    points_abs_sum: np.ndarray
    base_value: float
    method: str
    seconds: float
    warnings: tuple[str, ...] = ()
    stages: dict = field(default_factory=dict)  # seconds per stage in this part
    skipped_rows: int = 0  # rows with the wrong number of fields, left out when the part was read


_LOADED: dict[str, tuple[ModelBundle, object, dict]] = {}
_LOCK = threading.Lock()


def _prepared(plan: ScoringPlan) -> tuple[ModelBundle, object, dict]:
    """The bundle, its model with this file's date references, and the uplift learners likewise; parsed
    once per process (a Dask worker runs many parts)."""
    key = hashlib.sha256(plan.model_bytes).hexdigest() + repr(sorted(plan.latest.items()))
    with _LOCK:
        if key not in _LOADED:
            from lib.flow import model_file

            bundle = model_file.load(plan.model_bytes, "model.bullseye")
            snapshot = pd.DataFrame({c: [pd.Timestamp(v)] for c, v in plan.latest.items()})
            model = bundle.model.rebase_dates(snapshot)
            learners = {k: m.rebase_dates(snapshot) for k, m in ((bundle.uplift or {}).get("learners") or {}).items()}
            _LOADED.clear()
            _LOADED[key] = (bundle, model, learners)
        return _LOADED[key]


def score_part(plan: ScoringPlan, raw: pd.DataFrame, path: str, workers: int | None = None) -> PartResult:
    """Score, explain and give reasons for one part; park its customer table at ``path``."""
    from lib.models.segment import assign_segments
    from lib.models.uplift import score_uplift

    t0 = time.perf_counter()
    lap = Laps()
    bundle, model, learners = _prepared(plan)
    frame, warnings = clean(raw, plan.decimal)
    latest = {c: pd.Timestamp(v) for c, v in plan.latest.items()}
    out = pd.DataFrame({"id": ids_as_text(frame[plan.id_col]).to_numpy(dtype=object)
                        if plan.id_col else np.full(len(frame), None, dtype=object)})
    lap("read")
    labels = None
    if bundle.segmentation and len(frame):
        seg = assign_segments(bundle.segmentation, frame, describe=False)
        labels = np.asarray(seg.labels, dtype=np.int16)  # a handful of segments: 2 bytes a customer
        out["segment"] = labels
        out["segment_name"] = seg.names().to_numpy()
    lap("segments")
    scores = model.predict_proba(frame)[:, 1] if len(frame) else np.zeros(0)
    out["score"] = np.round(scores, 6)
    lap("score")
    n_feat = len(model.features)
    if len(frame):
        expl = explain(model, frame, plan.explain_method, workers=workers)
        lap("shap")
        for c, v in reason_codes(expl, frame, workers=workers, latest=latest).items():
            out[c] = v.to_numpy()
        lap("reasons")
    else:
        expl = Explanation(np.zeros((0, n_feat), np.float32), tuple(model.features), 0.0, "woodelf", 0.0,
                           np.zeros((0, n_feat), np.float32))
    uplift = None
    if bundle.uplift is not None and len(frame):
        u = score_uplift(bundle.uplift["method"], learners, frame)
        for col in ("uplift", "p_treated", "p_control"):
            out[col] = np.round(u[col].to_numpy(), 6)
        uplift = u["uplift"].to_numpy()
        lap("uplift")
    pq.write_table(pa.Table.from_pandas(out, preserve_index=False), path)
    ids = out["id"] if plan.id_col else pd.Series([], dtype="str")
    hashes = pd.util.hash_pandas_object(ids, index=False).to_numpy()
    counted = tally(bundle.drift, frame, model.column_specs, latest)
    lap("park")
    return PartResult(
        path=path, rows=len(out), scores=scores.astype("float64"), uplift=uplift, labels=labels,
        id_hashes=hashes, drift=counted,
        shap_abs_sum=np.abs(expl.values).sum(axis=0, dtype="float64"),
        points_abs_sum=np.abs(expl.points).sum(axis=0, dtype="float64"),
        base_value=expl.base_value, method=expl.method, seconds=time.perf_counter() - t0, warnings=warnings,
        stages=lap.timings)


# --- planning and finishing (the same for every engine) -----------------------------------------


def plan_for(bundle: ModelBundle, model_bytes: bytes, source: Source, id_col: str | None,
             explain_method: str) -> tuple[ScoringPlan, list[str], list[str]]:
    """The plan, the model's date columns, and the warnings known before the first row (no id column).
    Refuses a file that lacks a model column, naming each, as ``prepare_new`` does."""

    data = bundle.data
    if data.get("transactions"):
        raise DataValidationError(t(
            "This model was trained on a transaction log: each customer's lines must be rolled up together "
            "before scoring, so the log cannot be cut into parts for a cluster. Use --engine stream (the log is "
            "rolled up in parts on this machine), or score the rolled-up customer table."))
    check_model_columns(bundle, source.columns)
    needed = model_columns(bundle)
    if id_col is not None and id_col not in source.columns:
        raise DataValidationError(
            t("The id column '{col}' is not in the file. Columns: {columns}.", col=id_col, columns=", ".join(source.columns)))
    warnings = []
    if id_col is None:
        id_col = data.get("id_column") if data.get("id_column") in source.columns else None
    if id_col is None:
        warnings.append(t("No customer id column given or known from the model; rows are numbered 1..N in the "
                          "outputs (give --id to keep your own ids)."))
    dates = [s.name for s in bundle.model.column_specs if s.kind == "date"]
    for learner in ((bundle.uplift or {}).get("learners") or {}).values():
        dates += [s.name for s in learner.column_specs if s.kind == "date" and s.name not in dates]
    columns = tuple(dict.fromkeys([*needed, *([id_col] if id_col else [])]))
    plan = ScoringPlan(model_bytes, id_col, source.decimal, columns, {}, explain_method)
    return plan, dates, warnings


@dataclass(frozen=True)
class StreamResult:
    """What a scored big file leaves: the lists' facts and the totals for report.json."""

    rows: int
    customers: int
    targets: TargetList | None
    drift: object  # DriftReport
    segments: list[dict]
    explain: dict
    warnings: tuple[str, ...]
    timings: dict[str, float] = field(default_factory=dict)
    parts: int = 0
    id_col: str | None = None
    written: tuple[Path, ...] = ()  # the customer files written (customers.csv, or the Parquet parts)
    columns: tuple[str, ...] = ()  # their columns
    ranking: Ranking | None = None  # how the list was ordered (None: no list)


def finish(bundle: ModelBundle, plan: ScoringPlan, source: Source, parts: list[PartResult],
           spec: ListSpec | None, out_dir: Path, warnings: list[str], say: Progress,
           parquet: bool = False, ids: Callable | None = None, rank_by: str = AUTO) -> StreamResult:
    """Ranks over every score, the list, then one pass over the parked parts: customers.csv (or a
    Parquet folder) in file order. The list's rows come back with it (with raw ids: the caller writes
    targets.csv). ``ids``: applied to every part's ids as it is written (pseudonyms)."""
    t0 = time.perf_counter()
    n = sum(p.rows for p in parts)
    if n == 0:
        raise DataValidationError(t("{file} has a header but no data rows.", file=Path(source.path).name))
    scores = np.concatenate([p.scores for p in parts])
    uplift = np.concatenate([p.uplift for p in parts if p.uplift is not None]) if bundle.uplift else None
    labels = np.concatenate([p.labels for p in parts if p.labels is not None]) if bundle.segmentation else None
    hashes = np.concatenate([p.id_hashes for p in parts])
    # From here on only these arrays hold a number per customer: the parts' own copies go (memory stays
    # at a few bytes a customer however big the file).
    parts[:] = [replace(p, scores=_NONE_F8, uplift=None, labels=None, id_hashes=_NONE_U8) for p in parts]
    if skipped := sum(p.skipped_rows for p in parts):
        warnings.append(skipped_rows_warning(skipped))
    tl = ranking = None
    if spec is not None:
        ranking = saved_ranking(bundle, rank_by)
        warnings.extend(ranking.warnings)
        tl = _thin_list(bundle, spec, ranking, scores, uplift, labels)
    say(t("Ranked {n} customers; writing the outputs", n=f"{n:,}"))
    sink = _Sink(out_dir, parquet, ids)
    targets = _write_in_file_order(parts, plan, sink, _ranks(scores), tl)
    if plan.id_col and len(hashes) and len(np.unique(hashes)) < len(hashes):
        warnings.append(t("'{col}' repeats {n} id(s): those customers appear more than once in the outputs. Check the "
                          "export for duplicate rows.", col=plan.id_col, n=f"{len(hashes) - len(np.unique(hashes)):,}"))
    drift = _drift(bundle, source, parts)
    part_warnings = [w for p in parts for w in p.warnings]
    return StreamResult(rows=n, customers=n, targets=targets, drift=drift, segments=_segments(bundle, labels, n),
                        explain=_explain_report(bundle, parts, n),
                        warnings=tuple(dict.fromkeys(warnings + part_warnings + drift.warnings)),
                        timings={**_stage_sums(parts), "finish": time.perf_counter() - t0}, parts=len(parts),
                        id_col=plan.id_col, written=tuple(sink.written), columns=tuple(sink.columns), ranking=ranking)


def _thin_list(bundle: ModelBundle, spec: ListSpec, ranking: Ranking, scores: np.ndarray,
               uplift: np.ndarray | None, labels: np.ndarray | None) -> TargetList:
    """The list from each customer's row number and (rounded, as customers.csv shows them) score and
    uplift only; segment names only when a segment filter needs them."""
    n = len(scores)
    thin = pd.DataFrame({"_row": np.arange(n, dtype=np.int64 if n >= 2**31 else np.int32),
                         "score": np.round(scores, 6)})
    if uplift is not None:
        thin["uplift"] = np.round(uplift, 6)
    if spec.segments and labels is not None:
        names = {int(d["id"]): d["name"] for d in bundle.segmentation.get("segments", [])}
        thin["segment_name"] = pd.Series(labels).map(names).to_numpy()
    return make_list(thin, spec, ranking)


def _write_in_file_order(parts: list[PartResult], plan: ScoringPlan, sink: _Sink,
                         ranked: tuple[np.ndarray, np.ndarray], tl: TargetList | None) -> TargetList | None:
    """One pass over the parked parts: each gets its ranks and deciles and goes to the sink; the list's
    rows are picked up on the way and come back in the list's order."""
    rank, decile = ranked
    chosen = tl.table["_row"].to_numpy() if tl is not None else np.zeros(0, dtype=int)
    picked: list[pd.DataFrame] = []
    start = 0
    try:
        for part in parts:
            table = pq.read_table(part.path).to_pandas()
            rows = np.arange(start, start + len(table))
            if plan.id_col is None:
                table["id"] = (rows + 1).astype(str)
            at = table.columns.get_loc("score") + 1
            table.insert(at, "rank", rank[rows])
            table.insert(at + 1, "decile", decile[rows])
            sink.write(table)
            mine = chosen[(chosen >= start) & (chosen < start + len(table))]
            if len(mine):
                picked.append(table.iloc[mine - start].assign(_row=mine))
            start += len(table)
    finally:
        sink.close()
    if tl is None:
        return None
    full = pd.concat(picked, ignore_index=True) if picked else pd.DataFrame(columns=["_row"])
    full = full.set_index("_row").loc[chosen].reset_index(drop=True)
    full["group"] = tl.table["group"].to_numpy()
    return replace(tl, table=full)


def _drift(bundle: ModelBundle, source: Source, parts: list[PartResult]):
    """The drift check from the parts' counts, as ``prepare_new`` makes it from a whole file."""
    counted = parts[0].drift
    for p in parts[1:]:
        counted = counted + p.drift
    data = bundle.data
    ignored = {data.get("id_column")} | set(data.get("columns", []))
    return drift_from_tally(bundle.drift, replace(counted, columns=source.columns), bundle.model.column_specs,
                            tuple(c for c in ignored if c))


def _segments(bundle: ModelBundle, labels: np.ndarray | None, n: int) -> list[dict]:
    """Each saved segment's size and share in this file, reported by the segments' own rule (a segment
    under SMALL_GROUP customers keeps only its size)."""
    if labels is None:
        return []
    saved = {int(d["id"]): d for d in bundle.segmentation.get("segments", [])}
    sizes = np.bincount(labels, minlength=max(saved, default=-1) + 1)
    return segments_report([{"id": k, "name": d["name"], "size": int(sizes[k]), "share": float(sizes[k]) / n,
                             "description": d["description"]} for k, d in sorted(saved.items())])


def _stage_sums(parts: list[PartResult]) -> dict[str, float]:
    """Seconds per stage over all parts (on a cluster: worker seconds, not wall time)."""
    out: dict[str, float] = {}
    for p in parts:
        for k, v in p.stages.items():
            out[f"part_{k}"] = out.get(f"part_{k}", 0.0) + v
    return out


_NONE_F8 = np.zeros(0)
_NONE_U8 = np.zeros(0, dtype=np.uint64)


def _ranks(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank (1 = highest score, ties by row order) and decile (1 = top 10%), exactly as
    ``lib.models.propensity.score_ranks`` gives them, in int32/int8: 5 bytes a customer instead of 24."""
    n = len(scores)
    order = np.argsort(-scores, kind="stable")
    rank = np.empty(n, dtype=np.int64 if n >= 2**31 else np.int32)
    rank[order] = np.arange(1, n + 1, dtype=rank.dtype)
    del order
    decile = np.clip(np.ceil(rank / max(n, 1) * 10), 1, 10).astype(np.int8)
    return rank, decile


def _explain_report(bundle: ModelBundle, parts: list[PartResult], n: int) -> dict:
    feats = list(bundle.model.features)
    shap = sum(p.shap_abs_sum for p in parts) / max(n, 1)
    order = np.argsort(-shap, kind="stable")[:10]
    filled = [p for p in parts if p.rows]
    return {
        "method": filled[0].method if filled else "woodelf",
        "rows_explained": int(n),
        "unit": "log-odds",
        "base_value": round(float(filled[0].base_value), 6) if filled else 0.0,
        "top_features": [feats[i] for i in order],
        "importance": [{"feature": feats[i], "mean_abs_shap": round(float(shap[i]), 6)} for i in order],
        "seconds": round(sum(p.seconds for p in parts), 3),
    }


class _Sink:
    """customers.csv written part by part (one header, formula-safe cells), or a folder of Parquet parts."""

    def __init__(self, out_dir: Path, parquet: bool, ids: Callable | None = None) -> None:
        self.parquet, self.ids = parquet, ids
        self.count = 0
        self.writer = None
        self.written: list[Path] = []
        self.columns: list[str] = []
        if parquet:
            self.folder = out_dir / "customers.parquet"
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir(parents=True)
        else:
            self.file = open(out_dir / "customers.csv", "wb")  # noqa: SIM115 (closed in close())
            self.written.append(out_dir / "customers.csv")

    def write(self, table: pd.DataFrame) -> None:
        if self.ids is not None:
            table = table.assign(id=self.ids(table["id"]))
        self.columns = list(table.columns)
        if self.parquet:
            path = self.folder / f"part-{self.count:05d}.parquet"
            pq.write_table(pa.Table.from_pandas(table, preserve_index=False), path)
            self.written.append(path)
        else:
            arrow = pa.Table.from_pandas(neutralise_formulas(table), preserve_index=False)
            if self.writer is None:
                self.schema = arrow.schema
                self.writer = pacsv.CSVWriter(self.file, arrow.schema,
                                              write_options=pacsv.WriteOptions(quoting_style="needed"))
            # A part whose text column happened to be all empty is read back as nulls of another type.
            self.writer.write_table(arrow if arrow.schema == self.schema else arrow.cast(self.schema))
        self.count += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if not self.parquet:
            self.file.close()


def progress_line(done: int, total: int | None, seconds: float) -> str:
    """'1,250,000 rows scored and explained, 41,000 rows/s, about 214 s left': the CLI's progress line
    and the app's progress bar say the same thing."""
    rate = done / seconds if seconds > 0 else 0.0
    msg = t("{done} rows scored and explained, {rate} rows/s", done=f"{done:,}", rate=f"{rate:,.0f}")
    if total and rate and total > done:
        msg += t(", about {seconds} s left", seconds=f"{(total - done) / rate:,.0f}")
    return msg


class Meter:
    """One progress line per part (rows done, rows/s, time left estimated from bytes per row)."""

    def __init__(self, say: Progress, total_rows: int | None) -> None:
        self.say, self.total, self.done, self.t0 = say, total_rows, 0, time.perf_counter()

    def __call__(self, rows: int) -> None:
        self.done += rows
        self.say(progress_line(self.done, self.total, time.perf_counter() - self.t0))


def parts_dir(out_dir: Path) -> Path:
    folder = out_dir / f".bullseye-parts-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    return folder


def score_stream(bundle: ModelBundle, model_bytes: bytes, source: Source, out_dir: Path, id_col: str | None,
                 spec: ListSpec | None, explain_method: str = "auto", rank_by: str = AUTO, batch_rows: int = BATCH_ROWS,
                 say: Progress | None = None, parquet: bool = False, ids: Callable | None = None) -> StreamResult:
    """Score a file in batches on this machine: memory stays flat however many rows it has."""
    say = say or (lambda m: log.info(m))
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    plan, dates, warnings = plan_for(bundle, model_bytes, source, id_col, explain_method)
    if dates:
        say(t("Reading the latest date of {columns}", columns=", ".join(dates)))
        plan = replace(plan, latest=latest_dates(source, dates, plan.decimal,
                                                 batches(source, dates, max(batch_rows, 1_000_000))))
    timings["dates"] = time.perf_counter() - t0
    folder = parts_dir(out_dir)
    skipped: list[int] = []
    results: list[PartResult] = []
    meter = Meter(say, estimated_rows(source))
    try:
        for i, raw in enumerate(batches(source, list(plan.columns), batch_rows, skipped)):
            results.append(score_part(plan, raw, str(folder / f"part-{i:05d}.parquet")))
            meter(len(raw))
        timings["score_explain"] = time.perf_counter() - t0 - timings["dates"]
        if skipped:  # counted while reading ahead, so filed with the last part
            results[-1] = replace(results[-1], skipped_rows=len(skipped))
        result = finish(bundle, plan, source, results, spec, out_dir, warnings, say, parquet, ids, rank_by)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    timings.update(result.timings)
    return replace(result, timings=timings)
