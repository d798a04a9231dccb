"""Risk control: which customers abuse returns, sweep stock, buy at glitch prices or order by script,
with the reason in words (issue 24).

Each named pattern (``patterns``) is a number per customer; its threshold comes from the shop's own
distribution (a high quantile and a robust z-score, never below a floor, so a clean shop flags few) and is
kept in a frozen ``RiskRules`` with the shop's usual quantities and prices, so a saved model judges next
month's file by the same standard. An ECOD outlier score (``outlier``) catches what the patterns miss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.data.orders import classify_lines, infer_transaction_columns
from lib.errors import DataValidationError
from lib.models.risk.outlier import ecod
from lib.models.risk.patterns import PATTERNS, Baselines, Measures, measure
from lib.text.i18n import t

# Floors: a pattern never fires below these, however clean the shop (returning half of what one bought,
# ten times the usual quantity, half of one's buying at cut prices, five orders in an hour).
FLOORS = {"returns": 0.5, "bulk": 10.0, "price": 0.5, "burst": 5.0}
MIN_RETURNS = 2  # one returned order is not a serial returner
MIN_CUT_LINES = 2  # nor is one line bought at a cut price
SHARE_CAP = 0.95  # a share's threshold stays reachable even where most customers sit at 100%
QUANTILE = 0.99
ROBUST_Z = 3.5
FEW_CUSTOMERS = 200
# The outlier score alone flags a customer only far out in its own distribution (no pattern needed).
ECOD_QUANTILE, ECOD_Z = 0.995, 5.0
DEFAULT_SHARE = 0.02
# An outlier term is a reason only where the customer sits in that feature's outer 5% (-log 0.05 = 3.0).
NOTABLE_TERM = -math.log(0.05)


@dataclass(frozen=True)
class RiskSettings:
    share: float = DEFAULT_SHARE  # the riskiest share flagged (at most; only customers with evidence)


@dataclass(frozen=True)
class RiskRules:
    """The standard a file is judged by: thresholds per pattern and the shop's usual behaviour."""

    thresholds: dict  # pattern -> value above which it fires
    baselines: Baselines
    ecod_threshold: float
    share: float = DEFAULT_SHARE
    customers: int = 0  # how many customers the thresholds were learned from

    def to_dict(self) -> dict:
        b = self.baselines
        return {"thresholds": self.thresholds, "ecod_threshold": self.ecod_threshold, "share": self.share,
                "customers": self.customers, "usual_quantity": b.usual_quantity, "usual_price": b.usual_price,
                "return_share": b.return_share}

    @classmethod
    def from_dict(cls, d: dict) -> RiskRules:
        return cls(dict(d["thresholds"]), Baselines(dict(d["usual_quantity"]), dict(d["usual_price"]),
                                                    float(d["return_share"])),
                   float(d["ecod_threshold"]), float(d["share"]), int(d["customers"]))


@dataclass(frozen=True)
class RiskResult:
    table: pd.DataFrame  # customer_id, risk_score, risk_flag, risk_reason_1..3, risk_pattern, + measures
    rules: RiskRules
    hits: dict  # pattern -> customers over its threshold
    skipped: dict  # pattern -> why it was not computed
    product_basis: str | None  # the category column standing in for products, when the log has none
    warnings: tuple[str, ...] = ()

    @property
    def flagged(self) -> pd.DataFrame:
        return self.table[self.table["risk_flag"]]

    def flagged_table(self) -> pd.DataFrame:
        """risk.csv: the flagged customers, riskiest first, with the pattern and reasons."""
        cols = ["customer_id", "risk_score", "risk_pattern", "risk_reason_1", "risk_reason_2", "risk_reason_3"]
        return self.flagged[cols].sort_values(["risk_score", "customer_id"], ascending=[False, True])

    def to_report(self) -> dict:
        flagged = self.flagged
        return {
            "customers": int(len(self.table)), "flagged": int(len(flagged)), "share": self.rules.share,
            "flagged_by_pattern": {p: int((flagged["risk_pattern"] == p).sum()) for p in (*PATTERNS, "outlier")},
            "over_threshold": self.hits,
            "thresholds": {k: round(float(v), 4) for k, v in self.rules.thresholds.items()},
            "outlier": {"method": "ECOD", "threshold": round(self.rules.ecod_threshold, 4)},
            "skipped": self.skipped, "products_from": self.product_basis, "warnings": list(self.warnings),
        }


