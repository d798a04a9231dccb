"""Compare learners honestly: the same folds for all, the encoding fitted inside every fold, a time
budget per learner, and a win only when it is more than noise.

Folds: k stratified folds of (a sample of) the training rows; with a time split (out-of-time
validation) every learner learns from the training window once and is measured on k parts of the
later window, so the comparison is out-of-time too. Per learner: AUC mean ± sd over the folds, and PR
AUC, Brier score and top-decile lift of the pooled out-of-fold scores.

"Tied with the best": Nadeau and Bengio's corrected resampled t-test on the per-fold AUC differences
(variance inflated by 1/k + n_test/n_train, because the folds' training rows overlap), two-sided at 5%.
A 0.001 edge is a tie, and a tie goes to the simpler learner (``catalogue.LEARNERS`` order).
``COMPARE_FOLDS`` = 3, the fold count ``run`` always used, so `auto` costs what it did (the XGBoost
fold fits are the old cross-validation's). With 2 degrees of freedom the test is conservative: on the
shop sample's training rows XGBoost's 0.04 AUC edge over logistic is significant (p = 0.014), but
with other folds a gap that size was once called a tie (then the simpler model is kept: never an
oversold win, sometimes a little accuracy left for `--learners xgboost` to take).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from lib.errors import DataValidationError
from lib.models.learners.catalogue import AUTO_ALWAYS, AUTO_SMALL_CELLS, LEARNERS, make_learner
from lib.text.i18n import t

log = logging.getLogger(__name__)

# A learner still fitting folds after this many seconds stops and is shown with the folds it reached
# (a fold already started runs to its end: scikit-learn cannot be interrupted safely).
TIME_LIMIT_SECONDS = 120.0
# The comparison learns from a stratified sample of at most this many training rows: enough to rank
# learners (fold AUCs on 10k rows have sd ~0.007; a learner whose edge is smaller is tied, and on a
# sample a tie goes to the best, see SAMPLE_FACTOR) while keeping `auto` cheap at any size: 20k rows cost
# 3.6 s of a 100k run's 10 s of training, 10k rows 1.7 s (issue 28).
COMPARE_MAX_ROWS = 10_000
TIE_ALPHA = 0.05
# When the chosen learner will learn from this many times more rows than the comparison's sample, a tie
# goes to the most flexible tied learner (the last in ``LEARNERS``), not the simplest: learning curves
# differ (trees keep gaining with rows while a linear model has levelled off), so a tie on the sample
# says nothing about the full file, and the flexible one is what more rows favour. Measured on
# bench/generate_wide.py's 1M table: on a 10k-row sample logistic 0.6659 and XGBoost 0.6653 (tied);
# the logistic kept reached a holdout AUC of 0.687, XGBoost on its 300k-row sample 0.71 (Bayes-optimal
# 0.712). "The best on the sample" is no better a rule: there it was the logistic, by 0.0006.
SAMPLE_FACTOR = 2
COMPARE_FOLDS = 3
OK, STOPPED = "ok", "stopped at the time limit"


@dataclass(frozen=True)
class LearnerScore:
    """How one learner did on the comparison's folds (NaN where it reached no fold)."""

    name: str
    fold_auc: tuple[float, ...]
    pr_auc: float
    brier: float
    lift_top_decile: float
    seconds: float
    status: str  # "ok", "stopped at the time limit" or "failed: <reason>"
    tied_with_best: bool = False

    @property
    def cv_auc_mean(self) -> float:
        return float(np.mean(self.fold_auc)) if self.fold_auc else math.nan

    @property
    def cv_auc_sd(self) -> float:
        return float(np.std(self.fold_auc, ddof=1)) if len(self.fold_auc) > 1 else math.nan

    def to_report(self) -> dict:
        def num(v: float, digits: int = 4):
            return None if v is None or not math.isfinite(v) else round(float(v), digits)

        return {"name": self.name, "cv_auc_mean": num(self.cv_auc_mean), "cv_auc_sd": num(self.cv_auc_sd),
                "pr_auc": num(self.pr_auc), "brier": num(self.brier), "lift_top_decile": num(self.lift_top_decile, 3),
                "seconds": round(self.seconds, 2), "status": self.status, "tied_with_best": bool(self.tied_with_best)}


