"""The whole Bullseye flow as plain function calls, shared by the CLI and the benchmark:
load -> roles -> quality -> (transactions -> customers) -> segment -> train -> explain -> target.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lib.errors import DataValidationError
from lib.explain import Explanation, explain, reason_codes
from lib.features import (
    CustomerTable,
    customers_from_transactions,
    default_cutoff,
    infer_transaction_columns,
    repurchase_labels,
)
from lib.io import LoadResult
from lib.propensity import PropensityResult, score_new, score_ranks, train_propensity
from lib.quality import QualityReport, assess_quality
from lib.schema import Schema, ids_as_text, infer_schema
from lib.segment import SegmentationResult, default_cluster_features, segment_clusters, segment_rfm
from lib.targeting import ListSpec, TargetList, build_list, export_columns

log = logging.getLogger(__name__)

REPURCHASE_TARGET = "bought_again"


@dataclass(frozen=True)
class RunOptions:
    target: str | None = None
    positive: str | None = None
    id_col: str | None = None
    exclude: tuple[str, ...] = ()
    segments: str = "auto"  # "auto" or a number
    segment_method: str = "kmeans"  # or "rfm"
    top_n: int | None = None
    top_pct: float | None = None
    control_pct: float = 0.0
    seed: int = 42
    transactions: bool = False
    customer_col: str | None = None
    date_col: str | None = None
    amount_col: str | None = None
    cutoff: str | None = None
    horizon: int | None = None
    explain_method: str = "auto"


@dataclass
class RunResult:
    rows: int
    columns: int
    schema: Schema
    quality: QualityReport
    customers: pd.DataFrame  # one row per customer with id, segment, score, reasons
    id_col: str
    segmentation: SegmentationResult | None = None
    model: PropensityResult | None = None
    explanation: Explanation | None = None
    targets: TargetList | None = None
    rollup: CustomerTable | None = None
    excluded_features: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    oot: dict | None = None

    def report(self) -> dict:
        rep = {
            "rows": self.rows,
            "columns": self.columns,
            "customers": int(len(self.customers)),
            "id_column": self.id_col,
            "roles": dict(self.schema.roles),
            "excluded_features": self.excluded_features,
            "segmentation": None,
            "segments": [],
            "model": None,
            "explain": None,
            "targeting": None,
            "quality": {
                "problems": [p.message for p in self.quality.problems],
                "duplicate_rows": self.quality.duplicate_rows,
                "class_balance": self.quality.class_balance,
            },
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
            "warnings": list(dict.fromkeys(self.warnings)),
        }
        if self.segmentation is not None:
            s = self.segmentation
            rep["segmentation"] = {
                "method": s.method, "k": s.k, "features": list(s.features),
                "stability": None if s.stability is None else round(s.stability, 4),
                "silhouette_by_k": {str(k): round(v, 4) for k, v in s.silhouette_by_k.items()},
            }
            rep["segments"] = s.to_report()
        if self.model is not None:
            rep["model"] = self.model.to_report()
            if self.oot:
                rep["model"]["out_of_time"] = self.oot
        if self.explanation is not None:
            rep["explain"] = self.explanation.to_report()
        if self.targets is not None:
            rep["targeting"] = {
                "selected": self.targets.selected,
                "control": self.targets.control,
                "expected_responders": None if np.isnan(self.targets.expected_responders)
                else round(self.targets.expected_responders, 2),
                "excluded": self.targets.excluded_counts,
                "seed": self.targets.spec.seed,
            }
        return rep


Progress = Callable[[str], None]


def pick_id_column(frame: pd.DataFrame, schema: Schema, id_col: str | None) -> str | None:
    if id_col is not None:
        if id_col not in frame.columns:
            raise DataValidationError(
                f"--id names column '{id_col}', which is not in the file. Columns: {', '.join(map(str, frame.columns))}."
            )
        return id_col
    ids = schema.columns_with_role("identifier")
    unique = [c for c in ids if frame[c].is_unique]
    return (unique or [None])[0]


def run_pipeline(loaded: LoadResult, opts: RunOptions, progress: Progress | None = None) -> RunResult:
    say = progress or (lambda m: log.info(m))
    timings: dict[str, float] = {}
    warnings = list(loaded.warnings)
    t = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal t
        now = time.perf_counter()
        timings[stage] = timings.get(stage, 0.0) + now - t
        t = now

    raw = loaded.frame
    say("Inferring column roles")
    raw_schema = infer_schema(raw)
    lap("roles")
    oot = None
    rollup = None
    label_frame = None
    split = None
    if opts.transactions:
        say("Rolling transactions up to customers")
        rollup, customers, label_frame, split, oot = _transactions_to_customers(raw, opts)
        warnings += list(rollup.warnings)
        lap("features")
        frame = customers
        target = REPURCHASE_TARGET if label_frame is not None else opts.target
        if opts.target and label_frame is None:
            raise DataValidationError(
                "With --transactions the target is built from the log: give --horizon DAYS (and optionally "
                "--cutoff) instead of --target."
            )
        schema = infer_schema(frame if label_frame is None else label_frame)
        schema = schema.with_role("customer_id", "identifier")
        id_col = "customer_id"
    else:
        frame = raw
        schema = raw_schema
        target = opts.target
        if target is not None and target not in frame.columns:
            raise DataValidationError(
                f"--target names column '{target}', which is not in the file. "
                f"Columns: {', '.join(map(str, frame.columns))}."
            )
        id_col = pick_id_column(frame, schema, opts.id_col)
        if opts.id_col:
            schema = schema.with_role(opts.id_col, "identifier")
    for col in opts.exclude:
        if col not in frame.columns and (label_frame is None or col not in label_frame.columns):
            raise DataValidationError(
                f"--exclude names column '{col}', which is not in the data. Columns: {', '.join(map(str, frame.columns))}."
            )
    say("Checking data quality")
    quality_frame = label_frame if label_frame is not None else frame
    quality = assess_quality(quality_frame, schema, target if target in quality_frame.columns else None, opts.positive)
    lap("quality")
    if len(frame) == 0:
        raise DataValidationError("No customers to analyse.")
    if id_col is None:
        warnings.append("No unique customer id column found; rows are numbered 1..N in the outputs (use --id COL).")
        ids = pd.Series(np.arange(1, len(frame) + 1), name="id")
    else:
        ids = frame[id_col].reset_index(drop=True)
    out = pd.DataFrame({"id": ids_as_text(ids).to_numpy()})

    result = RunResult(rows=len(raw), columns=len(raw.columns), schema=schema, quality=quality,
                       customers=out, id_col=id_col or "id", rollup=rollup, warnings=warnings, timings=timings,
                       oot=oot)
    # --- segmentation
    say("Segmenting customers")
    seg_target = None
    if target is not None and target in frame.columns:
        from lib.schema import binary_target

        seg_target = binary_target(frame[target], opts.positive, column=target)
    feature_cols = [c for c in schema.feature_columns(exclude=opts.exclude) if c != target]
    if opts.segment_method == "rfm":
        seg = segment_rfm(frame, *_rfm_columns(frame), target=seg_target)
    else:
        k = None if str(opts.segments).lower() == "auto" else _int_arg(opts.segments, "--segments")
        feats = default_cluster_features(frame, feature_cols, target)
        seg = segment_clusters(frame, feats, k=k, seed=opts.seed, target=seg_target)
    result.segmentation = seg
    out["segment"] = seg.labels
    out["segment_name"] = seg.names().to_numpy()
    lap("segment")
    # --- propensity
    if target is not None:
        say("Training the propensity model")
        train_frame = label_frame if label_frame is not None else frame
        model = train_propensity(
            train_frame, schema, target, opts.positive, exclude=list(opts.exclude), seed=opts.seed,
            split=split, validation="out-of-time" if split is not None else "stratified holdout",
            leakage=list(quality.leakage_suspects) if train_frame is quality_frame else None,
        )
        result.model = model
        result.excluded_features = list(model.excluded_features)
        warnings += list(model.warnings)
        if not model.gate_passed:
            warnings += [f"Model quality gate: {r}" for r in model.gate_reasons]
        scores = model.scores if label_frame is None else score_new(model, frame)
        ranks = score_ranks(scores)
        out["score"] = np.round(scores, 6)
        out["rank"] = ranks["rank"].to_numpy()
        out["decile"] = ranks["decile"].to_numpy()
        lap("train")
        say("Explaining every score (exact SHAP)")
        expl = explain(model, frame, method=opts.explain_method)
        result.explanation = expl
        reasons = reason_codes(expl, frame.reset_index(drop=True))
        for c in reasons.columns:
            out[c] = reasons[c].to_numpy()
        lap("explain")
    else:
        result.excluded_features = [e for e in schema.excluded()]
    # --- targeting
    if opts.top_n is not None or opts.top_pct is not None or opts.control_pct:
        say("Building the target list")
        spec = ListSpec(top_n=opts.top_n, top_pct=opts.top_pct, control_pct=opts.control_pct, seed=opts.seed)
        result.targets = build_list(out, spec)
        lap("target")
    result.customers = out
    return result


def targets_export(result: RunResult) -> pd.DataFrame:
    assert result.targets is not None
    return export_columns(result.targets.table, "id", [])


def _int_arg(value: str, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DataValidationError(f"{name} must be 'auto' or a whole number of segments (2-20); got '{value}'.") from None


def _rfm_columns(frame: pd.DataFrame) -> tuple[str, str, str]:
    def find(words: list[str]) -> str:
        for w in words:
            for c in frame.columns:
                if w in str(c).lower() and pd.api.types.is_numeric_dtype(frame[c]):
                    return c
        raise DataValidationError(
            "RFM needs recency, frequency and monetary columns (e.g. recency_days, orders, total_spend); "
            "use --transactions on an order log, or choose clustering."
        )

    return (find(["recency"]), find(["frequency", "orders", "purchases"]), find(["monetary", "spend", "revenue", "amount"]))


def _transactions_to_customers(raw: pd.DataFrame, opts: RunOptions):
    """Roll up; with a horizon, also build the out-of-time training frame and return current customers
    to score."""
    as_of = opts.cutoff if opts.horizon is None else None
    current = customers_from_transactions(raw, opts.customer_col, opts.date_col, opts.amount_col, as_of=as_of)
    if opts.horizon is None:
        return current, current.customers, None, None, None
    both, split, oot = repurchase_training_frame(raw, opts.horizon, opts.cutoff, opts.customer_col, opts.date_col,
                                                 opts.amount_col)
    return current, current.customers, both, split, oot


def repurchase_training_frame(
    raw: pd.DataFrame,
    horizon: int,
    cutoff: str | pd.Timestamp | None = None,
    customer_col: str | None = None,
    date_col: str | None = None,
    amount_col: str | None = None,
) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """Customers labelled "bought again within ``horizon`` days", for out-of-time validation.

    Two windows: features before ``cutoff − horizon`` with the label from the horizon after it (train),
    and features before ``cutoff`` with the label from the horizon after it (validate: the latest window,
    never seen in training). Returns both stacked, a boolean "validation row" array, and the facts.
    """
    if horizon is None or horizon <= 0:
        raise DataValidationError("The horizon must be a positive number of days.")
    cols = infer_transaction_columns(raw, customer_col, date_col, amount_col)
    cut = pd.Timestamp(cutoff) if cutoff else default_cutoff(raw, cols, horizon)
    earlier = cut - pd.Timedelta(days=horizon)
    windows = []
    for as_of, name in ((earlier, "train"), (cut, "validate")):
        table = customers_from_transactions(raw, customer_col, date_col, amount_col, as_of=as_of)
        labels = repurchase_labels(raw, cols, as_of, horizon)
        cust = table.customers.copy()
        cust[REPURCHASE_TARGET] = np.where(cust["customer_id"].isin(labels.index), "yes", "no")
        cust["_window"] = name
        windows.append(cust)
    both = pd.concat(windows, ignore_index=True)
    split = (both.pop("_window") == "validate").to_numpy()
    oot = {
        "cutoff": str(cut.date()), "horizon_days": int(horizon),
        "train_window": f"features before {earlier.date()}, label {earlier.date()}..{cut.date()}",
        "validation_window": f"features before {cut.date()}, label {cut.date()}..{(cut + pd.Timedelta(days=horizon)).date()}",
        "train_customers": int((~split).sum()), "validation_customers": int(split.sum()),
    }
    return both, split, oot
