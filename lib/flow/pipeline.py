"""The steps of Bullseye and their order, in one place. The CLI runs them in one go (``run``); the app
runs the same functions one page at a time, caching each by the file digest and that step's settings.

    read -> customers -> understand -> segment -> train -> score -> explain -> reasons
         -> customer_table -> target                                      (``run``)
    model file + read -> customers -> prepare_new -> score ... -> target  (``score_file``)

Every step is a pure function of the previous steps' frozen results and its own frozen settings, and
returns a frozen result. Messages speak of settings ("the target column"), never of a CLI flag or a
widget: the CLI and the app map their own words to settings.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np
import pandas as pd

from lib.act.targeting import ListSpec, TargetList, build_list
from lib.data.features import (
    CustomerTable,
    customers_from_transactions,
    default_cutoff,
    infer_transaction_columns,
    repurchase_labels,
)
from lib.data.io import LoadResult
from lib.data.quality import QualityReport, assess_quality
from lib.data.schema import Schema, binary_target, ids_as_text, infer_schema, target_note
from lib.errors import DataValidationError
from lib.flow.drift import DriftReport, check_drift, reference_profile
from lib.flow.model_file import ModelBundle, model_id_of
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
        table = customers_from_transactions(raw, *cols, as_of=settings.cutoff)
        return Customers(table.customers, len(raw), len(raw.columns), settings, rollup=table,
                         warnings=tuple(loaded.warnings) + table.warnings)
    table = customers_from_transactions(raw, *cols)
    training, split, oot = repurchase_training_frame(raw, settings.horizon, settings.cutoff, *cols)
    return Customers(table.customers, len(raw), len(raw.columns), settings, rollup=table, training=training,
                     split=split, out_of_time=oot, warnings=tuple(loaded.warnings) + table.warnings)


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
    quality = assess_quality(judged, schema, None if target_problem else target, positive, fixes=cust.fixes)
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
        leakage=list(und.quality.leakage_suspects), max_rows=settings.max_rows,
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


def target(base: pd.DataFrame, spec: ListSpec, score_col: str = "score", rank_col: str | None = None) -> TargetList:
    """The list: filters, then the best by ``rank_col`` (default ``score_col``: the propensity score, or
    the uplift, whose sum is then the extra responders expected)."""
    return build_list(base, spec, score_col=score_col, rank_col=rank_col)


# --- what to offer, and what customers are worth (transaction logs) -------------------------------


def _log_only(cust: Customers, what: str) -> None:
    if not cust.settings.transactions:
        raise DataValidationError(
            t("{what} need a transaction log (one row per order line, with customer, date, product and amount columns); this file is a customer table. Load the order lines and mark the file as a transaction log.", what=what))


def recommend(loaded: LoadResult, cust: Customers, settings):
    """Top products per customer, in the mode asked ("all" or "new"), with the honest evaluation
    (``lib.models.recommend``). ``settings``: ``lib.models.recommend.RecommendSettings``."""
    from lib.models.recommend import recommend as run_recommender

    _log_only(cust, t("Recommendations"))
    c = cust.settings
    return run_recommender(loaded.frame, settings, c.customer_col, c.date_col, c.amount_col)


def value(loaded: LoadResult, cust: Customers, settings):
    """Predicted spend, churn risk and 12-month value per customer, validated out of time
    (``lib.models.value``). ``settings``: ``lib.models.value.ValueSettings``."""
    from lib.models.value import customer_value

    _log_only(cust, t("Customer value predictions"))
    c = cust.settings
    return customer_value(loaded.frame, settings, c.customer_col, c.date_col, c.amount_col)


def uplift(cust: Customers, und: Understanding, settings):
    """Who the campaign changes: an uplift model learned from a randomised control group
    (``lib.models.uplift``). ``settings``: ``lib.models.uplift.UpliftSettings``; the treatment column is never a
    feature, and outcomes of the target are kept out as leaks."""
    from lib.models.uplift import train_uplift

    if und.target is None:
        raise DataValidationError(t("Uplift needs a target (the outcome the campaign should change), and a treatment "
                                  "column saying who got the campaign."))
    if cust.training is not None:
        raise DataValidationError(
            t("Uplift learns from a campaign's results: a customer table with who was sent it (treatment) and what "
            "they did (target). With a transaction log and a horizon the target is built from the log, not from a "
            "campaign: leave the horizon at 0, or load the campaign's customer table."))
    if settings.treatment not in cust.frame.columns:
        raise DataValidationError(t("The treatment column '{treatment}' is not in the file. Columns: {items}.", treatment=settings.treatment, items=', '.join(map(str, cust.frame.columns))))
    return train_uplift(cust.frame, und.schema, und.target, und.positive, settings,
                        leakage=list(und.quality.leakage_suspects))


CAMPAIGN_GROUP, CAMPAIGN_OUTCOME = "campaign_group", "campaign_responded"


def learn_from_campaign(cust: Customers, und: Understanding, outcomes: pd.DataFrame, seed: int = 42):
    """Who a recorded campaign changed: its customers (matched by id to this customer file), whether they
    were sent it or kept as control, and what they did (``lib.act.campaigns.campaign_outcomes``), learned by
    the uplift step. The next list can then go to the persuadable, not the likeliest."""
    from lib.models.uplift import UpliftSettings, train_uplift

    frame = cust.frame.reset_index(drop=True)
    joined = pd.DataFrame({"_id": und.ids}).merge(
        outcomes.rename(columns={"customer_id": "_id", "group": CAMPAIGN_GROUP, "responded": CAMPAIGN_OUTCOME}),
        on="_id", how="inner")
    if joined.empty:
        raise DataValidationError(
            t("None of the campaign's customers are in this file: load the customer file the list was built from (ids in the '{value}' column) on the Upload page.", value=und.id_col or t("row number")))
    rows = pd.Index(und.ids).get_indexer(joined["_id"])
    learn = frame.iloc[rows].reset_index(drop=True).assign(**{CAMPAIGN_GROUP: joined[CAMPAIGN_GROUP].to_numpy(),
                                                              CAMPAIGN_OUTCOME: joined[CAMPAIGN_OUTCOME].to_numpy()})
    schema = Schema(roles={**und.schema.roles, CAMPAIGN_GROUP: "binary", CAMPAIGN_OUTCOME: "binary"},
                    reasons={**und.schema.reasons, CAMPAIGN_GROUP: "the campaign's groups",
                             CAMPAIGN_OUTCOME: "what the campaign's customers did"})
    settings = UpliftSettings(treatment=CAMPAIGN_GROUP, treated_value="target", control_value="control", seed=seed)
    # The customer file's own target (if any) is not a feature: it may be an outcome of the same campaign.
    features = tuple(c for c in und.feature_columns if c != und.target)
    return train_uplift(learn, schema, CAMPAIGN_OUTCOME, "yes", replace(settings, features=features))


def with_uplift(table: pd.DataFrame, uplift_result) -> pd.DataFrame:
    """customers.csv with each customer's predicted change (uplift) and their probability with and
    without the campaign."""
    if uplift_result is None:
        return table
    out = table.copy()
    for col in ("uplift", "p_treated", "p_control"):
        out[col] = np.round(uplift_result.table[col].to_numpy(), 6)
    return out


def uplift_by_id(base: pd.DataFrame, ids: np.ndarray, uplift_result) -> pd.DataFrame:
    """A list base (any row order) with each customer's uplift, matched by id: to rank a list by it."""
    lookup = pd.Series(uplift_result.table["uplift"].to_numpy(), index=ids)
    lookup = lookup[~lookup.index.duplicated()]
    return base.assign(uplift=lookup.reindex(base["id"].to_numpy()).to_numpy())


