"""Propensity models that can be trusted: one estimator (``lib.models.model.PropensityModel``), a logistic
baseline on the same split, honest validation, lift by decile, calibrated scores and a profit-based cut-off.

Why these defaults: depth-4 trees lose no AUC against depth 6 on typical marketing tables but make
exact SHAP several times cheaper (see bench/results.md); early stopping on a validation fold picks the
number of trees; Platt scaling on that same fold turns margins into calibrated probabilities while
keeping the ranking (and the SHAP log-odds scale) intact.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    log_loss,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from lib.data.quality import find_leakage
from lib.data.schema import Schema, binary_target
from lib.errors import DataValidationError
from lib.models.learners import Comparison, LearnerModel, compare_learners, comparison_folds, resolve_learners
from lib.models.learners.catalogue import scaled_encoder
from lib.models.learners.compare import COMPARE_FOLDS, TIME_LIMIT_SECONDS
from lib.models.model import ColumnSpec, FrameEncoder, PropensityModel
from lib.text.i18n import t

log = logging.getLogger(__name__)

MIN_AUC = 0.6
MIN_POSITIVES = 50
VALIDATION_MAX_ROWS = 50_000
BASELINE_MAX_ROWS = 200_000
# Above this, the trees learn from a stratified sample of the training rows: on the 1M benchmark
# (bench/scale.py learning_curve) holdout AUC moved < 0.001 from 200k to 800k rows while training time
# tripled. The holdout is never sampled, so the metrics stay honest; 0 or None: use every row.
TRAIN_MAX_ROWS = 300_000
# XGBoost is refitted on every labelled row only when the trees learnt from fewer rows than this: that
# is where the 25-35% more rows a refit adds still move the model. Above, the learning curve is flat
# (bench/scale.py: 85k -> 170k fit rows, holdout AUC +0.0008) while the refit cost a fifth of a 100k
# run (2.0 of 10 s of training, issue 28); the model that scores is then the one measured.
REFIT_MAX_FIT_ROWS = 50_000

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ModelMetrics:
    roc_auc: float
    pr_auc: float
    brier: float
    log_loss: float


@dataclass(frozen=True)
class PropensityResult:
    """A fitted model, how good it is on data it never saw, and a score for every row."""

    model: PropensityModel | LearnerModel  # the chosen learner: encoding + learner (+ calibration), one estimator
    baseline: Pipeline  # logistic regression on the same split
    target: str
    positive: str
    features: tuple[str, ...]  # the user's columns the model uses
    excluded_features: tuple[dict, ...]  # {column, reason}
    warnings: tuple[str, ...]
    metrics: ModelMetrics
    baseline_metrics: ModelMetrics
    cv_auc: tuple[float, ...]
    lift: pd.DataFrame  # by decile on the holdout
    calibration: pd.DataFrame  # mean predicted vs observed, 10 bins, holdout
    holdout_scores: np.ndarray
    holdout_labels: np.ndarray
    scores: np.ndarray  # calibrated probability for every row of the input
    margins: np.ndarray  # raw log-odds for every row (SHAP's scale)
    n_train: int
    n_holdout: int
    positives: int
    validation: str  # "stratified holdout" or "out-of-time"
    train_seconds: float
    seed: int
    gate_reasons: tuple[str, ...] = field(default=())
    n_fit: int = 0  # rows the trees learnt from (a sample of n_train on big files), early-stopping rows aside
    comparison: Comparison | None = None  # the learners compared on the same folds (None: no comparison)
    refit: bool = False  # the scoring model was refitted on every labelled row after validation

    @property
    def gate_passed(self) -> bool:
        return not self.gate_reasons

    @property
    def platt(self) -> tuple[float, float]:
        return self.model.platt_

    @property
    def best_iteration(self) -> int:
        return self.model.best_iteration_

    @property
    def algorithm(self) -> str:
        return self.model.algorithm

    def to_report(self) -> dict:
        top = self.lift.iloc[0]
        xgb = self.algorithm == "xgboost"
        c = self.comparison
        return {
            "algorithm": self.algorithm,
            "learner_verdict": c.verdict if c is not None else None,
            "learner_folds": c.folds if c is not None else None,
            "refit_on_all_rows": self.refit,
            "validation": self.validation,
            "holdout_auc": round(self.metrics.roc_auc, 4),
            "baseline_auc": round(self.baseline_metrics.roc_auc, 4),
            "pr_auc": round(self.metrics.pr_auc, 4),
            "brier": round(self.metrics.brier, 4),
            "log_loss": round(self.metrics.log_loss, 4),
            "lift_top_decile": round(float(top["lift"]), 3),
            "cv_auc": [round(a, 4) for a in self.cv_auc],
            "n_train": self.n_train,
            "n_fit": self.n_fit,
            "n_holdout": self.n_holdout,
            "positives": self.positives,
            "trees": self.best_iteration + 1 if xgb else None,
            "calibration": t("Platt scaling on the validation fold") if xgb else
            t("the learner's own probabilities (sigmoid calibration for the SVM)"),
            "quality_gate": "passed" if self.gate_passed else "failed",
            "quality_gate_reasons": list(self.gate_reasons),
            "target": self.target,
            "positive_class": self.positive,
            "features": list(self.features),
        }


def score_ranks(scores: np.ndarray) -> pd.DataFrame:
    """Rank 1 = highest score; percentile 100 = top; decile 1 = top 10%. Ties broken by row order so
    the same scores always give the same ranks."""
    order = np.argsort(-scores, kind="stable")
    rank = np.empty(len(scores), dtype=np.int64)
    rank[order] = np.arange(1, len(scores) + 1)
    n = max(len(scores), 1)
    percentile = np.floor(100 * (1 - (rank - 1) / n)).clip(1, 100).astype(int)
    decile = np.ceil(rank / n * 10).clip(1, 10).astype(int)
    return pd.DataFrame({"rank": rank, "percentile": percentile, "decile": decile})


def _metrics(y: np.ndarray, p: np.ndarray) -> ModelMetrics:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return ModelMetrics(
        roc_auc=float(roc_auc_score(y, p)),
        pr_auc=float(average_precision_score(y, p)),
        brier=float(brier_score_loss(y, p)),
        log_loss=float(log_loss(y, p)),
    )


def lift_table(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """Response rate, lift and cumulative gain by score decile (1 = top 10%)."""
    ranks = score_ranks(p)
    df = pd.DataFrame({"decile": ranks["decile"].to_numpy(), "y": y, "p": p})
    g = df.groupby("decile").agg(customers=("y", "size"), responders=("y", "sum"), mean_score=("p", "mean"))
    g["response_rate"] = g["responders"] / g["customers"]
    base = y.mean() if len(y) else 0.0
    g["lift"] = g["response_rate"] / base if base > 0 else np.nan
    g["cumulative_gain"] = g["responders"].cumsum() / max(g["responders"].sum(), 1)
    g["cumulative_share"] = g["customers"].cumsum() / g["customers"].sum()
    return g.reset_index()


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    edges = np.quantile(p, np.linspace(0, 1, bins + 1))
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    df = pd.DataFrame({"bin": idx, "y": y, "p": p})
    return df.groupby("bin").agg(predicted=("p", "mean"), observed=("y", "mean"), customers=("y", "size")).reset_index()


def confusion_at(y: np.ndarray, p: np.ndarray, threshold: float) -> pd.DataFrame:
    tn, fp, fn, tp = confusion_matrix(y, (p >= threshold).astype(int), labels=[0, 1]).ravel()
    return pd.DataFrame(
        [[tp, fn], [fp, tn]],
        index=[t("Responded"), t("Did not respond")],
        columns=[t("Targeted (score ≥ threshold)"), t("Not targeted")],
    )


def choose_features(
    frame: pd.DataFrame,
    schema: Schema,
    target: str,
    y: pd.Series,
    features: list[str] | None = None,
    exclude: list[str] | tuple[str, ...] = (),
    allow: list[str] | tuple[str, ...] = (),
    leakage: list[dict] | None = None,
) -> tuple[list[str], list[dict], list[str]]:
    """Features after hygiene: roles, user exclusions, leakage. Returns (features, excluded, warnings).

    Every leakage suspect (a near-perfect single predictor, a necessary condition of the outcome, a
    column known only after it) is kept out unless the user allows it back in ``allow``.
    ``leakage``: the quality report's ``find_leakage`` result for this frame and target, when the caller
    already has it (it covers every feature-role column); only columns it did not cover are checked."""
    excluded = [e for e in schema.excluded() if e["column"] != target]
    warnings: list[str] = []
    if features is None:
        features = [c for c in schema.feature_columns() if c != target]
    else:
        missing = [c for c in features if c not in frame.columns]
        if missing:
            raise DataValidationError(t("Feature column(s) not in the data: {items}.", items=', '.join(missing)))
    for col in exclude:
        if col not in frame.columns:
            raise DataValidationError(
                t("The column to exclude, '{col}', is not in the file. Columns: {items}.", col=col, items=', '.join(map(str, frame.columns)))
            )
        if col in features:
            features = [f for f in features if f != col]
            excluded.append({"column": col, "reason": t("excluded by you")})
    for col in allow:
        if col not in frame.columns:
            raise DataValidationError(
                t("The column to allow back in, '{col}', is not in the file. Columns: {items}.", col=col, items=', '.join(map(str, frame.columns)))
            )
    features = [f for f in features if f != target]
    covered = set(schema.feature_columns()) if leakage is not None else set()
    unchecked = [f for f in features if f not in covered]
    suspects = [item for item in (leakage or []) if item["column"] in features]
    if unchecked:
        only = schema.__class__(roles={c: schema.roles.get(c, "numeric") for c in unchecked}, reasons={})
        suspects += find_leakage(frame, only, target, y)
    for item in suspects:
        col = item["column"]
        if col in allow:
            warnings.append(t("'{col}' was allowed back in by you although: {reason}", col=col, reason=item['reason']))
            continue
        features = [f for f in features if f != col]
        excluded.append({"column": col, "kind": item.get("kind", "leakage"),
                         "reason": t("leakage: {reason} Allow it back in only if it is known before the campaign.",
                                     reason=item["reason"])})
    if not features:
        raise DataValidationError(
            t("No usable feature columns remain after excluding identifiers, personal data, constants and leaks. "
            "Add behaviour or profile columns to the file.")
        )
    return features, excluded, warnings


# Fewer labelled rows of a class than this and a holdout cannot say anything honest about the model.
MIN_CLASS_ROWS = 20


def train_propensity(
    frame: pd.DataFrame,
    schema: Schema,
    target: str,
    positive: str | None = None,
    features: list[str] | None = None,
    exclude: list[str] | tuple[str, ...] = (),
    allow: list[str] | tuple[str, ...] = (),
    seed: int = 42,
    holdout: float = 0.2,
    cv_folds: int = COMPARE_FOLDS,
    progress: Progress | None = None,
    split: np.ndarray | None = None,
    validation: str = "stratified holdout",
    leakage: list[dict] | None = None,
    max_rows: int | None = TRAIN_MAX_ROWS,
    learners: str | tuple[str, ...] = "auto",
    time_limit: float = TIME_LIMIT_SECONDS,
) -> PropensityResult:
    """Train the model and the logistic baseline on the same split and score every row.

    Parameters
    ----------
    split
        Optional boolean array, True for rows to hold out (out-of-time validation passes the latest
        window here); by default a stratified random ``holdout`` share.
    leakage
        The quality report's leakage suspects for this frame and target, to avoid computing them twice.
    max_rows
        Train the trees on a stratified sample of this many rows when there are more (None/0: all).
    learners
        "auto", "all" or learner names (``lib.models.learners.LEARNERS``): compared on the same
        ``cv_folds`` folds, the simplest one tied with the best is kept (``lib.models.learners.compare``).
        Without cross-validation (``cv_folds`` < 2) XGBoost is kept when listed, else the first named.
    time_limit
        Seconds each learner may spend on the comparison's folds.
    """
    say = progress or (lambda msg: log.info(msg))
    t0 = time.perf_counter()
    y_all, positive_label = _labels(frame, target, positive)
    labelled = y_all.notna().to_numpy()
    y = y_all.to_numpy()[labelled].astype(int)
    positives = int(y.sum())
    feats, excluded, warnings = choose_features(frame, schema, target, y_all, features, exclude, allow, leakage)
    say(t("Preparing {n_feats} features for {n_frame:,} rows", n_feats=len(feats), n_frame=len(frame)))
    x_all = frame[feats]
    x = x_all[labelled]
    tr_idx, te_idx = _holdout_split(y, None if split is None else np.asarray(split)[labelled], holdout, seed)
    fit_idx, val_idx, sampled = _fit_rows(y, tr_idx, len(te_idx), seed, max_rows)
    warnings = [*warnings, sampled] if sampled else warnings
    spw = scale_pos_weight(y)
    names = resolve_learners(learners, len(tr_idx), len(feats))
    comparison = _compare(x, y, tr_idx, te_idx if split is not None else None, names, seed, spw, cv_folds,
                          time_limit, say)
    chosen = comparison.chosen if comparison is not None else ("xgboost" if "xgboost" in names else names[0])
    cv_auc = list(comparison.score_of(chosen).fold_auc) if comparison is not None else []
    if chosen == "xgboost":
        model, p_te, refit = _fit_xgboost(x, y, fit_idx, val_idx, te_idx, tuple(feats), seed, spw,
                                          len(fit_idx) < REFIT_MAX_FIT_ROWS, x_all, say)
    else:
        model, p_te = _fit_and_refit(chosen, x, y, tr_idx, te_idx, tuple(feats), seed, max_rows, x_all, say)
        refit = True
    margins = model.decision_function(x_all)
    scores = model.calibrate(margins)
    say(t("Training the logistic baseline"))
    baseline = _fit_baseline(model.column_specs, x, y, tr_idx, seed)
    y_te = y[te_idx]
    metrics = _metrics(y_te, p_te)
    base_metrics = _metrics(y_te, baseline.predict_proba(x.iloc[te_idx])[:, 1])
    return PropensityResult(
        model=model, baseline=baseline, target=target, positive=str(positive_label), features=tuple(feats),
        excluded_features=tuple(excluded), warnings=tuple(warnings), metrics=metrics,
        baseline_metrics=base_metrics, cv_auc=tuple(cv_auc), lift=lift_table(y_te, p_te),
        calibration=calibration_table(y_te, p_te), holdout_scores=p_te, holdout_labels=y_te,
        scores=scores, margins=margins, n_train=len(tr_idx), n_holdout=len(te_idx), positives=positives,
        validation=validation, train_seconds=time.perf_counter() - t0, seed=seed,
        gate_reasons=_quality_gate(metrics, base_metrics, positives), n_fit=len(fit_idx),
        comparison=comparison, refit=refit,
    )


def _compare(x: pd.DataFrame, y: np.ndarray, tr_idx: np.ndarray, later: np.ndarray | None, names: tuple[str, ...],
             seed: int, spw: float, cv_folds: int, time_limit: float, say: Progress) -> Comparison | None:
    """The learners compared on the same folds (out-of-time ones when ``later`` holds the later window's
    rows); None without cross-validation (``cv_folds`` < 2) or too few outcomes to fill the folds."""
    measured = tr_idx if later is None else later
    fewest = min(int(y[measured].sum()), int(len(measured) - y[measured].sum()), int(y[tr_idx].sum()))
    k = min(cv_folds or 0, fewest)
    if k < 2:
        return None
    say(t("Comparing {n} learners on the same {k} folds", n=len(names), k=k))
    folds, kind = comparison_folds(y, tr_idx, later, k, seed)
    return compare_learners(x, y, names, folds, seed=seed, spw=spw, time_limit=time_limit, useful_auc=MIN_AUC,
                            full_rows=len(tr_idx),
                            folds_kind=kind, progress=say)


def _fit_xgboost(x: pd.DataFrame, y: np.ndarray, fit_idx: np.ndarray, val_idx: np.ndarray, te_idx: np.ndarray,
                 feats: tuple[str, ...], seed: int, spw: float, refit: bool, x_all: pd.DataFrame,
                 say: Progress) -> tuple[PropensityModel, np.ndarray, bool]:
    """XGBoost fitted on the fit rows (early stopping and calibration on ``val_idx``) and measured on the
    holdout, then, when ``refit``, refitted on every labelled row with the trees early stopping found: the
    reported metrics are the first one's, the scores the second's (the model card says both).
    Returns (the model that scores, its holdout scores before the refit, whether it was refitted)."""
    say(t("Training XGBoost on {rows:,} rows (early stopping on {stop_rows:,})", rows=len(fit_idx), stop_rows=len(val_idx)))
    # Dates count back from the latest date of every row scored here, so scoring this file again
    # (``lib.flow.pipeline.prepare_new``) gives these same scores.
    model = PropensityModel(feats, seed, spw).fit(x.iloc[fit_idx], y[fit_idx],
                                                  eval_set=(x.iloc[val_idx], y[val_idx]), reference=x_all)
    p_te = model.predict_proba(x.iloc[te_idx])[:, 1]
    # No refit when the trees already learnt from many rows (the caller's ``refit``, REFIT_MAX_FIT_ROWS):
    # there more rows barely move the model and a refit would cost as much as the fit.
    if refit:
        say(t("Refitting XGBoost on every labelled row ({rows:,}, {trees} trees)", rows=len(y),
              trees=model.best_iteration_ + 1))
        model = model.refit(x, y, reference=x_all)
    return model, p_te, refit


def _fit_and_refit(name: str, x: pd.DataFrame, y: np.ndarray, tr_idx: np.ndarray, te_idx: np.ndarray,
                   feats: tuple[str, ...], seed: int, max_rows: int | None, x_all: pd.DataFrame,
                   say: Progress) -> tuple[LearnerModel, np.ndarray]:
    """A scikit-learn learner fitted on the training rows to measure it on the holdout, then refitted on
    every labelled row (a stratified sample of ``max_rows`` on big files) to score with: the reported
    metrics are the first one's, the scores the second's (the model card says both)."""
    say(t("Training {name} on {rows:,} rows", name=name, rows=len(tr_idx)))
    measured = LearnerModel(name, feats, seed).fit(x.iloc[tr_idx], y[tr_idx])
    p_te = measured.predict_proba(x.iloc[te_idx])[:, 1]
    rows = np.arange(len(y))
    if max_rows and len(rows) > max_rows:
        rows, _ = train_test_split(rows, train_size=max_rows, stratify=y, random_state=seed)
    say(t("Refitting {name} on every labelled row ({rows:,})", name=name, rows=len(rows)))
    # Dates count back from the latest date of every row scored here (as the XGBoost path does).
    model = LearnerModel(name, feats, seed).fit(x.iloc[rows], y[rows]).rebase_dates(x_all)
    return model, p_te


def _labels(frame: pd.DataFrame, target: str, positive: str | None) -> tuple[pd.Series, str]:
    """The target as 1/0/blank and the positive class's label, after checking that both classes have
    enough labelled rows for an honest holdout."""
    if target not in frame.columns:
        raise DataValidationError(
            t("Target column '{target}' is not in the file. Columns: {items}.", target=target, items=', '.join(map(str, frame.columns)))
        )
    y_all = binary_target(frame[target], positive, column=target)
    positive_label = positive if positive is not None else positive_label_of(frame[target], y_all)
    y = y_all.dropna().to_numpy()
    positives = int(y.sum())
    negatives = len(y) - positives
    if min(positives, negatives) < MIN_CLASS_ROWS:
        raise DataValidationError(
            t("Target '{target}' has {positives:,} positive ('{positive_label}') and {negatives:,} other labelled rows. Honest validation needs at least {each} of each (and {least}+ positives before the scores can be trusted): add more history, or choose a target with more outcomes.", target=target, positives=positives, positive_label=positive_label, negatives=negatives, each=MIN_CLASS_ROWS, least=MIN_POSITIVES)
        )
    return y_all, positive_label


def _holdout_split(y: np.ndarray, test_mask: np.ndarray | None, holdout: float,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training, holdout) positions of the labelled rows: the rows ``test_mask`` marks (out-of-time: the
    latest window, each part needing both outcomes), or a stratified random ``holdout`` share."""
    idx = np.arange(len(y))
    if test_mask is None:
        tr_idx, te_idx = train_test_split(idx, test_size=holdout, stratify=y, random_state=seed)
        return tr_idx, te_idx
    tr_idx, te_idx = idx[~test_mask], idx[test_mask]
    for part, rows in ((t("validation window"), te_idx), (t("training window"), tr_idx)):
        pos = int(y[rows].sum())
        if min(pos, len(rows) - pos) < 2:
            raise DataValidationError(
                t("The {part} has {pos} customers who bought again and {others} who did not; both are needed. Choose another cutoff or horizon.", part=part, pos=pos, others=len(rows) - pos)
            )
    return tr_idx, te_idx