@dataclass(frozen=True)
class Comparison:
    scores: tuple[LearnerScore, ...]
    chosen: str
    verdict: str  # why the chosen one, in words
    folds: str  # "stratified k-fold" or "out-of-time"
    rows: int  # training rows the comparison learnt from (a sample on big files)
    useful: bool  # the chosen learner's AUC clears the bar of a useful model

    def score_of(self, name: str) -> LearnerScore:
        return next(s for s in self.scores if s.name == name)

    def to_report(self) -> list[dict]:
        return [s.to_report() for s in self.scores]


def resolve_learners(spec: str | Sequence[str] | None, rows: int, columns: int) -> tuple[str, ...]:
    """``auto`` (XGBoost and logistic, plus the rest on a small file), ``all``, or names ("mlp,svm")."""
    if spec is None or spec == "auto":
        small = min(rows, COMPARE_MAX_ROWS) * max(columns, 1) <= AUTO_SMALL_CELLS
        return LEARNERS if small else tuple(n for n in LEARNERS if n in AUTO_ALWAYS)
    if spec == "all":
        return LEARNERS
    names = [n.strip().lower() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
    unknown = [n for n in names if n not in LEARNERS]
    if unknown or not names:
        raise DataValidationError(t("Unknown learner(s) {items}: use auto, all, or some of {known}.",
                                    items=", ".join(unknown) or "''", known=", ".join(LEARNERS)))
    return tuple(n for n in LEARNERS if n in names)


def comparison_folds(y: np.ndarray, tr_idx: np.ndarray, te_idx: np.ndarray | None, k: int,
                     seed: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """(learn, measure) position pairs, the same for every learner, and what kind of folds they are.

    ``te_idx``: the later window's rows when the data has a time axis (then every fold learns from the
    training window and is measured on one of k parts of the later window)."""
    learn = tr_idx
    if len(learn) > COMPARE_MAX_ROWS:
        learn, _ = train_test_split(learn, train_size=COMPARE_MAX_ROWS, stratify=y[learn], random_state=seed)
    if te_idx is not None:
        parts = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(te_idx, y[te_idx])
        return [(learn, te_idx[b]) for _, b in parts], "out-of-time"
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(learn[a], learn[b]) for a, b in skf.split(learn, y[learn])], "stratified k-fold"


def compare_learners(x: pd.DataFrame, y: np.ndarray, names: Sequence[str], folds: list, seed: int = 42,
                     spw: float = 1.0, time_limit: float = TIME_LIMIT_SECONDS, useful_auc: float = 0.6,
                     folds_kind: str = "stratified k-fold", factory: Callable = make_learner,
                     progress: Callable[[str], None] | None = None, full_rows: int | None = None) -> Comparison:
    """Fit every learner in ``names`` on the same ``folds`` and choose one (``choose``).

    ``factory(name, features, seed, spw)`` builds an unfitted learner (tests pass a failing one).
    ``full_rows``: the training rows the chosen learner will learn from; when the folds were drawn from
    a much smaller sample (``SAMPLE_FACTOR``), a tie goes to the best learner (see there)."""
    feats = tuple(x.columns)
    scores = []
    for name in names:
        if progress:
            progress(t("Comparing learners: {name}", name=name))
        scores.append(_score_learner(name, x, y, folds, seed, spw, time_limit, feats, factory))
    scores = _mark_ties(scores, folds)
    n_learn = len(np.unique(np.concatenate([a for a, _ in folds])))
    sampled = full_rows is not None and full_rows >= SAMPLE_FACTOR * n_learn
    chosen, verdict, useful = choose(scores, useful_auc, simplest_on_tie=not sampled)
    return Comparison(tuple(scores), chosen, verdict, folds_kind, n_learn, useful)


def _score_learner(name: str, x: pd.DataFrame, y: np.ndarray, folds: list, seed: int, spw: float,
                   time_limit: float, feats: tuple[str, ...], factory: Callable) -> LearnerScore:
    t0 = time.perf_counter()
    aucs, pooled_y, pooled_p, status = [], [], [], OK
    fitted = None
    try:
        for k, (a, b) in enumerate(folds):
            if k and time.perf_counter() - t0 > time_limit:
                status = STOPPED
                break
            if fitted is None or a is not folds[0][0]:  # out-of-time folds share one training window
                fitted = factory(name, feats, seed + k, spw).fit(x.iloc[a], y[a])
            p = _probabilities(fitted, x.iloc[b])
            aucs.append(float(roc_auc_score(y[b], p)))
            pooled_y.append(y[b])
            pooled_p.append(p)
    except Exception as exc:  # a learner that fails is shown failing, with its reason, never as 0
        log.warning("learner %s failed: %s", name, exc)
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return LearnerScore(name, (), math.nan, math.nan, math.nan, time.perf_counter() - t0, f"failed: {reason}")
    yy, pp = np.concatenate(pooled_y), np.concatenate(pooled_p)
    return LearnerScore(name, tuple(aucs), float(average_precision_score(yy, pp)), float(brier_score_loss(yy, pp)),
                        top_decile_lift(yy, pp), time.perf_counter() - t0, status)


def _probabilities(model, x: pd.DataFrame) -> np.ndarray:
    """The positive class's probability; a learner without one is scored by its decision function squashed
    to (0, 1), so its AUC is real (its Brier score then says it is uncalibrated)."""
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(x))[:, 1].astype("float64")
    return 1 / (1 + np.exp(-np.asarray(model.decision_function(x), dtype="float64")))


