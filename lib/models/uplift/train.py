"""Training an uplift model: the steps of a run, in order.

Labelled customers of both arms are split 70/30, stratified by arm x outcome. The learners are fitted on
the 70% (a validation fold inside it, stratified the same way, stops the boosting early and calibrates
each learner) and compared by the normalised Qini coefficient on the 30% holdout; the best one is kept
and tested against random on that holdout (``significance``). Then it is refitted on every labelled
customer (each model with the trees its early stopping found) and scores every customer: the reported
Qini, AUUC and test are those of the validation run, the scores come from the refit (the report says both).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from lib.data.schema import Schema, binary_target
from lib.errors import DataValidationError
from lib.models.propensity import Progress, positive_label_of, score_ranks
from lib.models.uplift.arms import Arms, check_arm_counts, find_arms
from lib.models.uplift.features import uplift_features
from lib.models.uplift.learners import LEARNERS, fit_learner, refit_learner, score_uplift
from lib.models.uplift.metrics import auuc_score, ordering, qini_curve_table, qini_score
from lib.models.uplift.randomisation import balance_table, randomisation_warning
from lib.models.uplift.result import UpliftResult, uplift_deciles, verdict_text
from lib.models.uplift.significance import check_ranking
from lib.text.i18n import t

log = logging.getLogger(__name__)

HOLDOUT = 0.3  # the share of labelled customers kept out of training to judge the learners
VALIDATION_MAX_ROWS = 50_000  # early stopping / calibration fold, as for the propensity model


@dataclass(frozen=True)
class UpliftSettings:
    """What to learn the uplift of.

    ``treatment``: the column saying who got the campaign; ``treated_value``: its value for them
    (default: guessed, e.g. yes/1/true/sent/email against control/no/0/none); ``control_value``: the
    control group's value when the column has more arms than two; ``learner``: "auto" (the best on the
    holdout), "t" (two models), "s" (one model with the arm as input), "x" (the x-learner) or "dr" (the
    doubly robust learner); ``refit``: refit the chosen learner on every labelled customer to score."""

    treatment: str
    treated_value: str | None = None
    learner: str = "auto"
    seed: int = 42
    features: tuple[str, ...] | None = None
    allow: tuple[str, ...] = ()
    control_value: str | None = None
    refit: bool = True


@dataclass(frozen=True)
class _Split:
    """The labelled customers of both arms and what each is used for. ``labelled``: their rows in the
    input; ``y``, ``arm``: their outcome and arm (1 = treated); ``fit``, ``val``, ``test``: positions in
    ``labelled`` the learners are fitted on, stopped early and calibrated on, and judged on (the holdout)."""

    labelled: np.ndarray
    y: np.ndarray
    arm: np.ndarray
    fit: np.ndarray
    val: np.ndarray
    test: np.ndarray


@dataclass(frozen=True)
class _Trial:
    """One learner, fitted and judged on the holdout."""

    learners: dict
    holdout: pd.DataFrame  # its uplift, p_treated, p_control on the holdout
    order: tuple  # ``ordering`` of its holdout uplift
    stats: dict  # qini, auuc, trees, seconds: the report's per_learner entry


@dataclass(frozen=True)
class _Effect:
    """The campaign's average effect on every labelled customer: difference in means, normal interval."""

    response_treated: float
    response_control: float
    ate: float
    ate_ci: tuple[float, float]
    n_treated: int
    n_control: int