def value_by_id(base: pd.DataFrame, value_result, cost_per_contact: float = 0.0) -> pd.DataFrame:
    """A list base with each customer's predicted value and churn risk (matched by id), and the expected
    profit of contacting them: score × predicted value − cost."""
    v = value_result.table.set_index("customer_id")
    out = base.assign(predicted_value=v["predicted_value"].reindex(base["id"].to_numpy()).to_numpy(),
                      churn_risk=v["churn_risk"].reindex(base["id"].to_numpy()).to_numpy())
    if "score" in out.columns:
        out["expected_profit"] = out["score"] * out["predicted_value"].fillna(0.0) - cost_per_contact
    return out


VALUE_COLUMNS = ("predicted_orders", "predicted_value", "churn_risk", "clv_12m")


def with_value(table: pd.DataFrame, value_result) -> pd.DataFrame:
    """customers.csv with each customer's predicted orders, value, churn risk and 12-month value."""
    if value_result is None:
        return table
    v = value_result.table.set_index("customer_id")
    out = table.copy()
    for col in VALUE_COLUMNS:
        out[col] = v[col].reindex(out["id"].to_numpy()).to_numpy()
    return out


def with_offers(list_table: pd.DataFrame, recommendations) -> pd.DataFrame:
    """A target list with the top three offers of each customer (recommended_1..3)."""
    if recommendations is None:
        return list_table
    from lib.models.recommend import offers_for

    offers = offers_for(recommendations, n=3).set_index("id")
    out = list_table.copy()
    for col in ("recommended_1", "recommended_2", "recommended_3"):
        out[col] = offers[col].reindex(out["id"].to_numpy()).to_numpy() if col in offers else None
    return out