def _fit_rows(y: np.ndarray, tr_idx: np.ndarray, n_holdout: int, seed: int,
              max_rows: int | None) -> tuple[np.ndarray, np.ndarray, str | None]:
    """(fit, early-stopping) positions within the training rows, and a note when the trees learn from a
    sample of them (``max_rows``)."""
    # Early stopping needs a validation fold that is large enough to be stable, not one of 100k+
    # rows re-scored after every tree.
    val_size = min(0.15, VALIDATION_MAX_ROWS / len(tr_idx))
    fit_idx, val_idx = train_test_split(tr_idx, test_size=val_size, stratify=y[tr_idx], random_state=seed)
    if not (max_rows and len(fit_idx) > max_rows):
        return fit_idx, val_idx, None
    note = t("The trees learnt from a stratified sample of {rows:,} of the {total:,} training rows (same share of "
             "positives): beyond a few hundred thousand rows more rows barely change the model but multiply the "
             "training time. The {holdout:,} holdout rows were all used to measure it.",
             rows=max_rows, total=len(fit_idx), holdout=n_holdout)
    fit_idx, _ = train_test_split(fit_idx, train_size=max_rows, stratify=y[fit_idx], random_state=seed)
    return fit_idx, val_idx, note


def _fit_baseline(specs: tuple[ColumnSpec, ...], x: pd.DataFrame, y: np.ndarray, tr_idx: np.ndarray,
                  seed: int) -> Pipeline:
    """The logistic baseline, fitted on the training rows (a stratified sample of them on big files)."""
    base_idx = tr_idx
    if len(tr_idx) > BASELINE_MAX_ROWS:  # a linear model has learnt all it can long before this
        base_idx, _ = train_test_split(tr_idx, train_size=BASELINE_MAX_ROWS, stratify=y[tr_idx], random_state=seed)
    return logistic_baseline(specs).fit(x.iloc[base_idx], y[base_idx])