def threshold(x: pd.Series, floor: float) -> float:
    """Above the shop's ``QUANTILE`` and ``ROBUST_Z`` robust z-scores (median + z × 1.4826 MAD), never
    below ``floor``."""
    v = x.to_numpy(dtype="float64")
    if not len(v):
        return floor
    med = float(np.median(v))
    mad = 1.4826 * float(np.median(np.abs(v - med)))
    return float(max(floor, np.quantile(v, QUANTILE), med + ROBUST_Z * mad))


def learn_rules(m: Measures, base: Baselines, share: float = DEFAULT_SHARE) -> RiskRules:
    """The thresholds of this shop, from its own customers."""
    tab = m.table
    th = {p: threshold(tab[p], FLOORS[p]) for p in PATTERNS if p in tab}
    for p in ("returns", "price"):
        if p in th:
            th[p] = min(th[p], SHARE_CAP)
    score, _ = ecod(_outlier_features(tab))
    s = score.to_numpy()
    med = float(np.median(s)) if len(s) else 0.0
    ecod_th = float(max(np.quantile(s, ECOD_QUANTILE) if len(s) else 0.0,
                        med + ECOD_Z * 1.4826 * float(np.median(np.abs(s - med))) if len(s) else 0.0))
    return RiskRules(th, base, ecod_th, share, int(len(tab)))


def _outlier_features(tab: pd.DataFrame) -> pd.DataFrame:
    f = tab[[p for p in PATTERNS if p in tab]].copy()
    orders = tab["orders"].clip(lower=1)
    f["value_per_order"] = tab["bought"] / orders
    f["lines_per_order"] = tab["lines"] / orders
    return f.astype("float64").fillna(0.0)


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 10 or float(v).is_integer() else f"{v:,.1f}"


def _pct(v: float) -> str:
    return f"{100 * v:.0f}%" if v >= 0.01 or v == 0 else f"{100 * v:.1f}%"


def pattern_reason(pattern: str, row: pd.Series, rules: RiskRules) -> str:
    """One pattern's reason for one customer, in words."""
    if pattern == "returns":
        return t("returned {share} of what they bought in {n} returns (shop: {shop})", share=_pct(row["returns"]),
                 n=int(row["returns_n"]), shop=_pct(rules.baselines.return_share))
    if pattern == "bulk" and int(row["bulk_orders"]) == 1:
        return t("bought {units} units of {product} in one order (usual: {usual})", units=_num(row["bulk_units"]),
                 product=row["bulk_product"], usual=_num(row["bulk_usual"]))
    if pattern == "bulk":
        return t("bought {units} units of {product} in {orders} orders (usual: {usual})", units=_num(row["bulk_units"]),
                 product=row["bulk_product"], orders=int(row["bulk_orders"]), usual=_num(row["bulk_usual"]))
    if pattern == "price":
        return t("paid under half the usual price for {share} of what they bought ({n} lines)",
                 share=_pct(row["price"]), n=int(row["price_lines"]))
    return t("{n} orders within {minutes} minutes", n=int(row["burst"]), minutes=max(1, round(row["burst_minutes"])))


def _feature_word(name: str) -> str:
    return {"returns": t("share returned"), "bulk": t("most of one product (times the usual)"),
            "price": t("share bought at cut prices"), "burst": t("orders within an hour"),
            "value_per_order": t("value per order"), "lines_per_order": t("lines per order")}[name]