# --- the model file -------------------------------------------------------------------------------


def training_card(cust: Customers, result: PropensityResult, explanation: Explanation | None, source: dict) -> dict:
    """What a person needs to trust a model later: target, training data, validation, metrics, drivers.
    ``source``: the training file's name, sha256 and rows."""
    return {
        "kind": "propensity",
        "target": result.target,
        "positive_class": result.positive,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training": {**source, "customers": len(cust.frame), "labelled_rows": result.n_train + result.n_holdout,
                     "positives": result.positives},
        "validation": result.validation,
        "out_of_time": cust.out_of_time,
        "metrics": {k: v for k, v in result.to_report().items()
                    if k in ("holdout_auc", "baseline_auc", "pr_auc", "brier", "lift_top_decile", "cv_auc",
                             "n_train", "n_holdout", "trees", "quality_gate", "quality_gate_reasons")},
        "features": list(result.features),
        "excluded_features": list(result.excluded_features),
        "top_drivers": explanation.top_features(5) if explanation is not None else [],
    }


def model_bundle(cust: Customers, und: Understanding, result: PropensityResult, seg: SegmentationResult | None,
                 explanation: Explanation | None, source: dict, uplift_result=None) -> ModelBundle:
    """Everything a saved model needs to score and explain a new file, and to be trusted later; with an
    uplift model, its learners too (a new file then gets uplift, p_treated and p_control)."""
    from lib.models.segment import segmentation_state

    model = result.model
    judged = cust.training if cust.training is not None else cust.frame
    card = training_card(cust, result, explanation, source)
    rollup = None
    if cust.rollup is not None:
        c = cust.rollup.columns
        rollup = {"customer_col": c.customer, "date_col": c.date, "amount_col": c.amount}
    data = {
        "id_column": und.id_col,
        "columns": [str(c) for c in cust.frame.columns],
        "roles": {c: und.schema.roles.get(c) for c in result.features},
        "transactions": cust.settings.transactions,
        "rollup": rollup,
    }
    uplift_state = None
    if uplift_result is not None:
        r = uplift_result
        uplift_state = {"method": r.method, "treatment": r.treatment, "treated_value": r.treated_value,
                        "control_value": r.control_value, "target": r.target, "positive": r.positive,
                        "training": {k: v for k, v in r.to_report().items()
                                     if k in ("qini", "auuc", "ate", "ate_ci", "n_treated", "n_control", "verdict")},
                        "learners": dict(r.learners)}
    return ModelBundle(model=model, card=card, data=data,
                       segmentation=segmentation_state(seg) if seg is not None else None,
                       drift=reference_profile(judged, model.column_specs), model_id=model_id_of(model),
                       uplift=uplift_state)