def top_decile_lift(y: np.ndarray, p: np.ndarray) -> float:
    """Positive rate among the top 10% of scores over the overall rate (ties broken by row order)."""
    rate = float(np.mean(y)) if len(y) else 0.0
    if rate == 0:
        return math.nan
    top = np.argsort(-p, kind="stable")[: max(1, len(p) // 10)]
    return float(np.mean(y[top]) / rate)


def corrected_t_test(a: Sequence[float], b: Sequence[float], test_ratio: float) -> float:
    """Two-sided p-value of Nadeau & Bengio's corrected resampled t-test for paired fold scores."""
    d = np.asarray(a, dtype="float64") - np.asarray(b, dtype="float64")
    k = len(d)
    if k < 2:
        return math.nan
    var = float(np.var(d, ddof=1))
    if var == 0:
        return 1.0 if d.mean() == 0 else 0.0
    t_stat = d.mean() / math.sqrt((1 / k + test_ratio) * var)
    return float(2 * stats.t.sf(abs(t_stat), df=k - 1))


def _mark_ties(scores: list[LearnerScore], folds: list) -> list[LearnerScore]:
    done = [s for s in scores if s.fold_auc]
    if not done:
        return scores
    best = max(done, key=lambda s: s.cv_auc_mean)
    ratio = float(np.mean([len(b) / max(len(a), 1) for a, b in folds]))
    out = []
    for s in scores:
        tied = s is best
        if not tied and len(s.fold_auc) == len(best.fold_auc) and s.fold_auc:
            tied = corrected_t_test(best.fold_auc, s.fold_auc, ratio) >= TIE_ALPHA
        out.append(LearnerScore(s.name, s.fold_auc, s.pr_auc, s.brier, s.lift_top_decile, s.seconds, s.status, tied))
    return out


def choose(scores: Sequence[LearnerScore], useful_auc: float = 0.6,
           simplest_on_tie: bool = True) -> tuple[str, str, bool]:
    """(chosen learner, why in words, whether it is useful): the simplest learner tied with the best, or
    the most flexible one when ``simplest_on_tie`` is False (the comparison saw only a sample of a big
    file, see SAMPLE_FACTOR)."""
    done = [s for s in scores if s.fold_auc]
    if not done:
        raise DataValidationError(t("Every learner failed: {items}.",
                                    items="; ".join(f"{s.name}: {s.status}" for s in scores)))
    best = max(done, key=lambda s: s.cv_auc_mean)
    tied = [s for s in done if s.tied_with_best]
    def simplicity(s: LearnerScore) -> int:
        return LEARNERS.index(s.name) if s.name in LEARNERS else len(LEARNERS)

    chosen = min(tied or [best], key=simplicity)
    flexible = max(tied or [best], key=simplicity)
    if not simplest_on_tie and flexible is not chosen:
        return flexible.name, t("{name} chosen: its validation AUC {auc:.3f} is within noise of the best ({best_auc:.3f}) "
                                "on the comparison's sample, and the model learns from many more rows, where a "
                                "flexible learner keeps gaining and a simpler one has levelled off.",
                                name=flexible.name, auc=flexible.cv_auc_mean,
                                best_auc=best.cv_auc_mean), best.cv_auc_mean >= useful_auc
    if best.cv_auc_mean < useful_auc:
        return chosen.name, t("No learner is useful: the best validation AUC is {auc:.3f} ({name}), close to the 0.5 "
                              "of random ordering (a useful model needs {least} or more). The scores do not rank "
                              "customers better than chance.", auc=best.cv_auc_mean, name=best.name,
                              least=useful_auc), False
    if len(done) == 1:
        return chosen.name, t("{name}: the only learner compared (validation AUC {auc:.3f}).",
                              name=chosen.name, auc=chosen.cv_auc_mean), True
    if chosen is best:
        others = [s for s in done if s is not best]
        return chosen.name, t("{name} chosen: the best validation AUC, {auc:.3f}, and {beaten} of the {n} other "
                              "learners are worse by more than noise (corrected resampled t-test).",
                              name=chosen.name, auc=best.cv_auc_mean, beaten=sum(not s.tied_with_best for s in others),
                              n=len(others)), True
    return chosen.name, t("{name} chosen: its validation AUC {auc:.3f} is within noise of the best, {best} at "
                          "{best_auc:.3f} (corrected resampled t-test), and it is the simpler model.",
                          name=chosen.name, auc=chosen.cv_auc_mean, best=best.name, best_auc=best.cv_auc_mean), True


def status_words(status: str) -> str:
    """A learner's status ("ok", "stopped at the time limit", "failed: <reason>") in the current language."""
    if status.startswith("failed: "):
        return t("failed: {reason}", reason=status.removeprefix("failed: "))
    return t("stopped at the time limit") if status == STOPPED else t("ok")


def comparison_table(c: Comparison) -> pd.DataFrame:
    """The comparison as a person reads it (the Propensity page): one row per learner, the chosen one
    marked, blanks (never 0) where a learner reached no fold."""
    def fmt(v: float, spec: str) -> str:
        return "" if not math.isfinite(v) else format(v, spec)

    rows = []
    for s in c.scores:
        rows.append({
            t("Learner"): s.name + (" ✓" if s.name == c.chosen else ""),
            t("AUC (mean ± sd over folds)"): "" if not s.fold_auc else
            f"{s.cv_auc_mean:.3f} ± {fmt(s.cv_auc_sd, '.3f') or '–'}",
            t("PR AUC"): fmt(s.pr_auc, ".3f"),
            t("Brier score"): fmt(s.brier, ".3f"),
            t("Top-decile lift"): fmt(s.lift_top_decile, ".2f"),
            t("Seconds"): f"{s.seconds:.1f}",
            t("Tied with the best"): t("yes") if s.tied_with_best else t("no"),
            t("Status"): status_words(s.status),
        })
    return pd.DataFrame(rows)
