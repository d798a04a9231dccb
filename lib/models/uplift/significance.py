"""Is the uplift ranking real or noise? Decided on the holdout by a permutation test: the treatment
labels are shuffled 499 times and the best learner's Qini is compared with the best Qini the learners
reach on shuffled labels (taking the maximum over learners in each shuffle accounts for picking the best
learner on the same holdout). Only p < 1% counts as "beats random": on a weak signal (a rare outcome, a
tiny effect) the honest answer is that the data cannot tell who responds. A bootstrap gives the Qini's
interval and says whether uplift also beats ranking by propensity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lib.models.uplift.metrics import ordering, qini_score
from lib.text.i18n import t

PERMUTATIONS = 499
BOOTSTRAPS = 300
ALPHA = 0.01  # one-sided level of the permutation test: the claim "uplift beats random" must be solid


@dataclass(frozen=True)
class RankingCheck:
    """How the chosen learner's uplift ranking compares with random and with ranking by propensity."""

    p_value: float  # permutation test of the treatment labels (max over the learners tried)
    propensity_qini: float  # the Qini of ranking by p_treated (what a propensity model would do)
    qini_ci: tuple[float, float]  # bootstrap 95% interval of the chosen learner's Qini
    beats_random: bool
    beats_propensity: bool
    test: str  # how "beats random" was decided, in words


def check_ranking(y: np.ndarray, treated: np.ndarray, orderings: list, chosen: int, qini: float,
                  p_treated: np.ndarray, seed: int) -> RankingCheck:
    """The holdout's outcomes ``y`` and arms ``treated`` (1/0); ``orderings``: each learner tried, its
    holdout uplift's ``ordering``; ``chosen``: the index of the learner kept, whose Qini is ``qini`` and
    whose probability if sent is ``p_treated``."""
    p_value = permutation_p(y, treated, orderings, qini, seed)
    propensity_order = ordering(p_treated)
    propensity_qini = qini_score(y, None, treated, order=propensity_order)
    qini_ci, gain_ci = bootstrap_intervals(y, treated, orderings[chosen], propensity_order, seed)
    beats_random = bool(p_value < ALPHA and qini > 0)
    beats_propensity = bool(beats_random and gain_ci[0] > 0)
    test = (t("permutation test: the holdout's treatment labels shuffled {times} times, best Qini of the {n_methods} learner(s) each time; beats random when p < {alpha:g}", times=PERMUTATIONS, n_methods=len(orderings), alpha=ALPHA))
    return RankingCheck(p_value=p_value, propensity_qini=propensity_qini, qini_ci=qini_ci,
                        beats_random=beats_random, beats_propensity=beats_propensity, test=test)


def permutation_p(y: np.ndarray, treated: np.ndarray, orderings: list, observed: float, seed: int) -> float:
    """P-value of the best observed Qini against shuffled treatment labels. Each shuffle keeps the
    arm sizes and outcomes, breaks any link between the treatment and the scores, and records the best
    Qini over every learner tried, so choosing the best learner on this holdout is accounted for.
    (Shuffling also removes the average effect; the normalised Qini subtracts that effect's diagonal, so
    a ranking unrelated to who responds to the campaign scores about 0 either way.)"""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(PERMUTATIONS):
        tp = treated[rng.permutation(len(treated))]
        best = max(qini_score(y, None, tp, order=o) for o in orderings)
        hits += best >= observed
    return (hits + 1) / (PERMUTATIONS + 1)


def bootstrap_intervals(y: np.ndarray, treated: np.ndarray, model_order, propensity_order, seed: int):
    """95% intervals of the chosen learner's Qini and of its gain over ranking by propensity, from
    holdouts resampled within each arm (the same resample for both, so the gain is paired)."""
    rng = np.random.default_rng(seed + 1)
    arms = [np.flatnonzero(treated == 1), np.flatnonzero(treated == 0)]
    q, gain = [], []
    for _ in range(BOOTSTRAPS):
        w = np.zeros(len(y))
        for rows in arms:  # how many times each customer is drawn, with replacement, within the arm
            w[rows] = np.bincount(rng.integers(0, len(rows), len(rows)), minlength=len(rows))
        qm = qini_score(y, None, treated, w, order=model_order)
        qp = qini_score(y, None, treated, w, order=propensity_order)
        q.append(qm)
        gain.append(qm - qp)
    return tuple(np.percentile(q, [2.5, 97.5]).tolist()), tuple(np.percentile(gain, [2.5, 97.5]).tolist())

