"""The customer value step: validate every method on the log's last H days, choose, refit on the whole log
and predict the H days after it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from lib.errors import DataValidationError
from lib.models.value.activity import Activity, activity_from_log, actual_spend
from lib.models.value.bgnbd import BGNBDFit, fit_bgnbd_model, predict_bgnbd
from lib.models.value.boosted import BoostedFit, fit_boosted, hurdle_scale, predict_boosted
from lib.models.value.features import Prediction, _run_rate, predict_naive
from lib.models.value.forecast import _caveat, _clv_from_horizon, _monthly, _new_customer_share
from lib.models.value.result import ValueResult, _Explainer
from lib.models.value.season import season_index
from lib.models.value.settings import METHOD_LABELS, METHODS, MIN_HISTORY_DAYS, ValueSettings, _check_settings
from lib.models.value.validation import _band_factor, _choose, _total_source, metrics
from lib.text.i18n import t

log = logging.getLogger(__name__)


def _as_log(frame: pd.DataFrame, customer_col, date_col, amount_col) -> tuple[Activity, tuple[str, ...]]:
    try:
        act, warnings = activity_from_log(frame, customer_col, date_col, amount_col)
    except DataValidationError as exc:
        raise DataValidationError(
            t("Customer value needs the order log (one row per order or order line, with the customer id, the order "
            "date and the amount), not a customer table."), *exc.problems) from exc
    n_lines = int(act.daily["orders"].sum())
    if len(act.ids) > 0 and act.daily["cust"].nunique() == len(act.daily) and n_lines <= len(act.ids):
        raise DataValidationError(
            t("Every customer appears on one day only: this looks like a customer table (one row per customer), not an "
            "order log, or nobody ever bought twice. Customer value learns from repeat buying: upload the order log "
            "(customer id, order date, amount per order or line).")
        )
    return act, warnings


def customer_value(
    frame: pd.DataFrame,
    settings: ValueSettings,
    customer_col: str | None = None,
    date_col: str | None = None,
    amount_col: str | None = None,
) -> ValueResult:
    """Predict every customer's next ``horizon_days`` from an order log (``frame``, not modified).

    1. Hold out the log's last H days; fit every method on the days before; score each against what
       customers really spent in the held-out days (``validation``).
    2. Choose the model method with the best Spearman + top-10% capture there (or ``settings.method``).
    3. Refit it on the whole log and predict the H days after the last date.
    """
    t0 = time.perf_counter()
    _check_settings(settings)
    act, warnings = _as_log(frame, customer_col, date_col, amount_col)
    H = int(settings.horizon_days)
    span = act.end_day
    if span < H + MIN_HISTORY_DAYS:
        raise DataValidationError(
            t("The log covers {span} days ({first} to {last}). Predicting {H} days ahead needs at least {least} days, so the prediction can be checked on the last {H} days with {history} days of history before them. Choose a shorter horizon (the days-ahead setting, --horizon on the command line) or a longer log.", span=span, first=act.start.date(), last=(act.start + pd.Timedelta(days=span - 1)).date(), H=H, least=H + MIN_HISTORY_DAYS, history=MIN_HISTORY_DAYS)
        )
    cut = span - H
    check = _check_held_out(act, settings)
    final = _predict_final(act, settings, check)
    ratio = float(check.validation.set_index("method").loc[check.source, "total_ratio"])
    index, season_note = season_index(frame, H, float(final.table["predicted_value"].sum()), customer_col,
                                      date_col, amount_col)
    if season_note:
        final = replace(final, table=final.table.assign(predicted_value=final.table["predicted_value"] * index))
    total = float(final.table["predicted_value"].sum())
    factor = _band_factor(check.checked, check.actual, ratio, settings.seed)
    new_share = _new_customer_share(act, cut)
    log.info("customer value: %s for %d customers in %.1fs", check.method, len(final.table), time.perf_counter() - t0)
    return ValueResult(
        table=final.table,
        method=check.method,
        total_method=check.source,
        horizon_days=H,
        clv_months=int(settings.clv_months),
        as_of=act.start + pd.Timedelta(days=span),
        validation_cutoff=act.start + pd.Timedelta(days=cut),
        forecast_total=total,
        forecast_low=total / factor,
        forecast_high=total * factor,
        band_factor=factor,
        validation=check.validation,
        holdout=check.holdout,
        monthly=_monthly(act),
        caveat=_caveat(H, ratio, factor, new_share),
        selection=check.selection,
        notes=tuple(warnings) + check.notes + final.notes + ((season_note,) if season_note else ()),
        bgnbd=final.bg.params if final.bg else None,
        gamma_gamma=final.bg.gamma_gamma if final.bg else None,
        new_customer_share=new_share,
        seconds=time.perf_counter() - t0,
        explainer=final.explainer,
    )


@dataclass(frozen=True)
class _HeldOut:
    """Every method checked on the log's last H days, and what that check chose."""

    validation: pd.DataFrame  # one row per method, the chosen one flagged
    method: str  # whose ranking
    source: str  # whose total
    selection: str  # the rule and what it gave, in words
    checked: np.ndarray  # the chosen prediction at the chosen total, per held-out customer
    actual: np.ndarray  # what they spent in the held-out days
    holdout: pd.DataFrame  # per customer: actual_spend, bought, predicted_<method>
    notes: tuple[str, ...]