@dataclass(frozen=True)
class NewFile:
    """A new file made ready for a saved model: its customers, ids, drift check and segments."""

    customers: Customers
    ids: np.ndarray
    id_col: str | None
    model: PropensityModel  # the saved model with dates counted back from this file's latest dates
    drift: DriftReport
    segmentation: SegmentationResult | None
    warnings: tuple[str, ...]


def model_columns(bundle: ModelBundle) -> list[str]:
    """The columns a saved model reads from a new file: its features, the segments', the uplift learners'."""
    from lib.models.uplift import TREATED_FEATURE

    needed = list(bundle.model.features) + [c for c in (bundle.segmentation or {}).get("features", [])
                                            if c not in bundle.model.features]
    for learner in ((bundle.uplift or {}).get("learners") or {}).values():
        needed += [c for c in learner.features if c not in needed and c != TREATED_FEATURE]
    return needed


def check_model_columns(bundle: ModelBundle, columns) -> None:
    """Refuse a file that lacks a column the model reads, naming each one."""
    missing = [c for c in model_columns(bundle) if c not in columns]
    if missing:
        raise DataValidationError(
            t("The file lacks {what} the model needs: {items}. Export it with the same columns as the training file ({file}).",
              what=t("a column") if len(missing) == 1 else t("columns"), items=", ".join(repr(m) for m in missing),
              file=bundle.card["training"].get("file", t("the training file"))))


def prepare_new(bundle: ModelBundle, loaded: LoadResult, id_col: str | None = None,
                cust: Customers | None = None) -> NewFile:
    """Check a new file against the model: every model column present (else a clear error naming them),
    drift per column, ids, and each customer's segment from the training segmentation. ``cust``: the
    customers already made from the file (a log too big to read whole, rolled up in parts)."""
    from lib.models.segment import assign_segments

    data = bundle.data
    if cust is not None:
        pass
    elif data.get("transactions"):
        r = data.get("rollup") or {}
        cust = customers(loaded, CustomerSettings(True, r.get("customer_col"), r.get("date_col"), r.get("amount_col")))
    else:
        cust = customers(loaded, CustomerSettings())
    frame = cust.frame
    check_model_columns(bundle, frame.columns)
    if id_col is None and data.get("id_column") in frame.columns:
        id_col = data["id_column"]
    warnings = list(cust.warnings)
    # Roles are inferred only when neither the user nor the model names an id column present here.
    chosen = pick_id_column(frame, infer_schema(frame) if id_col is None else Schema({}, {}), id_col)
    ids = customer_ids(frame, chosen, warnings)
    ignored = {data.get("id_column")} | set(data.get("columns", []))
    drift = check_drift(bundle.drift, frame, bundle.model.column_specs, tuple(c for c in ignored if c))
    seg = assign_segments(bundle.segmentation, frame) if bundle.segmentation else None
    model = bundle.model.rebase_dates(frame)
    return NewFile(customers=cust, ids=ids, id_col=chosen, model=model, drift=drift, segmentation=seg,
                   warnings=tuple(warnings) + tuple(drift.warnings))


# --- the whole run, as the CLI does it ------------------------------------------------------------