def judge(m: Measures, rules: RiskRules, product_basis: str | None = None) -> RiskResult:
    """Score, flag and explain every customer of ``m`` by ``rules``."""
    tab = m.table
    feats = _outlier_features(tab)
    out_score, contrib = ecod(feats)
    sev = pd.DataFrame(index=tab.index)
    for p, th in rules.thresholds.items():
        if p not in tab:
            continue
        hit = tab[p] > th
        if p == "returns":
            hit &= tab["returns_n"] >= MIN_RETURNS
        if p == "price":
            hit &= tab["price_lines"] >= MIN_CUT_LINES
        sev[p] = np.where(hit, tab[p] / th, 0.0)
    hits = {p: int((sev[p] > 0).sum()) for p in sev}
    best = sev.max(axis=1) if len(sev.columns) else pd.Series(0.0, index=tab.index)
    ecod_rank = out_score.rank(pct=True) if len(out_score) else out_score
    # Any named pattern ranks above the outlier score alone: 0.5-1 by how far over its threshold, else 0-0.5.
    score = np.where(best > 0, 0.5 + 0.5 * (1 - 1 / best.clip(lower=1)), 0.499 * ecod_rank)
    evidence = (best > 0) | (out_score > rules.ecod_threshold)
    order = np.lexsort((tab.index.to_numpy(), -score))  # riskiest first, ties by id: deterministic
    top = np.zeros(len(tab), dtype=bool)
    top[order[: int(math.ceil(rules.share * len(tab)))]] = True
    flag = pd.Series(top, index=tab.index) & evidence
    reasons, patt = _reasons(tab, sev, contrib, feats, rules, flag | (best > 0))
    table = pd.DataFrame({"customer_id": tab.index, "risk_score": np.round(score, 4), "risk_flag": flag.to_numpy(),
                          "risk_pattern": patt})
    for i in range(3):
        table[f"risk_reason_{i + 1}"] = [r[i] if len(r) > i else "" for r in reasons]
    table = pd.concat([table.reset_index(drop=True), tab.reset_index(drop=True)],
                      axis=1)
    warnings = []
    if len(tab) < FEW_CUSTOMERS:
        warnings.append(t("Only {n} customers: the risk thresholds, learned from the shop's own customers, are unreliable below about {few}.",
                          n=len(tab), few=FEW_CUSTOMERS))
    return RiskResult(table, rules, hits, dict(m.skipped), product_basis, tuple(warnings))


def _reasons(tab, sev, contrib, feats, rules, explain) -> tuple[list[list[str]], list[str]]:
    typical = feats.median()
    reasons: list[list[str]] = [[] for _ in range(len(tab))]
    patt = [""] * len(tab)
    for i in np.flatnonzero(explain.to_numpy()):  # only the flagged and the over-threshold get words
        cid, row = tab.index[i], tab.iloc[i]
        fired = [p for p in sev.columns if sev.iat[i, sev.columns.get_loc(p)] > 0]
        fired.sort(key=lambda p: -sev.at[cid, p])
        words = [pattern_reason(p, row, rules) for p in fired]
        terms = contrib.iloc[i]
        for f in terms[terms > NOTABLE_TERM].sort_values(ascending=False).index:
            if len(words) >= 3:
                break
            if f in fired:
                continue
            fmt = _pct if f in ("returns", "price") else _num
            words.append(t("unusual for the shop: {feature} {value} (typical: {typical})", feature=_feature_word(f),
                           value=fmt(feats.iat[i, feats.columns.get_loc(f)]), typical=fmt(typical[f])))
        reasons[i] = words[:3]
        patt[i] = fired[0] if fired else "outlier"
    return reasons, patt


def customer_risk(frame: pd.DataFrame, settings: RiskSettings | None = None, customer_col: str | None = None,
                  date_col: str | None = None, amount_col: str | None = None,
                  rules: RiskRules | None = None) -> RiskResult:
    """Risk score, flag and reasons per customer of a transaction log. ``rules``: a saved model's standard
    (default: learned from this log)."""
    settings = settings or RiskSettings()
    if not 0 < settings.share < 1:
        raise DataValidationError(t("The risky share must be between 0 and 1 (e.g. 0.02 for 2%); got {share}.",
                                    share=settings.share))
    cols = infer_transaction_columns(frame, customer_col, date_col, amount_col)
    ol = classify_lines(frame, cols)
    from lib.models.risk.patterns import product_key

    _, basis = product_key(ol, frame)
    m, base = measure(ol, frame, rules.baselines if rules else None)
    if not len(m.table):
        raise DataValidationError(t("No usable order lines (each needs a customer id, a date and an amount)."))
    rules = rules or learn_rules(m, base, settings.share)
    return judge(m, rules, basis)


__all__ = ["RiskResult", "RiskRules", "RiskSettings", "customer_risk", "judge", "learn_rules", "PATTERNS"]
