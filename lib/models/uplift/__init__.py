"""Uplift: find the customers a campaign *changes*, learned from a randomised control group.

A propensity model ranks who will respond; some of them would have responded anyway, and some respond
*less* when contacted. With a control group that was kept out of the campaign at random, the effect of
the campaign itself can be learned: ``uplift(x) = P(respond | sent, x) - P(respond | not sent, x)``.

How it is learned (every learner is a ``lib.models.model.PropensityModel``: the same encoding, XGBoost settings
and Platt calibration as the propensity model, so each is calibrated, explainable and saved the same way):

- ``t-learner``: two models, one on the treated customers and one on the control group; the uplift is
  the difference of their calibrated probabilities.
- ``s-learner``: one model on everyone with the arm as an extra input; the uplift is its probability with
  the arm set to "sent" minus with it set to "not sent".

Labelled customers of both arms are split 70/30, stratified by arm x outcome. The learners are fitted on
the 70% and compared by the normalised Qini coefficient on the 30% holdout; the best one is kept.

Whether the uplift ranking is real or noise is decided by a permutation test on the holdout: the
treatment labels are shuffled 499 times and the best learner's Qini is compared with the best Qini the
learners reach on shuffled labels (taking the maximum over learners in each shuffle accounts for picking
the best learner on the same holdout). Only p < 1% counts as "beats random": on a weak signal (a rare
outcome, a tiny effect) the honest answer is that the data cannot tell who responds.

A randomisation check compares every feature between the arms: uplift is only causal when the control
group was chosen at random.

Where each part lives:

- ``arms``: which value of the treatment column is the campaign and which the control group; enough
  customers in each.
- ``features``: the columns the learners may use (the propensity model's hygiene plus uplift's own leaks).
- ``randomisation``: every feature compared between the arms.
- ``learners``: the t- and s-learner, fitted and scoring (``score_uplift``, ``TREATED_FEATURE``).
- ``metrics``: Qini and AUUC exactly as scikit-uplift computes them.
- ``significance``: the permutation test against random and the bootstrap intervals.
- ``result``: ``UpliftResult``, its report and the verdict in words.
- ``reasons``: points of uplift per customer and feature, reasons, who is persuadable.
- ``train``: ``UpliftSettings`` and ``train_uplift``, the steps in order.
"""

from lib.models.propensity import Progress
from lib.models.uplift.arms import MIN_ARM_OUTCOMES, MIN_ARM_ROWS, resolve_arms
from lib.models.uplift.learners import LEARNERS, TREATED_FEATURE, score_uplift
from lib.models.uplift.metrics import auuc_score, qini_score
from lib.models.uplift.randomisation import BALANCE_P, SMD_LIMIT, balance_table, randomisation_warning
from lib.models.uplift.reasons import UpliftExplanation, explain_uplift, persuadable_importance, uplift_reasons
from lib.models.uplift.result import UpliftResult, uplift_deciles
from lib.models.uplift.significance import ALPHA, BOOTSTRAPS, PERMUTATIONS
from lib.models.uplift.train import HOLDOUT, VALIDATION_MAX_ROWS, UpliftSettings, train_uplift

__all__ = [
    "ALPHA", "BALANCE_P", "BOOTSTRAPS", "HOLDOUT", "LEARNERS", "MIN_ARM_OUTCOMES", "MIN_ARM_ROWS", "PERMUTATIONS",
    "SMD_LIMIT", "TREATED_FEATURE", "VALIDATION_MAX_ROWS", "Progress", "UpliftExplanation", "UpliftResult",
    "UpliftSettings", "auuc_score", "balance_table", "explain_uplift", "persuadable_importance", "qini_score",
    "randomisation_warning", "resolve_arms", "score_uplift", "train_uplift", "uplift_deciles", "uplift_reasons",
]