def train_uplift(
    frame: pd.DataFrame,
    schema: Schema,
    target: str,
    positive: str | None,
    settings: UpliftSettings,
    progress: Progress | None = None,
    leakage: list[dict] | None = None,
) -> UpliftResult:
    """Learn the uplift of the campaign in ``settings.treatment`` on ``target`` and score every row.

    Rows with a blank outcome, a blank treatment or another arm are scored but not trained on.
    ``leakage``: the quality report's leakage suspects for this frame and target, when known.
    """
    say = progress or (lambda msg: log.info(msg))
    t0 = time.perf_counter()
    col = settings.treatment
    wanted = _check_request(frame, target, settings)
    arms = find_arms(frame[col], col, settings.treated_value, settings.control_value)
    y_all = binary_target(frame[target], positive, column=target)
    positive_label = positive if positive is not None else positive_label_of(frame[target], y_all)
    has_y = y_all.notna().to_numpy()
    check_arm_counts(y_all.to_numpy(), arms.treated & has_y, arms.control & has_y, col, target,
                     arms.treated_value, arms.control_value)
    feats, excluded, warnings = uplift_features(frame, schema, target, y_all, col, arms, settings.features,
                                                settings.allow, leakage)

    say(t("Checking that '{col}' was assigned at random", col=col))
    balance = balance_table(frame, feats, arms.treated, arms.control)
    note = randomisation_warning(balance)
    if note:
        warnings.append(note)
    if arms.other:
        warnings.append(t("{other:,} rows of '{col}' are neither '{treated_value}' nor '{control_value}': they are scored but not trained on.", other=arms.other, col=col, treated_value=arms.treated_value, control_value=arms.control_value))

    split = _split(y_all, has_y, arms, settings.seed)
    x_all = frame[feats]
    x = x_all.iloc[split.labelled]
    methods = list(LEARNERS.values()) if wanted == "auto" else [LEARNERS[wanted]]
    trials: dict[str, _Trial] = {}
    for m in methods:  # the x- and dr-learner start from the t-learner's outcome models when it was fitted
        start = trials["t-learner"].learners if "t-learner" in trials else None
        trials[m] = _try_learner(m, x, x_all, split, tuple(feats), settings.seed, say, start)
    # The best Qini wins; a tie goes to the simpler learner (listed first).
    method = max(methods, key=lambda m: trials[m].stats["qini"])
    chosen = trials[method]
    qini = chosen.stats["qini"]

    say(t("Testing the uplift ranking against random (permutation test)"))
    y_te, t_te = split.y[split.test], split.arm[split.test]
    u_te = chosen.holdout["uplift"].to_numpy()
    check = check_ranking(y_te, t_te, [trials[m].order for m in methods], methods.index(method), qini,
                          chosen.holdout["p_treated"].to_numpy(), settings.seed)

    learners = chosen.learners
    if settings.refit:
        say(t("Refitting the {method} on every labelled customer ({rows:,})", method=method, rows=len(split.y)))
        learners = refit_learner(method, learners, x, split.y, split.arm, x_all)
    say(t("Scoring every customer"))
    table = _score_everyone(method, learners, x_all)
    effect = _average_effect(y_all.to_numpy(), arms, has_y)
    deciles = uplift_deciles(y_te, t_te, u_te)
    holdout = np.zeros(len(frame), dtype=bool)
    holdout[split.labelled[split.test]] = True
    verdict = verdict_text(check.beats_random, check.beats_propensity, qini, check.qini_ci, check.p_value,
                           check.propensity_qini, effect.ate, effect.ate_ci, deciles, note is not None)
    return UpliftResult(
        table=table, method=method, qini=qini, auuc=chosen.stats["auuc"], qini_ci=check.qini_ci,
        p_value=check.p_value, propensity_qini=check.propensity_qini, beats_random=check.beats_random,
        beats_propensity=check.beats_propensity, ate=effect.ate, ate_ci=effect.ate_ci,
        response_treated=effect.response_treated, response_control=effect.response_control,
        n_treated=effect.n_treated, n_control=effect.n_control, n_holdout=len(split.test), verdict=verdict,
        uplift_by_decile=deciles, qini_curve=qini_curve_table(y_te, t_te, u_te), balance=balance,
        randomised=note is None, warnings=tuple(warnings), excluded_features=tuple(excluded),
        features=tuple(feats), learners=learners, per_learner={m: trials[m].stats for m in methods},
        target=target, positive=str(positive_label), treatment=col, treated_value=arms.treated_value,
        control_value=arms.control_value, holdout=holdout, train_seconds=time.perf_counter() - t0,
        seed=settings.seed, test=check.test, refit=settings.refit,
    )