def _check_held_out(act: Activity, settings: ValueSettings) -> _HeldOut:
    """Every method, fitted before the held-out window and scored on it. BG/NBD assumes steady buying, so
    when the log reaches back a year its level is corrected by its miss on the same season then."""
    H, clv_days = int(settings.horizon_days), settings.clv_months * 365.25 / 12
    cut = act.end_day - H
    hist = act.before(cut)
    spent, bought = actual_spend(act, cut, H)
    codes = hist.customers()
    y, buyers = spent[codes], bought[codes]
    preds, _, _, why_not = _predict_at(hist, H, clv_days, settings.seed, METHODS)
    season_then = _season_factors(hist, H, clv_days, settings.seed, ["bgnbd"] if "bgnbd" in preds else [])
    if "bgnbd" in season_then:
        preds["bgnbd"] = _rescale(preds["bgnbd"], season_then["bgnbd"])
    rows = []
    for name, pr in preds.items():
        churn_score = -pr.predicted_value if name == "naive" else pr.churn_risk
        rows.append({"method": name, "label": t(METHOD_LABELS[name]),
                     **metrics(pr.predicted_value, y, churn_score, ~buyers)})
    validation = pd.DataFrame(rows)
    method, selection = _choose(validation, settings.method)
    # A method you chose gives its own total too; "auto" may take the total from a closer method.
    source = _total_source(validation, method) if settings.method == "auto" else method
    validation["chosen"] = validation["method"].eq(method)
    validation["total_from"] = validation["method"].eq(source)
    checked = preds[method].predicted_value * (preds[source].predicted_value.sum()
                                               / max(preds[method].predicted_value.sum(), 1e-12))
    holdout = pd.DataFrame({"customer_id": act.ids[codes].astype(str), "actual_spend": y, "bought": buyers,
                            **{f"predicted_{m}": p.predicted_value for m, p in preds.items()}})
    return _HeldOut(validation, method, source, selection, checked, y, holdout, tuple(why_not))


@dataclass(frozen=True)
class _Final:
    table: pd.DataFrame  # the value table (ValueResult.table)
    bg: BGNBDFit | None
    explainer: _Explainer
    notes: tuple[str, ...]


