"""The steps of the guided flow, each a pure function of the previous steps' frozen results and its
own frozen settings: customers -> understand -> segment -> train -> score -> explain -> reasons ->
customer_table. The order lives in ``lib.flow.pipeline``; the app runs these one page at a time.

Messages speak of settings ("the target column"), never of a CLI flag or a widget: the CLI and the app
map their own words to settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from lib.data.features import (
    CustomerTable,
    customers_from_transactions,
    default_cutoff,
    infer_transaction_columns,
    log_before,
    repurchase_labels,
)
from lib.data.io import LoadResult
from lib.data.kind import as_log
from lib.data.quality import QualityReport, assess_quality
from lib.data.schema import Schema, binary_target, ids_as_text, infer_schema, target_note
from lib.errors import DataValidationError
from lib.models.explain import Explanation, explain, reason_codes
from lib.models.model import PropensityModel
from lib.models.propensity import TRAIN_MAX_ROWS, PropensityResult, score_ranks, train_propensity
from lib.models.segment import (
    SegmentationResult,
    default_cluster_features,
    rename_segments,
    segment_clusters,
    segment_rfm,
)
from lib.text.i18n import t

log = logging.getLogger(__name__)

REPURCHASE_TARGET = "bought_again"
AUTO = "auto"  # a target setting meaning "the best candidate the file offers"
Progress = Callable[[str], None]


# --- customers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerSettings:
    """Is the file a transaction log, which columns to roll it up by, and the repurchase label."""

    transactions: bool = False
    customer_col: str | None = None
    date_col: str | None = None
    amount_col: str | None = None
    cutoff: str | None = None  # YYYY-MM-DD: only lines before it count (and with a horizon: the label's start)
    horizon: int | None = None  # days: label = bought again within this many days after the cutoff
    # YYYY-MM-DD: the end of the log the user chose (the app's as-of picker): lines on or after it are left out
    # of the customer table and of the training windows, and counted. None: the export's plausible end.
    as_of: str | None = None


@dataclass(frozen=True)
class Customers:
    """One row per customer: the file itself, or its roll-up (with the labelled training windows)."""

    frame: pd.DataFrame
    source_rows: int
    source_columns: int
    settings: CustomerSettings
    rollup: CustomerTable | None = None
    training: pd.DataFrame | None = None  # repurchase: both windows, labelled
    split: np.ndarray | None = None  # True for ``training`` rows of the latest (validation) window
    out_of_time: dict | None = None
    warnings: tuple[str, ...] = ()
    fixes: tuple = ()  # cells the loader read as missing (codes, impossible numbers), for the quality report


def customers(loaded: LoadResult, settings: CustomerSettings) -> Customers:
    raw = loaded.frame
    if not settings.transactions:
        return Customers(raw, len(raw), len(raw.columns), settings, warnings=tuple(loaded.warnings),
                         fixes=tuple(loaded.fixes))
    cols = (settings.customer_col, settings.date_col, settings.amount_col)
    if settings.horizon is None:
        table = customers_from_transactions(raw, *cols, as_of=settings.as_of or settings.cutoff)
        return Customers(table.customers, len(raw), len(raw.columns), settings, rollup=table,
                         warnings=tuple(loaded.warnings) + table.warnings)
    table = customers_from_transactions(raw, *cols, as_of=settings.as_of)
    # The training windows see the log the user chose, so their cutoff falls a horizon before its end.
    log = raw if settings.as_of is None else log_before(raw, table.columns, settings.as_of)
    training, split, oot = repurchase_training_frame(log, settings.horizon, settings.cutoff, *cols)
    return Customers(table.customers, len(raw), len(raw.columns), settings, rollup=table, training=training,
                     split=split, out_of_time=oot, warnings=tuple(loaded.warnings) + table.warnings)


@dataclass(frozen=True)
class AsOfChoice:
    """The as-of date of a log's roll-up, as a picker shows it: the date the export suggests (the day
    after its plausible end), the one in use, the range worth picking in and what the one in use leaves
    out. Dates are days: only lines before the as-of date count."""

    suggested: pd.Timestamp
    chosen: pd.Timestamp
    earliest: pd.Timestamp  # the day after the first line: at least one line counts
    latest: pd.Timestamp  # the day after the last line, stray ones included: every line counts
    left_out: int  # lines after the plausible end, or on or after a chosen date

    @property
    def note(self) -> str:
        if not self.left_out:
            return t("Every dated line is before {date} and counts.", date=self.chosen.date())
        return t("{n:,} lines dated from {date} on are left out and counted in the report.", n=self.left_out,
                 date=self.chosen.date())


def as_of_choice(cust: Customers) -> AsOfChoice | None:
    """The as-of picker of a rolled-up log (None for a customer table)."""
    table = cust.rollup
    if table is None or table.suggested_as_of is None or table.first_date is None:
        return None
    day = pd.Timedelta(days=1)
    return AsOfChoice(suggested=table.suggested_as_of, chosen=table.as_of,
                      earliest=table.first_date.normalize() + day, latest=table.last_date.normalize() + day,
                      left_out=table.lines_after_end + table.lines_after_as_of)


def log_lines(loaded: LoadResult, cust: Customers) -> pd.DataFrame:
    """The log as the customer step read it: the lines before the as-of date the user chose (all of them
    without a choice), so recommendations, value, forecasts and risk end where the customer table does."""
    as_of = cust.settings.as_of
    if as_of is None or cust.rollup is None:
        return loaded.frame
    return log_before(loaded.frame, cust.rollup.columns, as_of)


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
        raise DataValidationError(t("The horizon must be a positive number of days."))
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
        "train_window": t("features before {date}, label {date}..{date2}", date=earlier.date(), date2=cut.date()),
        "validation_window": t("features before {date}, label {date}..{date2}", date=cut.date(), date2=(cut + pd.Timedelta(days=horizon)).date()),
        "train_customers": int((~split).sum()), "validation_customers": int(split.sum()),
    }
    return both, split, oot


# --- understand -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnderstandSettings:
    """What the user told us about the columns: target, positive class, id, role changes, exclusions."""

    target: str | None = None  # a column, AUTO (the best candidate) or None (segments only)
    positive: str | None = None  # None: guessed (yes/true/1/是...)
    id_col: str | None = None  # None: the first unique identifier column
    roles: tuple[tuple[str, str], ...] = ()  # (column, role) overrides
    exclude: tuple[str, ...] = ()  # never features


@dataclass(frozen=True)
class Understanding:
    schema: Schema  # roles of the customer table's columns, with the user's changes
    id_col: str | None
    ids: np.ndarray  # customer id as text for every row of the customer table
    target: str | None
    positive: str | None
    labels: pd.Series | None  # 1/0/NaN per customer-table row (None: no target, or built from the log)
    quality: QualityReport
    settings: UnderstandSettings
    warnings: tuple[str, ...] = ()
    target_problem: str | None = None  # why the target cannot be modelled (one class, not in the file...)

    @property
    def feature_columns(self) -> list[str]:
        return [c for c in self.schema.feature_columns(exclude=self.settings.exclude) if c != self.target]


def infer_roles(cust: Customers) -> Schema:
    """Column roles as inferred, before the user's changes (the slow part of understanding a file)."""
    schema = infer_schema(cust.training if cust.training is not None else cust.frame)
    return schema.with_role("customer_id", "identifier") if cust.settings.transactions else schema