def _check_request(frame: pd.DataFrame, target: str, settings: UpliftSettings) -> str:
    """The learner asked for ("auto", "t" or "s"), after checking the columns and the learner exist."""
    col = settings.treatment
    for name, what in ((col, t("Treatment")), (target, t("Target"))):
        if name not in frame.columns:
            raise DataValidationError(
                t("{what} column '{name}' is not in the file. Columns: {items}.", what=what, name=name, items=', '.join(map(str, frame.columns))))
    if col == target:
        raise DataValidationError(t("'{col}' cannot be both the treatment and the outcome: choose the column that records the response as the target.", col=col))
    wanted = settings.learner.strip().lower()
    if wanted not in ("auto", *LEARNERS):
        raise DataValidationError(t("Unknown uplift learner '{learner}': use auto, t (two models), s (one model with the arm as input), x (the x-learner) or dr (the doubly robust learner).", learner=settings.learner))
    return wanted


def _split(y_all: pd.Series, has_y: np.ndarray, arms: Arms, seed: int) -> _Split:
    """Labelled customers of both arms, 70/30 stratified by arm x outcome; inside the 70%, a validation fold
    (stratified the same way) stops the boosting early and calibrates each learner."""
    labelled = np.flatnonzero(has_y & (arms.treated | arms.control))
    y = y_all.to_numpy()[labelled].astype(int)
    arm = arms.treated[labelled].astype(int)
    strata = 2 * arm + y
    idx = np.arange(len(labelled))
    tr, te = train_test_split(idx, test_size=HOLDOUT, stratify=strata, random_state=seed)
    val_size = min(0.15, VALIDATION_MAX_ROWS / len(tr))
    fit_idx, val_idx = train_test_split(tr, test_size=val_size, stratify=strata[tr], random_state=seed)
    return _Split(labelled=labelled, y=y, arm=arm, fit=fit_idx, val=val_idx, test=te)


def _try_learner(method: str, x: pd.DataFrame, x_all: pd.DataFrame, split: _Split, feats: tuple[str, ...],
                 seed: int, say: Progress, outcome: dict | None = None) -> _Trial:
    """Fit ``method`` on the split's labelled rows ``x`` and judge it by Qini and AUUC on the holdout.
    ``outcome``: the t-learner's fitted models (the x- and dr-learner start from them)."""
    say(t("Training the {method} on {rows:,} customers (early stopping on {stop_rows:,})", method=method, rows=len(split.fit), stop_rows=len(split.val)))
    t1 = time.perf_counter()
    y, arm, te = split.y, split.arm, split.test
    learners = fit_learner(method, x, y, arm, split.fit, split.val, feats, seed, x_all, outcome)
    scores = score_uplift(method, learners, x.iloc[te])
    u = scores["uplift"].to_numpy()
    order = ordering(u)
    stats = {
        "qini": qini_score(y[te], u, arm[te], order=order), "auuc": auuc_score(y[te], u, arm[te]),
        "trees": sum(m.best_iteration_ + 1 for m in learners.values()),
        "seconds": round(time.perf_counter() - t1, 2),
    }
    return _Trial(learners=learners, holdout=scores, order=order, stats=stats)


def _score_everyone(method: str, learners: dict, x_all: pd.DataFrame) -> pd.DataFrame:
    """Every row's uplift, p_treated and p_control, and its uplift rank, percentile and decile."""
    table = score_uplift(method, learners, x_all)
    ranks = score_ranks(table["uplift"].to_numpy())
    table["uplift_rank"] = ranks["rank"].to_numpy()
    table["uplift_percentile"] = ranks["percentile"].to_numpy()
    table["uplift_decile"] = ranks["decile"].to_numpy()
    return table


def _average_effect(y_lab: np.ndarray, arms: Arms, has_y: np.ndarray) -> _Effect:
    """The response rate of each arm's labelled customers and their difference, with a 95% interval."""
    yt, yc = y_lab[arms.treated & has_y], y_lab[arms.control & has_y]
    rt, rc = float(yt.mean()), float(yc.mean())
    ate = rt - rc
    se = float(np.sqrt(rt * (1 - rt) / len(yt) + rc * (1 - rc) / len(yc)))
    return _Effect(response_treated=rt, response_control=rc, ate=ate, ate_ci=(ate - 1.96 * se, ate + 1.96 * se),
                   n_treated=len(yt), n_control=len(yc))