def _quality_gate(metrics: ModelMetrics, baseline: ModelMetrics, positives: int) -> tuple[str, ...]:
    """Why the model should not be trusted (empty: it passes): a holdout AUC near random, too few
    positives, or no better than the logistic baseline."""
    gate = []
    if metrics.roc_auc < MIN_AUC:
        gate.append(t("Holdout AUC is {roc_auc:.2f}, below {least}: the model barely beats random ordering.", roc_auc=metrics.roc_auc, least=MIN_AUC))
    if positives < MIN_POSITIVES:
        gate.append(t("Only {positives} positive outcomes; at least {least} are needed to trust a model.", positives=positives, least=MIN_POSITIVES))
    if metrics.roc_auc <= baseline.roc_auc:
        gate.append(
            t("The model (AUC {roc_auc:.3f}) is not better than the simple baseline (AUC {baseline_auc:.3f}).", roc_auc=metrics.roc_auc, baseline_auc=baseline.roc_auc)
        )
    return tuple(gate)


def scale_pos_weight(y: np.ndarray) -> float:
    """XGBoost's weight of the positive class. Rare positives are up-weighted by the square root of the
    imbalance, which keeps probabilities sane before calibration (on the validation fold), which restores
    them exactly; the uplift learners use the same rule."""
    rate = float(np.mean(y)) if len(y) else 0.0
    return float(np.sqrt((1 - rate) / rate)) if 0 < rate < 0.2 else 1.0