def resolve(settings: UnderstandSettings, cust: Customers, inferred: Schema) -> UnderstandSettings:
    """The settings with "auto" and blanks made explicit: the target (the best candidate, or the
    repurchase label of a log with a horizon) and its positive class (yes/true/1/是...)."""
    target, positive = settings.target, settings.positive
    if cust.training is not None:
        if target not in (None, AUTO, REPURCHASE_TARGET):
            raise DataValidationError(
                t("With a transaction log and a horizon, the target is built from the log (bought again within the "
                "horizon): leave the target column empty."))
        target, positive = REPURCHASE_TARGET, "yes"
    elif target == AUTO:
        target = inferred.target_candidates[0] if inferred.target_candidates else None
    if target is not None and positive is None:
        positive = inferred.positive_classes.get(target)
    return UnderstandSettings(target, positive, settings.id_col, settings.roles, settings.exclude)


def understand(cust: Customers, settings: UnderstandSettings, inferred: Schema | None = None) -> Understanding:
    """Roles, id column, target and the data-quality report of the customer table. ``inferred``: the
    result of ``infer_roles`` when the caller has it already."""
    frame = cust.frame
    judged = cust.training if cust.training is not None else frame  # the frame the model learns from
    schema = inferred if inferred is not None else infer_roles(cust)
    settings = resolve(settings, cust, schema)
    for col, role in settings.roles:
        if col in schema.roles and schema.roles[col] != role:
            schema = schema.with_role(col, role)
    for col in settings.exclude:
        if col not in judged.columns:
            raise DataValidationError(
                t("The column to exclude, '{col}', is not in the data. Columns: {items}.", col=col, items=', '.join(map(str, frame.columns))))
    target, positive = settings.target, settings.positive
    if target is not None and target not in judged.columns:
        raise DataValidationError(
            t("The target column '{target}' is not in the file. Columns: {items}.", target=target, items=', '.join(map(str, frame.columns))))
    labels, target_problem = None, None
    if target is not None:
        try:
            labels = binary_target(judged[target], positive, column=target)
            labels = labels if judged is frame else None  # a log's label lives on its training windows
        except DataValidationError as exc:
            # Recorded, not raised: the app shows it beside the target box so it can be fixed there; the
            # CLI stops with it (see ``run``); training refuses with it.
            target_problem = str(exc)
    id_col = pick_id_column(frame, schema, settings.id_col)
    warnings = []
    if target is not None and not target_problem and (note := target_note(judged[target], positive, target)):
        warnings.append(note)
    if settings.id_col:
        schema = schema.with_role(settings.id_col, "identifier")
    if settings.id_col and not frame[settings.id_col].is_unique:
        repeats = int(frame[settings.id_col].duplicated().sum())
        warnings.append(t("The id column '{id_col}' repeats a value in {repeats:,} rows: lists and results cannot tell those customers apart. Choose a column with one value per customer.", id_col=settings.id_col, repeats=repeats))
    ids = customer_ids(frame, id_col, warnings)
    # A log's fixes concern its order lines, not the customer table (the load warnings report them).
    rollup = cust.rollup
    log = None if rollup is not None else as_log(frame)  # a log read as a table is still reported as a log
    quality = assess_quality(judged, schema, None if target_problem else target, positive, fixes=cust.fixes,
                             built=rollup is not None, source_problems=rollup.source_problems if rollup else (),
                             log=log)
    return Understanding(schema=schema, id_col=id_col, ids=ids, target=target, positive=positive, labels=labels,
                         quality=quality, settings=settings, warnings=tuple(warnings), target_problem=target_problem)