@dataclass(frozen=True)
class RunSettings:
    customers: CustomerSettings = field(default_factory=CustomerSettings)
    understand: UnderstandSettings = field(default_factory=UnderstandSettings)
    segment: SegmentSettings = field(default_factory=SegmentSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    explain_method: str = "auto"
    target_list: ListSpec | None = None  # None: no list
    recommend: object | None = None  # lib.models.recommend.RecommendSettings, or None: no recommendations
    value: object | None = None  # lib.models.value.ValueSettings, or None: no value predictions
    uplift: object | None = None  # lib.models.uplift.UpliftSettings, or None: no uplift model


@dataclass(frozen=True)
class RunResult:
    customers: Customers
    understanding: Understanding
    segmentation: SegmentationResult | None
    model: PropensityResult | None
    explanation: Explanation | None
    table: pd.DataFrame  # customers.csv
    targets: TargetList | None
    warnings: tuple[str, ...]
    timings: dict[str, float]
    recommendations: object | None = None  # lib.models.recommend.Recommendations
    value: object | None = None  # lib.models.value.ValueResult
    uplift: object | None = None  # lib.models.uplift.UpliftResult

    def report(self) -> dict:
        und, cust = self.understanding, self.customers
        rep = {
            "rows": cust.source_rows,
            "columns": cust.source_columns,
            "customers": int(len(self.table)),
            "id_column": und.id_col or "id",
            "roles": dict(und.schema.roles),
            "excluded_features": list(self.model.excluded_features) if self.model else und.schema.excluded(),
            "segmentation": None,
            "segments": [],
            "model": None,
            "explain": None,
            "targeting": None,
            "quality": {
                "problems": [p.message for p in und.quality.problems],
                "duplicate_rows": und.quality.duplicate_rows,
                "class_balance": und.quality.class_balance,
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
                "k_reason": s.k_reason,
                "k_table": None if s.k_table is None else s.k_table.round(4).to_dict("records"),
            }
            rep["segments"] = s.to_report()
        if self.model is not None:
            rep["model"] = self.model.to_report()
            if cust.out_of_time:
                rep["model"]["out_of_time"] = cust.out_of_time
        if self.explanation is not None:
            rep["explain"] = self.explanation.to_report()
        if self.targets is not None:
            rep["targeting"] = targeting_report(self.targets)
        if self.recommendations is not None:
            rep["recommend"] = self.recommendations.to_report()
        if self.value is not None:
            rep["value"] = self.value.to_report()
        if self.uplift is not None:
            rep["uplift"] = self.uplift.to_report()
        return rep


def targeting_report(tl: TargetList) -> dict:
    return {
        "selected": tl.selected,
        "control": tl.control,
        "expected_responders": None if np.isnan(tl.expected_responders) else round(tl.expected_responders, 2),
        "excluded": tl.excluded_counts,
        "seed": tl.spec.seed,
    }


class Laps:
    """Seconds per stage, for report.json's timings_s."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._t = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self._t
        self._t = now


def run(loaded: LoadResult, settings: RunSettings, progress: Progress | None = None) -> RunResult:
    """Every step in order on one file: what ``python -m lib.cli run`` does."""
    say = progress or (lambda m: log.info(m))
    lap = Laps()
    say(t("Reading customers"))
    cust = customers(loaded, settings.customers)
    lap("features")
    say(t("Understanding the columns and checking data quality"))
    understand_settings = settings.understand
    if settings.uplift is not None and settings.uplift.treatment not in cust.frame.columns:
        raise DataValidationError(t("The treatment column '{treatment}' is not in the file. Columns: {items}.", treatment=settings.uplift.treatment, items=', '.join(map(str, cust.frame.columns))))
    if settings.uplift is not None:  # who got the campaign is never a feature of any model
        understand_settings = replace(understand_settings,
                                      exclude=(*understand_settings.exclude, settings.uplift.treatment))
    und = understand(cust, understand_settings)
    if und.target_problem:
        raise DataValidationError(und.target_problem)
    lap("quality")
    if len(cust.frame) == 0:
        raise DataValidationError(t("No customers to analyse."))
    say(t("Segmenting customers"))
    seg = segment(cust, und, settings.segment)
    lap("segment")
    result = expl = reason_table = scores = None
    warnings = list(cust.warnings) + list(und.warnings)
    if und.target is not None:
        say(t("Training the propensity model"))
        result = train(cust, und, settings.train)
        warnings += list(result.warnings)
        if not result.gate_passed:
            warnings += [t("Model quality gate: {reason}", reason=r) for r in result.gate_reasons]
        scores = score(result, cust)
        lap("train")
        say(t("Explaining every score (exact SHAP)"))
        expl = explain_scores(result.model, cust.frame, settings.explain_method)
        reason_table = reasons(expl, cust.frame)
        lap("explain")
    worth = offers = persuaded = None
    if settings.uplift is not None:
        say(t("Learning who the campaign changes (uplift)"))
        persuaded = uplift(cust, und, settings.uplift)
        warnings += list(persuaded.warnings)
        lap("uplift")
    if settings.value is not None:
        say(t("Predicting each customer's value and churn risk"))
        try:
            worth = value(loaded, cust, settings.value)
        except DataValidationError as exc:
            # Value comes with every log by default: a log too short for it still gets everything else.
            warnings.append(t("No customer value predictions: {exc}", exc=exc))
        lap("value")
    if settings.recommend is not None:
        say(t("Recommending products"))
        offers = recommend(loaded, cust, settings.recommend)
        lap("recommend")
    table = with_uplift(with_value(customer_table(und.ids, seg, scores, reason_table), worth), persuaded)
    targets = None
    if settings.target_list is not None:
        say(t("Building the target list"))
        # With an uplift model that beats random, the list takes the customers the campaign changes most;
        # when the data cannot tell who responds, the list stays ranked by score and says so.
        by_uplift = persuaded is not None and persuaded.beats_random
        if persuaded is not None and not by_uplift:
            warnings.append(t("The list is ranked by score, not uplift: the data cannot tell who the campaign changes."))
        targets = target(table, settings.target_list, score_col="uplift" if by_uplift else "score")
        if offers is not None:
            targets = replace(targets, table=with_offers(targets.table, offers))
        lap("target")
    return RunResult(customers=cust, understanding=und, segmentation=seg, model=result, explanation=expl,
                     table=table, targets=targets, warnings=tuple(warnings), timings=lap.timings,
                     recommendations=offers, value=worth, uplift=persuaded)


@dataclass(frozen=True)
class ScoreSettings:
    id_col: str | None = None
    explain_method: str = "auto"
    target_list: ListSpec | None = None


@dataclass(frozen=True)
class ScoreResult:
    new: NewFile
    scores: np.ndarray
    explanation: Explanation
    table: pd.DataFrame
    targets: TargetList | None
    timings: dict[str, float]


def score_file(bundle: ModelBundle, loaded: LoadResult, settings: ScoreSettings,
               progress: Progress | None = None, cust: Customers | None = None) -> ScoreResult:
    """A saved model on a new file: what ``python -m lib.cli score`` does (``cust``: see ``prepare_new``)."""
    say = progress or (lambda m: log.info(m))
    lap = Laps()
    say("Checking the file against the model")
    new = prepare_new(bundle, loaded, settings.id_col, cust)
    lap("prepare")
    say("Scoring")
    frame = new.customers.frame
    scores = new.model.predict_proba(frame)[:, 1]
    lap("score")
    say("Explaining every score (exact SHAP)")
    expl = explain_scores(new.model, frame, settings.explain_method)
    reason_table = reasons(expl, frame)
    lap("explain")
    table = customer_table(new.ids, new.segmentation, scores, reason_table)
    if bundle.uplift is not None:
        from lib.models.uplift import score_uplift

        # The learners were saved as trained: dates count back from this file's snapshot, like the model's.
        learners = {k: m.rebase_dates(frame) for k, m in bundle.uplift["learners"].items()}
        table = with_uplift(table, SimpleNamespace(table=score_uplift(bundle.uplift["method"], learners, frame)))
    rank = "uplift" if bundle.uplift is not None else "score"
    targets = target(table, settings.target_list, score_col=rank) if settings.target_list is not None else None
    lap("target")
    return ScoreResult(new=new, scores=scores, explanation=expl, table=table, targets=targets, timings=lap.timings)
