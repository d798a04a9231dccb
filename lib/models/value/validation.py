"""How a prediction is checked on the held-out window, which method is chosen, whose total is trusted and
how wide the forecast band is."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from lib.errors import DataValidationError
from lib.models.value.settings import METHOD_LABELS, MODEL_METHODS, TOTAL_SWITCH_MARGIN
from lib.text.i18n import t


def metrics(predicted: np.ndarray, actual: np.ndarray, churn_score: np.ndarray, churned: np.ndarray) -> dict:
    """How well a prediction ranked and sized what customers really spent in the window."""
    n = len(actual)
    order = np.argsort(-predicted, kind="stable")
    total = actual.sum()

    def capture(share: float) -> float:
        k = max(1, int(math.ceil(n * share)))
        return float(actual[order[:k]].sum() / total) if total > 0 else float("nan")

    both = len(np.unique(churned)) == 2 and np.all(np.isfinite(churn_score))
    varied = n > 2 and np.ptp(predicted) > 0 and np.ptp(actual) > 0
    return {
        "customers": int(n),
        "spearman": float(spearmanr(predicted, actual).statistic) if varied else float("nan"),
        "top10_capture": capture(0.10),
        "top20_capture": capture(0.20),
        "total_ratio": float(predicted.sum() / total) if total > 0 else float("nan"),
        "churn_auc": float(roc_auc_score(churned, churn_score)) if both else float("nan"),
    }


def _choose(validation: pd.DataFrame, wanted: str) -> tuple[str, str]:
    """The rule: among the model methods that ran, the best Spearman + top-10% capture on the held-out
    window (ties: the simpler method, in the order of ``MODEL_METHODS``)."""
    v = validation.set_index("method")
    ran = [m for m in MODEL_METHODS if m in v.index]
    if not ran:
        raise DataValidationError(t("No model could be fitted to this log: it needs repeat buyers over several months."))
    naive = v.loc["naive"]

    def fmt(m: str) -> str:
        return t("Spearman {spearman:.3f}, top-10% capture {capture:.1%}", spearman=v.loc[m, "spearman"], capture=v.loc[m, "top10_capture"])

    if wanted != "auto":
        if wanted not in ran:
            raise DataValidationError(
                t("The {method} method could not run on this log (see the notes); use method 'auto'.", method=t(METHOD_LABELS[wanted])))
        return wanted, t("{method} was chosen by you ({how} on the held-out window).", method=t(METHOD_LABELS[wanted]), how=fmt(wanted))
    score = {m: np.nan_to_num(v.loc[m, "spearman"], nan=-1) + np.nan_to_num(v.loc[m, "top10_capture"], nan=0)
             for m in ran}
    best = max(ran, key=lambda m: (score[m], -ran.index(m)))
    text = (t("{method} ranked the held-out customers best ({how}; past spend alone: {naive}).", method=t(METHOD_LABELS[best]), how=fmt(best), naive=fmt("naive")))
    if score[best] < np.nan_to_num(naive["spearman"], nan=-1) + np.nan_to_num(naive["top10_capture"], nan=0):
        text += t(" No model ranked better than past spend alone on this log: treat the ranking as no better than that.")
    return best, text


def _total_source(validation: pd.DataFrame, chosen: str) -> str:
    """Whose total to trust: the chosen method's, unless another model method's total came closer to what
    customers spent on the held-out window (then the chosen ranking is scaled to that total)."""
    v = validation.set_index("method")
    miss = {m: abs(math.log(v.loc[m, "total_ratio"])) for m in MODEL_METHODS
            if m in v.index and np.isfinite(v.loc[m, "total_ratio"]) and v.loc[m, "total_ratio"] > 0}
    if not miss or chosen not in miss:
        return chosen
    best = min(miss, key=lambda m: (miss[m], m != chosen))
    # Only a clearly closer total counts (5% or more): a hair's difference on one window is noise.
    return best if miss[best] < miss[chosen] - TOTAL_SWITCH_MARGIN else chosen


def _band_factor(predicted: np.ndarray, actual: np.ndarray, ratio: float, seed: int) -> float:
    """How far off the total can be: the chosen method's miss on the held-out window (predicted / actual,
    taken either way), widened by how much that miss itself varies over resampled customers."""
    if not np.isfinite(ratio) or ratio <= 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(actual), size=(200, len(actual)))
    boot = predicted[idx].sum(axis=1) / np.maximum(actual[idx].sum(axis=1), 1e-12)
    spread = float(np.exp(np.quantile(np.abs(np.log(boot / ratio)), 0.9)))
    return float(max(ratio, 1 / ratio) * spread)