def customer_ids(frame: pd.DataFrame, id_col: str | None, warnings: list[str]) -> np.ndarray:
    """Every row's customer id as text (the same way in every export), or row numbers with a warning."""
    if id_col is None:
        warnings.append(t("No unique customer id column found; rows are numbered 1..N in the outputs (choose the "
                        "id column to keep your own ids)."))
        return np.arange(1, len(frame) + 1).astype(str).astype(object)
    return ids_as_text(frame[id_col]).to_numpy(dtype=object)


def pick_id_column(frame: pd.DataFrame, schema: Schema, id_col: str | None) -> str | None:
    """The column named by the user, else the first identifier column whose values are unique."""
    if id_col is not None:
        if id_col not in frame.columns:
            raise DataValidationError(
                t("The id column '{id_col}' is not in the file. Columns: {items}.", id_col=id_col, items=', '.join(map(str, frame.columns))))
        return id_col
    unique = [c for c in schema.columns_with_role("identifier") if frame[c].is_unique]
    return (unique or [None])[0]


# --- segment --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentSettings:
    method: str = "kmeans"  # "kmeans" (clustering) or "rfm"
    k: int | None = None  # None: chosen from the data
    features: tuple[str, ...] | None = None  # None: the default behaviour columns
    rfm_columns: tuple[str, str, str] | None = None  # None: found by name
    seed: int = 42
    names: tuple[tuple[int, str], ...] = ()  # the user's names for segment ids


def segment(cust: Customers, und: Understanding, settings: SegmentSettings) -> SegmentationResult:
    frame = cust.frame
    if settings.method == "rfm":
        from lib.models.segment import guess_rfm_columns

        cols = settings.rfm_columns or guess_rfm_columns(frame)
        seg = segment_rfm(frame, *cols, target=und.labels)
    elif settings.method == "kmeans":
        feats = list(settings.features) if settings.features else default_cluster_features(
            frame, und.feature_columns, und.target)
        if settings.k is not None and not isinstance(settings.k, int):
            raise DataValidationError(t("The number of segments must be a whole number; got '{k}'.", k=settings.k))
        seg = segment_clusters(frame, feats, k=settings.k, seed=settings.seed, target=und.labels)
    else:
        raise DataValidationError(t("Unknown segmentation method '{method}': use kmeans or rfm.", method=settings.method))
    return rename_segments(seg, dict(settings.names)) if settings.names else seg