def logistic_baseline(specs: tuple[ColumnSpec, ...]) -> Pipeline:
    """The simple model every propensity model must beat: the same encoding, median-imputed and
    standardised numbers, and a class-balanced logistic regression."""
    return Pipeline([
        ("frame", FrameEncoder(tuple(s.name for s in specs))),
        ("encode", scaled_encoder(specs)),
        ("model", LogisticRegression(max_iter=1000, class_weight="balanced")),
    ])


def positive_label_of(s: pd.Series, y: pd.Series) -> str:
    """The positive class as the target column spells it (its first positive value), for reports."""
    vals = s[y == 1].dropna()
    return str(vals.iloc[0]) if len(vals) else "1"


# --- money ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfitPlan:
    curve: pd.DataFrame  # contacted, expected_responders, cost, revenue, profit, min_score
    best_contacts: int
    best_profit: float
    best_threshold: float
    break_even_score: float
    capped_by: str | None  # "budget" / "capacity" when the best is limited by them


def profit_curve(
    scores: np.ndarray,
    cost_per_contact: float,
    value_per_conversion: float,
    budget: float | None = None,
    capacity: int | None = None,
) -> ProfitPlan:
    """Expected profit of contacting the top n customers, for every n. Pure numpy: instant at 1M rows.

    A customer is worth contacting while score × value > cost, so the break-even score is cost / value.
    """
    if cost_per_contact < 0 or value_per_conversion <= 0:
        raise DataValidationError(t("Cost per contact must be ≥ 0 and value per conversion > 0."))
    s = np.asarray(scores, dtype="float64")
    if not np.all(s[:-1] >= s[1:]):  # callers may pass scores already sorted best first
        s = np.sort(s)[::-1]
    n = np.arange(1, len(s) + 1)
    responders = np.cumsum(s)
    cost = n * cost_per_contact
    revenue = responders * value_per_conversion
    profit = revenue - cost
    limit = len(s)
    capped_by = None
    if budget is not None and cost_per_contact > 0:
        limit = min(limit, int(budget // cost_per_contact))
        capped_by = "budget"
    if capacity is not None and capacity < limit:
        limit = int(capacity)
        capped_by = "capacity"
    limit = max(limit, 0)
    if limit == 0:
        best = 0
    else:
        best = int(np.argmax(profit[:limit])) + 1
        if profit[best - 1] <= 0:
            best = 0
    if capped_by and limit >= len(s) or (capped_by and best < limit):
        capped_by = None
    # Thin the curve for charts: ≤ 500 points, always including the best.
    step = max(1, len(s) // 500)
    keep = np.unique(np.r_[np.arange(0, len(s), step), len(s) - 1, max(best - 1, 0)])
    curve = pd.DataFrame({
        "contacted": n[keep], "expected_responders": responders[keep], "cost": cost[keep],
        "revenue": revenue[keep], "profit": profit[keep], "min_score": s[keep],
    })
    return ProfitPlan(
        curve=curve,
        best_contacts=best,
        best_profit=float(profit[best - 1]) if best else 0.0,
        best_threshold=float(s[best - 1]) if best else 1.0,
        break_even_score=float(cost_per_contact / value_per_conversion),
        capped_by=capped_by,
    )
