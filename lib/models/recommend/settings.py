"""Recommendations: the methods and modes, the user's settings and the hyper-parameters tuned per log."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lib.errors import DataValidationError
from lib.text.i18n import t

METHODS = ("popularity", "repeat", "neighbours", "als", "blend")
MODES = ("all", "new")
DAY = 86400.0


@dataclass(frozen=True)
class RecommendSettings:
    """What to recommend: ``k`` items per customer in ``mode`` "all" (own items allowed) or "new"
    (never an item of the customer's history); ``test_days`` is the evaluation window and the
    popularity window; ``method`` is "auto" (chosen by the time-split evaluation) or one of ``METHODS``."""

    k: int = 10
    mode: str = "all"  # or "new"
    test_days: int = 90
    seed: int = 42
    method: str = "auto"


@dataclass(frozen=True)
class Hyper:
    """Hyper-parameters, tuned on the earlier split only."""

    half_life_days: float = 90.0  # recency weight of a purchase for "repeat" (and the neighbours' input)
    neighbours_k: int = 50
    als_factors: int = 64
    als_regularization: float = 1.0
    als_alpha: float = 2.0
    als_iterations: int = 6  # as good as 15 on the Online Retail splits, at less than half the time
    blend_own_slots: int = 10  # at most this many own items open the list, ALS fills the rest


# When the log is too short to evaluate anything: own items for replenishment, co-purchase neighbours
# for discovery (neither needs tuning).
_DEFAULT_METHOD = {"all": "repeat", "new": "neighbours"}


def _check_settings(settings: RecommendSettings) -> None:
    problems = []
    if settings.mode not in MODES:
        problems.append(t('Mode \'{mode}\' is not known: use "all" (own items included) or "new" (discovery).', mode=settings.mode))
    if settings.method != "auto" and settings.method not in METHODS:
        problems.append(t('Method \'{method}\' is not known: use "auto" or one of {items}.', method=settings.method, items=', '.join(METHODS)))
    if not isinstance(settings.k, int | np.integer) or settings.k < 1:
        problems.append(t("The number of recommendations k must be a whole number of at least 1 (got {k!r}).", k=settings.k))
    if not isinstance(settings.test_days, int | np.integer) or settings.test_days < 1:
        problems.append(t("test_days must be a whole number of days, at least 1 (got {test_days!r}).", test_days=settings.test_days))
    if problems:
        raise DataValidationError(*problems)
