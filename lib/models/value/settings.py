"""Customer value: the methods, their words, the constants measured for them and the user's settings."""

from __future__ import annotations

from dataclasses import dataclass

from lib.errors import DataValidationError
from lib.text.i18n import t

METHODS = ("naive", "bgnbd", "boosted", "hurdle")
MODEL_METHODS = ("bgnbd", "boosted", "hurdle")  # what "auto" chooses from; naive is only the yardstick
METHOD_LABELS = {
    "naive": "Past spend, scaled (yardstick)",
    "bgnbd": "BG/NBD × Gamma-Gamma",
    "boosted": "Gradient boosting: spend (Tweedie), trained out of time",
    "hurdle": "Gradient boosting: chance of buying × past spend rate, trained out of time",
}
TOTAL_SWITCH_MARGIN = 0.05  # in |log(predicted / actual)|
MIN_HISTORY_DAYS = 60  # history a method needs before a cutoff to say anything about a customer
WEEK = 7.0  # BG/NBD and Gamma-Gamma are fitted in weeks: parameters of order 1, as published
# A BG/NBD fit whose dropout is this unlikely has run to the "nobody ever leaves" boundary.
BOUNDARY_DROPOUT = 1e-3
# Depth-4 hist trees as in lib.models.model. One thread: these tables are small (customers × cutoffs), and on a
# shared 2-core machine two OpenMP threads ran 10-25× slower than one (bench/value.py).
XGB_VALUE_PARAMS = dict(
    max_depth=4, eta=0.1, subsample=0.8, colsample_bytree=0.8, min_child_weight=5,
    reg_lambda=1.0, tree_method="hist", max_bin=256, nthread=1,
)
MAX_TREES = 400
MAX_TRAINING_ROWS = 150_000  # customers × cutoffs; larger logs are sampled per cutoff
# Tweedie between Poisson (1) and Gamma (2): most customers spend nothing in a window, a few spend a lot.
TWEEDIE_POWER = 1.2
EARLY_STOP = 20
SPEND_WINDOWS = (30, 90, 180, 365)


@dataclass(frozen=True)
class ValueSettings:
    """How far ahead to predict and with which method.

    Parameters
    ----------
    horizon_days
        The window predicted and held out for validation (H).
    clv_months
        The customer value window (12 months by default).
    method
        "auto" (best ranking on the held-out window), "bgnbd", "boosted" or "hurdle".
    seed
        Seed for the boosted model's subsampling and validation split.
    """

    horizon_days: int = 90
    clv_months: int = 12
    method: str = "auto"
    seed: int = 42


def _check_settings(settings: ValueSettings) -> None:
    problems = []
    if not 7 <= int(settings.horizon_days) <= 365:
        problems.append(t("horizon_days is {horizon_days}: choose between 7 and 365 days.", horizon_days=settings.horizon_days))
    if not 1 <= int(settings.clv_months) <= 60:
        problems.append(t("clv_months is {clv_months}: choose between 1 and 60 months.", clv_months=settings.clv_months))
    if settings.method not in ("auto", *MODEL_METHODS):
        problems.append(t("method '{method}' is not one of: auto, {items}.", method=settings.method, items=', '.join(MODEL_METHODS)))
    if problems:
        raise DataValidationError(*problems)
