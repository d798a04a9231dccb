"""The recommendation step: tune on an earlier split, evaluate on the last ``test_days``, choose the method
per mode, refit on all the data and list ``k`` items per customer with reasons."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.errors import DataValidationError
from lib.models.recommend.data import LogColumns, _Events, _read_log, log_columns
from lib.models.recommend.evaluation import _better, _evaluate, _holdout, _top_k
from lib.models.recommend.matrix import _Train, _train_matrix
from lib.models.recommend.methods import _fit
from lib.models.recommend.reasons import _table
from lib.models.recommend.result import Recommendations
from lib.models.recommend.settings import _DEFAULT_METHOD, METHODS, MODES, Hyper, RecommendSettings, _check_settings
from lib.models.recommend.tables import _pairs
from lib.models.recommend.tuning import _tune
from lib.text.i18n import t

log = logging.getLogger(__name__)


def recommend(
    frame: pd.DataFrame,
    settings: RecommendSettings,
    customer_col: str | None = None,
    date_col: str | None = None,
    amount_col: str | None = None,
) -> Recommendations:
    """Top-``settings.k`` items per customer of the log, with a reason in words for each, and the
    time-split evaluation that chose the method.

    Parameters
    ----------
    frame
        The order-line log (one row per product bought; not modified).
    settings
        k, mode ("all" or "new"), test_days (evaluation and popularity window), seed, method
        ("auto" or one of ``METHODS``).
    customer_col, date_col, amount_col
        Column names, inferred when omitted.
    """
    _check_settings(settings)
    cols = log_columns(frame, customer_col, date_col, amount_col)
    ev = _read_log(frame, cols)
    if len(ev.user) == 0:
        detail = t(", ").join(t("{n:,} {reason}", n=n, reason=t(label)) for label, n in ev.lines_left_out.items())  # i18n: labels are LEFT_OUT reasons, in the catalogue
        raise DataValidationError(
            t("No purchase lines are left to learn from: every line was left out ({detail}). Check that '{customer}' holds customer ids and '{product}' product codes.", detail=detail, customer=cols.customer, product=cols.product)
        )
    ch = _choose_methods(ev, settings)
    method = ch.chosen[settings.mode] if settings.method == "auto" else settings.method
    k, days = settings.k, float(settings.test_days)
    # The final lists: refitted on all the data, popularity over the last test_days of the log.
    final = _train_matrix(ev, ev.end, days, ch.hyper.half_life_days, with_last=True)
    model = _fit(method, final, ch.hyper, settings.seed, {})
    users = np.arange(len(ev.customers))
    items, scores, valid = _top_k(model, final, users, k, (settings.mode,))[settings.mode]
    table = _table(ev, final, model, method, users, items, scores, valid, int(settings.test_days))
    pop_order = np.argsort(-final.popularity, kind="stable")[: max(k, 20)]
    pop_order = pop_order[final.popularity[pop_order] > 0]
    popular = pd.DataFrame({
        "item": ev.items[pop_order],
        "description": ev.descriptions[pop_order],
        "customers": final.popularity[pop_order].astype(int),
    })
    evaluated = int(ch.test_metrics[method][settings.mode]["customers"])
    log.info("recommend: %s (%s mode), %d customers evaluated", method, settings.mode, evaluated)
    return Recommendations(
        table=table,
        method=method,
        mode=settings.mode,
        k=k,
        evaluation=ch.evaluation(),
        evaluated_customers=evaluated,
        methods_by_mode=ch.chosen,
        hyper=ch.hyper,
        test_days=settings.test_days,
        items_used=int(final.candidates.sum()),
        customers=len(ev.customers),
        cold_customers=int((final.counts.getnnz(axis=1) == 0).sum()),
        lines_used=int(len(frame) - sum(ev.lines_left_out.values())),
        lines_left_out=dict(ev.lines_left_out),
        non_product_items=ev.non_product_items,
        popular=popular,
        bought_together=_pairs(ev, 20),
        columns=cols,
        selection=_selection_text(ch.selection, ch.chosen, settings),
        warnings=_warnings(cols, final, ch.selection, settings),
    )


@dataclass(frozen=True)
class _Choice:
    """The tuned hyper-parameters, every method's scores on both splits, and the method chosen per mode
    (and on which basis: "validation", "evaluation" or "default")."""

    hyper: Hyper
    val_metrics: dict  # method -> mode -> metrics on the earlier split ({} when it could not be made)
    test_metrics: dict  # method -> mode -> metrics on the last test_days
    chosen: dict  # mode -> method
    selection: dict  # mode -> basis

    def evaluation(self) -> pd.DataFrame:
        """One row per method x mode: test scores, the validation scores that chose, and ``chosen``."""
        val = self.val_metrics
        return pd.DataFrame([
            {
                "method": m,
                "mode": mode,
                **self.test_metrics[m][mode],
                "validation_hit_rate_at_k": val[m][mode]["hit_rate_at_k"] if m in val else np.nan,
                "validation_ndcg_at_k": val[m][mode]["ndcg_at_k"] if m in val else np.nan,
                "chosen": self.chosen[mode] == m,
            }
            for mode in MODES for m in METHODS
        ])


def _choose_methods(ev: _Events, settings: RecommendSettings) -> _Choice:
    """Tune on the earlier split, score every method on the last ``test_days``, and choose per mode:
    the best validation hit rate@k, else the best evaluation hit rate, else the default."""
    k, days, seed, end = settings.k, float(settings.test_days), settings.seed, ev.end
    validation = _holdout(ev, end - 2 * days, days, Hyper().half_life_days, seed)
    can_tune = len(validation.users) > 0
    if can_tune:
        hyper, val_metrics = _tune(ev, validation, k, seed)
    else:
        hyper, val_metrics = Hyper(blend_own_slots=k), {}
    test = _holdout(ev, end - days, days, hyper.half_life_days, seed)
    cache: dict = {}
    nothing = {"hit_rate_at_k": np.nan, "recall_at_k": np.nan, "ndcg_at_k": np.nan, "customers": 0}
    test_metrics = {
        m: _evaluate(_fit(m, test.train, hyper, seed, cache), test, k) if len(test.users) else dict.fromkeys(MODES, nothing)
        for m in METHODS
    }
    chosen, selection = {}, {}
    for mode in MODES:
        basis = val_metrics if can_tune and any(val_metrics[m][mode]["customers"] for m in METHODS) else None
        if basis is not None:
            selection[mode] = "validation"
        elif any(test_metrics[m][mode]["customers"] for m in METHODS):
            basis, selection[mode] = test_metrics, "evaluation"
        else:
            selection[mode] = "default"
        if basis is None:
            chosen[mode] = _DEFAULT_METHOD[mode]
            continue
        pick = None
        for m in METHODS:  # simplest first: a tie keeps the simpler method
            if pick is None or _better(basis[m][mode], basis[pick][mode]):
                pick = m
        chosen[mode] = pick
    return _Choice(hyper, val_metrics, test_metrics, chosen, selection)


def _warnings(cols: LogColumns, final: _Train, selection: dict, settings: RecommendSettings) -> tuple[str, ...]:
    warnings = []
    if cols.product_is_category:
        warnings.append(
            t("The log has no product code column, so '{product}' is used: these are categories to offer, not products.", product=cols.product)
        )
    if final.candidates.sum() <= settings.k:
        warnings.append(
            t("Only {n} different items were bought, no more than the {k} recommendations asked for: every method lists the same items, so the evaluation cannot tell the methods apart.", n=int(final.candidates.sum()), k=settings.k)
        )
    for mode in MODES:
        if selection[mode] == "evaluation":
            warnings.append(
                t("The log is too short for an earlier tuning split, so the {mode!r}-mode method was chosen on the evaluation window itself: its score there is optimistic.", mode=mode)
            )
        elif selection[mode] == "default":
            warnings.append(
                t("No customer bought again within the last {test_days} days after buying before, so nothing could be evaluated; {mode!r} mode uses {method} by default.", test_days=settings.test_days, mode=mode, method=_DEFAULT_METHOD[mode])
            )
    return tuple(warnings)


def _selection_text(selection: dict, chosen: dict, settings: RecommendSettings) -> str:
    parts = []
    for mode in MODES:
        how = {
            "validation": t("best hit rate@{k} on the earlier split (the {test_days} days before the evaluation window)", k=settings.k, test_days=settings.test_days),
            "evaluation": t("best hit rate on the evaluation window (log too short for an earlier split)"),
            "default": t("default (nothing to evaluate)"),
        }[selection[mode]]
        parts.append(t("{mode}: {value}, {how}", mode=mode, value=chosen[mode], how=how))
    if settings.method != "auto":
        parts.append(t("method set by the user: {method}", method=settings.method))
    return t("; ").join(parts)
