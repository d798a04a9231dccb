"""Risk reasons in words, one rule per pattern, for customers and for their flagged orders."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lib.text.i18n import t

# An outlier term is a reason only where the customer sits in that feature's outer 5% (-log 0.05 = 3.0).
NOTABLE_TERM = -math.log(0.05)


def num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 10 or float(v).is_integer() else f"{v:,.1f}"


def pct(v: float) -> str:
    return f"{100 * v:.0f}%" if v >= 0.01 or v == 0 else f"{100 * v:.1f}%"


def money(v: float) -> str:
    return f"{v:,.2f}"


def contact_word(kind: str) -> str:
    return {"email": t("e-mail address"), "phone": t("phone number"), "address": t("postal address")}.get(kind, kind)


def pattern_reason(pattern: str, row: dict, return_share: float) -> str:
    """One pattern's reason for one customer (``row``: the customer's measures), in words."""
    if pattern == "returns":
        return t("returned {share} of what they bought in {n} returns (shop: {shop})", share=pct(row["returns"]),
                 n=int(row["returns_n"]), shop=pct(return_share))
    if pattern == "quick_returns":
        return t("returned {n} items within {days} days of buying them (median {median} days)",
                 n=int(row["quick_returns"]), days=_quick_days(), median=num(row["quick_days"]))
    if pattern == "bulk" and int(row["bulk_orders"]) == 1:
        return t("bought {units} units of {product} in one order (usual: {usual})", units=num(row["bulk_units"]),
                 product=row["bulk_product"], usual=num(row["bulk_usual"]))
    if pattern == "bulk":
        return t("bought {units} units of {product} in {orders} orders (usual: {usual})", units=num(row["bulk_units"]),
                 product=row["bulk_product"], orders=int(row["bulk_orders"]), usual=num(row["bulk_usual"]))
    if pattern == "price":
        return t("paid under half the usual price for {share} of what they bought ({n} lines)",
                 share=pct(row["price"]), n=int(row["price_lines"]))
    if pattern == "shared_contact":
        return t("shares their {what} with {n} other customers", what=contact_word(row["shared_kind"]),
                 n=int(row["shared_contact"]))
    if pattern == "implausible":
        return str(row["implausible_what"])
    return t("{n} orders within {minutes} minutes", n=int(row["burst"]), minutes=max(1, round(row["burst_minutes"])))


def _quick_days() -> int:
    from lib.models.risk.patterns import QUICK_DAYS

    return QUICK_DAYS


def pattern_word(pattern: str) -> str:
    """A pattern's name for a person (risk.csv keeps the code)."""
    return {"returns": t("serial returns"), "quick_returns": t("quick returns"), "bulk": t("bulk buying"),
            "price": t("cut prices"), "burst": t("burst of orders"), "shared_contact": t("shared contact detail"),
            "implausible": t("implausible values"), "outlier": t("outlier")}.get(pattern, pattern)


def feature_word(name: str) -> str:
    return {"returns": t("share returned"), "quick_returns": t("items returned soon after buying"),
            "bulk": t("most of one product (times the usual)"),
            "price": t("share bought at cut prices"), "burst": t("orders within an hour"),
            "value_per_order": t("value per order"), "lines_per_order": t("lines per order"),
            "shared_contact": t("customers sharing a contact detail"),
            "implausible": t("implausible values")}.get(name, name)


def customer_reasons(tab: pd.DataFrame, sev: pd.DataFrame, contrib: pd.DataFrame, feats: pd.DataFrame,
                     return_share: float, explain: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Three reason columns ("" where there is none) and the leading pattern ("outlier" when none fired;
    "" for the unexplained) per customer; only the ``explain``ed ones (flagged or over a threshold) get
    words: a loop over every row cost most of the time at a million customers."""
    typical = feats.median()
    reasons = [np.full(len(tab), "", dtype=object) for _ in range(3)]
    patt = np.full(len(tab), "", dtype=object)
    rows = np.flatnonzero(explain)
    if not len(rows):
        return reasons, patt
    records = tab.iloc[rows].to_dict("records")
    severity, terms = sev.to_numpy()[rows], contrib.to_numpy()[rows]
    values, names, cols = feats.to_numpy()[rows], list(sev.columns), list(feats.columns)
    for k, i in enumerate(rows):
        fired = sorted((j for j in range(len(names)) if severity[k, j] > 0), key=lambda j: -severity[k, j])
        words = [pattern_reason(names[j], records[k], return_share) for j in fired]
        fired_names = {names[j] for j in fired}
        for j in np.argsort(-terms[k], kind="stable"):
            if len(words) >= 3 or terms[k, j] <= NOTABLE_TERM:
                break
            f = cols[j]
            if f in fired_names:
                continue
            fmt = pct if f in ("returns", "price") else num
            words.append(t("unusual for the shop: {feature} {value} (typical: {typical})", feature=feature_word(f),
                           value=fmt(values[k, j]), typical=fmt(typical[f])))
        for j, w in enumerate(words[:3]):
            reasons[j][i] = w
        patt[i] = names[fired[0]] if fired else "outlier"
    return reasons, patt
