"""Why a customer is worth what they are worth: exact TreeSHAP of the boosted models in money, BG/NBD's
three drivers, in words."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from lib.models.value.result import ValueResult
from lib.models.value.settings import WEEK
from lib.text.i18n import t

BGNBD_DRIVERS = (
    "BG/NBD × Gamma-Gamma uses only three facts per customer: how often they bought again (frequency), how recently "
    "(recency) and how long ago they first bought (age), plus the average value of their purchases. Frequent, recent "
    "buyers are worth most; a long silence from a frequent buyer lowers the value."
)


def _value_effects(result: ValueResult) -> tuple[np.ndarray, list[str], pd.DataFrame]:
    """Exact TreeSHAP (XGBoost ``pred_contribs``) of ``predicted_value`` in money, per customer and feature.

    The models work in log space (Tweedie: log spend; the hurdle's classifier: log-odds). Each customer's
    change from the base value is shared out in proportion to the SHAP values, so the effects add up
    exactly to ``predicted_value - base`` and keep SHAP's ranking of the features."""
    ex = result.explainer
    fit = ex.boosted
    names = list(ex.features.columns)
    if ex.method == "boosted":
        phi = fit.predict("spend", pred_contribs=True).astype("float64")
        bias, contrib = phi[:, -1], phi[:, :-1]
        total = contrib.sum(axis=1)
        base = np.exp(bias)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            per_unit = np.where(np.abs(total) > 1e-12, base * np.expm1(total) / total, base)
        effects = contrib * per_unit[:, None] * ex.scale
    else:  # hurdle: value = R × p, with R the customer's scaled run rate and p = P(buy)
        phi = fit.predict("buy", pred_contribs=True).astype("float64")
        bias, contrib = phi[:, -1], phi[:, :-1]
        total = contrib.sum(axis=1)
        p0 = 1 / (1 + np.exp(-bias))
        p = 1 / (1 + np.exp(-(bias + total)))
        with np.errstate(invalid="ignore", divide="ignore"):
            per_unit = np.where(np.abs(total) > 1e-12, (p - p0) / total, p0 * (1 - p0))
        rate = ex.run_rate * ex.scale
        effects = contrib * (per_unit * rate)[:, None]
        # The run rate's own part: (R - mean R) × p0, on the feature it is computed from.
        j = names.index("spend last 365 days")
        effects[:, j] += (rate - rate.mean()) * p0
    return effects, names, ex.features


def explain_value(result: ValueResult, top: int = 3) -> pd.DataFrame:
    """Per customer, the ``top`` reasons their predicted spend is high, in words with their effect in money:
    "spend last 90 days: 1,204 (+310)". Boosted methods use exact TreeSHAP; BG/NBD lists its three drivers
    with the customer's own values (see ``BGNBD_DRIVERS``)."""
    ex = result.explainer
    n = len(result.table)
    top = max(1, min(int(top), 3))
    out = {"customer_id": result.table["customer_id"].to_numpy()}
    if ex is None or ex.method == "bgnbd":
        f = ex.features if ex is not None else pd.DataFrame({"x": np.nan, "tx": np.nan, "T": np.nan}, index=range(n))
        x, tx, T = (f[c].to_numpy(dtype="float64") for c in ("x", "tx", "T"))
        silent = np.round((T - tx) * WEEK)
        texts = [
            _fmt(t("repeat purchases"), x, lambda v: f"{int(v):,}"),
            _fmt(t("last purchase"), silent, lambda v: t("{days:,} days ago", days=int(v))),
            _fmt(t("customer for"), np.round(T * WEEK), lambda v: t("{days:,} days", days=int(v))),
        ]
        for r in range(3):
            out[f"value_reason_{r + 1}"] = texts[r] if r < top else np.full(n, "", dtype=object)
        return pd.DataFrame(out)
    effects, names, shown = _value_effects(result)
    reason = t("{feature}: {value} ({effect})")
    k = effects.shape[1]
    order = np.argsort(-effects, axis=1, kind="stable")[:, :top]
    rows = np.arange(n)
    formatted: dict[int, np.ndarray] = {}
    for r in range(3):
        col = np.full(n, "", dtype=object)
        if r < min(top, k):
            pick = order[:, r]
            eff = effects[rows, pick]
            for j in np.unique(pick):
                m = (pick == j) & (eff > 0)
                if not m.any():
                    continue
                if j not in formatted:
                    formatted[j] = _format_numbers(shown.iloc[:, j].to_numpy(dtype="float64"))
                col[m] = _fill(reason, {"feature": feature_words(names[j]), "value": formatted[j][m],
                                        "effect": _format_money(eff[m])})
        out[f"value_reason_{r + 1}"] = col
    return pd.DataFrame(out)


def value_importance(result: ValueResult) -> pd.DataFrame:
    """Mean |effect| on predicted spend per feature over every customer (money), largest first, for a chart.
    For BG/NBD the three drivers are listed without numbers: it has no per-feature effects."""
    ex = result.explainer
    if ex is None or ex.method == "bgnbd":
        return pd.DataFrame({"feature": [t("repeat purchases (frequency)"), t("days since last purchase (recency)"),
                                         t("days as a customer (age)")], "mean_abs_effect": np.nan})
    effects, names, _ = _value_effects(result)
    imp = pd.DataFrame({"feature": [feature_words(n) for n in names], "mean_abs_effect": np.abs(effects).mean(axis=0)})
    return imp.sort_values("mean_abs_effect", ascending=False, kind="stable").reset_index(drop=True)


def _fmt(label: str, values: np.ndarray, fmt) -> np.ndarray:
    unknown = t("unknown")
    text = _unique_map(values, lambda v: unknown if not np.isfinite(v) else fmt(v))
    return _fill(t("{feature}: {value}"), {"feature": label, "value": text})


def _fill(template: str, parts: dict[str, object]) -> object:
    """``template.format(**parts)`` where some parts are arrays of text (see ``lib.models.explain._fill``)."""
    from lib.models.explain import _fill as fill

    return fill(template, parts)


_WINDOWED = re.compile(r"(spend|orders) last (\d+) days")


def feature_words(name: str) -> str:
    """A value feature's name as people read it, in the current language ("spend last 90 days")."""
    m = _WINDOWED.fullmatch(name)
    if m:
        days = int(m.group(2))
        return t("spend last {days} days", days=days) if m.group(1) == "spend" else t("orders last {days} days", days=days)
    return t(name)  # i18n: a feature word from this module's tables, in the catalogue


def _unique_map(values: np.ndarray, fmt) -> np.ndarray:
    """Format each distinct value once: a million customers cost one ``np.unique``."""
    uniq, inverse = np.unique(values, return_inverse=True)
    return np.array([fmt(v) for v in uniq], dtype=object)[inverse.ravel()]


def _format_numbers(v: np.ndarray) -> np.ndarray:
    rounded = np.where(np.abs(v) >= 100, np.round(v), np.round(v, 2))
    unknown = t("unknown")
    return _unique_map(rounded, lambda x: unknown if not np.isfinite(x) else f"{x:,.10g}")


def _format_money(v: np.ndarray) -> np.ndarray:
    rounded = np.where(np.abs(v) >= 10, np.round(v), np.round(v, 2))
    return _unique_map(rounded, lambda x: f"{x:+,.0f}" if abs(x) >= 10 else f"{x:+,.2f}")