def _predict_final(act: Activity, settings: ValueSettings, check: _HeldOut) -> _Final:
    """The chosen method refitted on the whole log, predicting from its last day, at the chosen total;
    BG/NBD also gives the shape of each customer's next 12 months."""
    H, clv_days, span = int(settings.horizon_days), settings.clv_months * 365.25 / 12, act.end_day
    method, source, notes = check.method, check.source, []
    final, final_bg, final_boost, _ = _predict_at(act, H, clv_days, settings.seed, ("bgnbd", method, source))
    pred = final[method]
    clv = pred.clv if method == "bgnbd" else _clv_from_horizon(pred.predicted_value, final_bg, H, clv_days)
    if method != "bgnbd" and final_bg is None:
        notes.append(t("BG/NBD could not be fitted, so the {clv_months}-month value assumes steady buying at the predicted {H}-day rate.", clv_months=settings.clv_months, H=H))
    season = _season_factors(act, H, clv_days, settings.seed, ["bgnbd"]).get("bgnbd") \
        if "bgnbd" in final and "bgnbd" in (method, source) else None
    if season is not None:
        final["bgnbd"] = _rescale(final["bgnbd"], season)
        notes.append(
            t("Seasonal correction: a year before, BG/NBD's {H}-day prediction came out at {ratio:.2f}× what customers then spent in the same {H} days, so its forecast is multiplied by {season:.2f}.", H=H, ratio=1 / season, season=season))
    level = 1.0
    if source != method:
        level = float(final[source].predicted_value.sum() / max(final[method].predicted_value.sum(), 1e-12))
        v = check.validation.set_index("method")
        notes.append(
            t("The ranking comes from {method}; the total from {source}, whose total was closer on the held-out window ({source_ratio:.2f}× vs {method_ratio:.2f}× what customers spent).", method=t(METHOD_LABELS[method]), source=t(METHOD_LABELS[source]), source_ratio=v.loc[source, 'total_ratio'], method_ratio=v.loc[method, 'total_ratio']))
    pred = _rescale(final[method], level)
    scale = level * (season if method == "bgnbd" and season is not None else 1.0)
    if method == "bgnbd":
        explainer = _Explainer("bgnbd", act.ids, final_bg.rfm.set_index("cust")[["x", "tx", "T"]], None, None, scale)
    else:
        rate = _run_rate(final_boost.features, span, H) * hurdle_scale(final_boost, span, H) if method == "hurdle" \
            else None
        explainer = _Explainer(method, act.ids, final_boost.features, final_boost, rate, scale)
    if final_bg is not None and final_bg.params.at_boundary:
        bp = final_bg.params
        notes.append(
            t("BG/NBD's fit ran to the 'no dropout' boundary (a = {a:.2g}, b = {b:.3g}): it found no sign that customers leave, so its P(alive) is about 1 for everyone and says nothing about churn here. Its churn risk only reflects how rarely a customer buys.", a=bp.a, b=bp.b))
    table = pd.DataFrame({
        "customer_id": act.ids[pred.codes].astype(str),
        "p_buy": pred.p_buy,
        "predicted_orders": pred.predicted_orders,
        "predicted_value": pred.predicted_value,
        "churn_risk": pred.churn_risk,
        "clv_12m": clv,
    })
    return _Final(table, final_bg, explainer, tuple(notes))


def _predict_at(
    act: Activity, horizon: int, clv_days: float, seed: int, methods: tuple[str, ...] | list[str],
) -> tuple[dict[str, Prediction], BGNBDFit | None, BoostedFit | None, list[str]]:
    """``methods`` fitted on ``act`` (everything before its ``end_day``) and predicting the ``horizon``
    days after it, with a sentence for each method that could not run."""
    preds: dict[str, Prediction] = {}
    why_not: list[str] = []
    bg = boost = None
    if "naive" in methods:
        preds["naive"] = predict_naive(act, horizon)
    if "bgnbd" in methods:
        try:
            bg = fit_bgnbd_model(act)
            preds["bgnbd"] = predict_bgnbd(bg, horizon, clv_days)
        except DataValidationError as exc:
            why_not.append(t("BG/NBD was not used: {exc}", exc=exc))
    if "boosted" in methods or "hurdle" in methods:
        boost = fit_boosted(act, horizon, seed)
        if boost is not None:
            both = predict_boosted(boost, horizon, act.end_day)
            preds.update({m: both[m] for m in ("boosted", "hurdle") if m in methods})
        else:
            why_not.append(
                t("The boosted models were not used: they need at least {least} days of log ({history} days of history, then a {horizon}-day window to learn from, then the {horizon}-day window they are checked on) and 20 buyers and 20 non-buyers.", least=2 * horizon + MIN_HISTORY_DAYS, history=MIN_HISTORY_DAYS, horizon=horizon))
    return preds, bg, boost, why_not


def _season_factors(act: Activity, horizon: int, clv_days: float, seed: int, methods: list[str]) -> dict[str, float]:
    """For each method, actual ÷ predicted spend when it is run a year before ``act.end_day``: how the same
    season then differed from what the method expected. Empty when the log does not reach back far enough.

    A method that assumes steady buying misses a seasonal peak by about the same factor each year, so
    this corrects the level (not the ranking). Clipped to [1/3, 3]: a larger miss says more about a
    changed business than about the season."""
    c0 = act.end_day - 365
    if c0 < horizon + MIN_HISTORY_DAYS or not methods:
        return {}
    before = act.before(c0)
    preds, _, _, _ = _predict_at(before, horizon, clv_days, seed, methods)
    spent, _ = actual_spend(act, c0, horizon)
    out = {}
    for m, p in preds.items():
        actual, predicted = float(spent[p.codes].sum()), float(p.predicted_value.sum())
        if len(p.codes) >= 50 and actual > 0 and predicted > 0:
            out[m] = float(np.clip(actual / predicted, 1 / 3, 3))
    return out


def _rescale(p: Prediction, factor: float | None) -> Prediction:
    if factor is None:
        return p
    return replace(p, predicted_value=p.predicted_value * factor, predicted_orders=p.predicted_orders * factor)