# --- train and score ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSettings:
    features: tuple[str, ...] | None = None  # None: every usable column
    allow: tuple[str, ...] = ()  # leakage suspects the user allows back in
    seed: int = 42
    max_rows: int | None = TRAIN_MAX_ROWS  # trees learn from a stratified sample above this (None: all rows)
    learners: str = "auto"  # "auto", "all" or names ("mlp,svm"): compared, the simplest tied with the best kept


def train(cust: Customers, und: Understanding, settings: TrainSettings) -> PropensityResult:
    if und.target is None:
        raise DataValidationError(t("Choose a target column (what to predict) before training a model."))
    if und.target_problem:
        raise DataValidationError(und.target_problem)
    judged = cust.training if cust.training is not None else cust.frame
    features = list(settings.features) if settings.features is not None else None
    return train_propensity(
        judged, und.schema, und.target, und.positive, features=features, exclude=list(und.settings.exclude),
        allow=list(settings.allow), seed=settings.seed, split=cust.split,
        validation="out-of-time" if cust.split is not None else "stratified holdout",
        leakage=list(und.quality.leakage_suspects), max_rows=settings.max_rows, learners=settings.learners,
    )


def score(result: PropensityResult, cust: Customers) -> np.ndarray:
    """Today's score of every customer. A repurchase model learnt from past windows, so today's
    customers are scored afresh; otherwise training already scored every row."""
    if cust.training is None:
        return result.scores
    return result.model.predict_proba(cust.frame)[:, 1]


EXPLAIN_BATCH_ROWS = 250_000


def explain_scores(model: PropensityModel, frame: pd.DataFrame, method: str = "auto",
                   progress: Callable[[int, int], None] | None = None) -> Explanation:
    """Exact SHAP for every customer (see ``lib.models.explain``). With ``progress``, a big file is explained
    EXPLAIN_BATCH_ROWS at a time and ``progress(rows_done, rows)`` is called after each batch (the
    values are the same: each row's SHAP depends on that row only)."""
    n = len(frame)
    if progress is None or n <= EXPLAIN_BATCH_ROWS:
        out = explain(model, frame, method=method)
        if progress is not None:
            progress(n, n)
        return out
    parts = []
    for start in range(0, n, EXPLAIN_BATCH_ROWS):
        parts.append(explain(model, frame.iloc[start:start + EXPLAIN_BATCH_ROWS], method=method))
        progress(min(start + EXPLAIN_BATCH_ROWS, n), n)
    return replace(parts[0], values=np.vstack([e.values for e in parts]), points=np.vstack([e.points for e in parts]),
                   seconds=sum(e.seconds for e in parts))


def reasons(explanation: Explanation, frame: pd.DataFrame, actionable: tuple[str, ...] | None = None) -> pd.DataFrame:
    """reason_1..3 in words for every customer, from the features the campaign may act on."""
    return reason_codes(explanation, frame.reset_index(drop=True), actionable=list(actionable) if actionable else None)


# --- the customer table and the list --------------------------------------------------------------


def customer_table(ids: np.ndarray, seg: SegmentationResult | None, scores: np.ndarray | None,
                   reason_table: pd.DataFrame | None) -> pd.DataFrame:
    """id, segment, segment_name, score, rank, decile, reason_1..3: what customers.csv holds."""
    out = pd.DataFrame({"id": ids})
    if seg is not None:
        out["segment"] = seg.labels
        out["segment_name"] = seg.names().to_numpy()
    if scores is not None:
        ranks = score_ranks(scores)
        out["score"] = np.round(scores, 6)
        out["rank"] = ranks["rank"].to_numpy()
        out["decile"] = ranks["decile"].to_numpy()
        if reason_table is not None:
            for c in reason_table.columns:
                out[c] = reason_table[c].to_numpy()
    return out


def list_base(table: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Scored customers with all their own columns, best first: what a target list is filtered from."""
    extra = frame.reset_index(drop=True).drop(columns=[c for c in table.columns if c in frame.columns])
    base = table.join(extra)
    if "score" in base.columns:
        # Best first: the list builder's stable sort then finds the order already in place (O(n)).
        base = base.iloc[np.argsort(-base["score"].to_numpy(), kind="stable")].reset_index(drop=True)
    return base

