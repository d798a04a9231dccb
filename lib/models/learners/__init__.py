"""Learners compared side by side (``compare``), what each one is (``catalogue``), and a chosen
scikit-learn learner as the propensity model (``fitted``)."""

from lib.models.learners.catalogue import LEARNERS, make_learner
from lib.models.learners.compare import (
    Comparison,
    LearnerScore,
    choose,
    compare_learners,
    comparison_folds,
    corrected_t_test,
    resolve_learners,
)
from lib.models.learners.fitted import TRUSTED_TYPES, LearnerModel

__all__ = ["LEARNERS", "TRUSTED_TYPES", "Comparison", "LearnerModel", "LearnerScore", "choose", "compare_learners",
           "comparison_folds", "corrected_t_test", "make_learner", "resolve_learners"]
