"""Risk control: which customers abuse returns, sweep stock, buy at glitch prices or order by script,
with the reason in words (issue 24).

Each named pattern (``patterns``) is a number per customer; its threshold comes from the shop's own
distribution (a high quantile and a robust z-score, never below a floor, so a clean shop flags few) and is
kept in a frozen ``RiskRules`` with the shop's usual quantities and prices, so a saved model judges next
month's file by the same standard. An ECOD outlier score (``outlier``) catches what the patterns miss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from lib.data.orders import classify_lines, infer_transaction_columns
from lib.errors import DataValidationError
from lib.models.risk.orders import ORDER_COLUMNS, flagged_orders
from lib.models.risk.outlier import ecod
from lib.models.risk.patterns import PATTERNS, Baselines, Measures, measure
from lib.models.risk.reasons import customer_reasons
from lib.text.i18n import t

# Floors: a pattern never fires below these, however clean the shop (returning half of what one bought,
# four items back within two weeks of buying them, ten times the usual quantity, half of one's buying at
# cut prices, five orders in an hour; on a customer table: a contact detail two others share too, one
# implausible combination of values).
FLOORS = {"returns": 0.5, "quick_returns": 3.0, "bulk": 10.0, "price": 0.5, "burst": 5.0,
          "shared_contact": 1.0, "implausible": 0.5}
# pattern -> (measure, least value): one returned order is not a serial returner, nor is one line bought
# at a cut price a price abuser.
MINIMUM = {"returns": ("returns_n", 2), "price": ("price_lines", 2)}
SHARE_CAP = 0.95  # a share's threshold stays reachable even where most customers sit at 100%
QUANTILE = 0.99
ROBUST_Z = 3.5
FEW_CUSTOMERS = 200
# The outlier score alone flags a customer only far out in its own distribution (no pattern needed).
ECOD_QUANTILE, ECOD_Z = 0.995, 5.0
DEFAULT_SHARE = 0.02
LEVELS = ("customer", "order")  # risk.csv's level column: a flagged customer, or one of their orders


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
    kind: str = "log"  # "log": order-line patterns; "table": a customer table's (lib.models.risk.table)
    extra: dict = field(default_factory=dict)  # a customer table's learned relations and contact columns

    def to_dict(self) -> dict:
        b = self.baselines
        return {"kind": self.kind, "thresholds": self.thresholds, "ecod_threshold": self.ecod_threshold,
                "share": self.share, "customers": self.customers, "usual_quantity": b.usual_quantity,
                "usual_price": b.usual_price, "return_share": b.return_share, "extra": self.extra}

    @classmethod
    def from_dict(cls, d: dict) -> RiskRules:
        return cls(dict(d["thresholds"]), Baselines(dict(d["usual_quantity"]), dict(d["usual_price"]),
                                                    float(d["return_share"])),
                   float(d["ecod_threshold"]), float(d["share"]), int(d["customers"]), str(d.get("kind", "log")),
                   dict(d.get("extra") or {}))


@dataclass(frozen=True)
class RiskResult:
    table: pd.DataFrame  # customer_id, risk_score, risk_flag, risk_reason_1..3, risk_pattern, + measures
    rules: RiskRules
    hits: dict  # pattern -> customers over its threshold
    skipped: dict  # pattern -> why it was not computed
    product_basis: str | None  # the category column standing in for products, when the log has none
    warnings: tuple[str, ...] = ()
    orders: pd.DataFrame | None = None  # the flagged customers' suspicious orders (``ORDER_COLUMNS``)
    rules_from: str = "this file"  # or "model file": the thresholds a saved model carried

    @property
    def flagged(self) -> pd.DataFrame:
        return self.table[self.table["risk_flag"]]

    def flagged_customers(self) -> pd.DataFrame:
        """The flagged customers, riskiest first, with the pattern and reasons."""
        cols = ["customer_id", "risk_score", "risk_pattern", "risk_reason_1", "risk_reason_2", "risk_reason_3"]
        return self.flagged[cols].sort_values(["risk_score", "customer_id"], ascending=[False, True])

    def flagged_orders(self) -> pd.DataFrame:
        """The flagged customers' suspicious orders with the customer's score, riskiest customer first."""
        orders = self.orders if self.orders is not None else pd.DataFrame(columns=[*ORDER_COLUMNS, "placed"])
        score = self.table.set_index("customer_id")["risk_score"]
        out = orders.assign(risk_score=score.reindex(orders["customer_id"]).to_numpy())
        out = out.sort_values(["risk_score", "customer_id", "placed", "order_id", "risk_pattern"],
                              ascending=[False, True, True, True, True], kind="stable")
        return out[["customer_id", "order_id", "risk_score", "risk_pattern", "risk_reason_1"]]

    def flagged_table(self) -> pd.DataFrame:
        """risk.csv: each flagged customer (``level`` customer) followed by their suspicious orders (``level``
        order, with ``order_id``), riskiest customer first, each with its pattern and reasons."""
        cust = self.flagged_customers().assign(level="customer", order_id="")
        orders = self.flagged_orders().assign(level="order", risk_reason_2="", risk_reason_3="")
        both = pd.concat([cust, orders], ignore_index=True)
        both["_level"] = both["level"].map({lv: i for i, lv in enumerate(LEVELS)})
        # Stable: a customer's orders stay in the order they were placed.
        both = both.sort_values(["risk_score", "customer_id", "_level"], ascending=[False, True, True], kind="stable")
        cols = ["level", "customer_id", "order_id", "risk_score", "risk_pattern", "risk_reason_1", "risk_reason_2",
                "risk_reason_3"]
        return both[cols].reset_index(drop=True)

    def to_report(self) -> dict:
        flagged = self.flagged
        named = (*PATTERNS, "shared_contact", "implausible") if self.rules.kind == "table" else PATTERNS
        named = [p for p in named if p in self.rules.thresholds or p in self.skipped]
        orders = self.orders if self.orders is not None else pd.DataFrame(columns=list(ORDER_COLUMNS))
        return {
            "customers": int(len(self.table)), "flagged": int(len(flagged)), "share": self.rules.share,
            "flagged_by_pattern": {p: int((flagged["risk_pattern"] == p).sum()) for p in (*named, "outlier")},
            "over_threshold": self.hits,
            "flagged_orders": int(orders["order_id"].nunique()),
            "flagged_orders_by_pattern": {p: int(n) for p, n in orders["risk_pattern"].value_counts().items()},
            "thresholds": {k: round(float(v), 4) for k, v in self.rules.thresholds.items()},
            "thresholds_from": self.rules_from, "learned_from_customers": self.rules.customers,
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


def outlier_score(m: Measures) -> tuple[pd.Series, pd.DataFrame]:
    """ECOD's (score, contributions) per customer of ``m``."""
    return ecod(m.outlier if m.outlier is not None else _outlier_features(m.table))


def learn_rules(m: Measures, base: Baselines, share: float = DEFAULT_SHARE,
                scored: tuple[pd.Series, pd.DataFrame] | None = None) -> RiskRules:
    """The thresholds of this shop, from its own customers (``scored``: ``outlier_score(m)``, when known)."""
    tab = m.table
    th = {p: threshold(tab[p], FLOORS[p]) for p in FLOORS if p in tab}
    for p in ("returns", "price"):
        if p in th:
            th[p] = min(th[p], SHARE_CAP)
    score, _ = scored or outlier_score(m)
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


def judge(m: Measures, rules: RiskRules, product_basis: str | None = None,
          scored: tuple[pd.Series, pd.DataFrame] | None = None) -> RiskResult:
    """Score, flag and explain every customer of ``m`` by ``rules`` (``scored``: ``outlier_score(m)``)."""
    tab = m.table
    feats = m.outlier if m.outlier is not None else _outlier_features(tab)
    out_score, contrib = scored or ecod(feats)
    sev = pd.DataFrame(index=tab.index)
    for p, th in rules.thresholds.items():
        if p not in tab:
            continue
        hit = tab[p].to_numpy() > th
        if p in MINIMUM:
            hit &= tab[MINIMUM[p][0]].to_numpy() >= MINIMUM[p][1]
        sev[p] = np.where(hit, tab[p].to_numpy() / th, 0.0)
    hits = {p: int((sev[p] > 0).sum()) for p in sev}
    best = sev.to_numpy().max(axis=1) if len(sev.columns) else np.zeros(len(tab))
    ecod_rank = out_score.rank(pct=True).to_numpy() if len(out_score) else out_score.to_numpy()
    # Any named pattern ranks above the outlier score alone: 0.5-1 by how far over its threshold, else 0-0.5.
    score = np.where(best > 0, 0.5 + 0.5 * (1 - 1 / np.clip(best, 1, None)), 0.499 * ecod_rank)
    evidence = (best > 0) | (out_score.to_numpy() > rules.ecod_threshold)
    order = np.lexsort((tab.index.to_numpy(), -score))  # riskiest first, ties by id: deterministic
    top = np.zeros(len(tab), dtype=bool)
    top[order[: int(math.ceil(rules.share * len(tab)))]] = True
    flag = top & evidence
    reasons, patt = customer_reasons(tab, sev, contrib, feats, rules.baselines.return_share, flag | (best > 0))
    table = pd.DataFrame({"customer_id": tab.index, "risk_score": np.round(score, 4), "risk_flag": flag,
                          "risk_pattern": patt})
    for i in range(3):
        table[f"risk_reason_{i + 1}"] = reasons[i]
    table = pd.concat([table.reset_index(drop=True), tab.reset_index(drop=True)], axis=1)
    orders = flagged_orders(m.lines, tab.reset_index(drop=True), sev.reset_index(drop=True), flag, rules.baselines,
                            m.gaps)
    warnings = []
    if len(tab) < FEW_CUSTOMERS:
        warnings.append(t("Only {n} customers: the risk thresholds, learned from the shop's own customers, are unreliable below about {few}.",
                          n=len(tab), few=FEW_CUSTOMERS))
    return RiskResult(table, rules, hits, dict(m.skipped), product_basis, tuple(warnings), orders)


def customer_risk(frame: pd.DataFrame, settings: RiskSettings | None = None, customer_col: str | None = None,
                  date_col: str | None = None, amount_col: str | None = None,
                  rules: RiskRules | None = None, line_rules=None) -> RiskResult:
    """Risk score, flag and reasons per customer of a transaction log. ``rules``: a saved model's standard
    (default: learned from this log); ``line_rules``: the log's ``lib.data.orders.LineRules`` when the
    roll-up has learned them already (learning them is a third of the time at a million customers)."""
    settings = settings or RiskSettings()
    if not 0 < settings.share < 1:
        raise DataValidationError(t("The risky share must be between 0 and 1 (e.g. 0.02 for 2%); got {share}.",
                                    share=settings.share))
    cols = infer_transaction_columns(frame, customer_col, date_col, amount_col)
    ol = classify_lines(frame, cols, line_rules)
    m, base = measure(ol, frame, rules.baselines if rules else None)
    basis = m.lines.basis
    if not len(m.table):
        raise DataValidationError(t("No usable order lines (each needs a customer id, a date and an amount)."))
    saved = rules is not None
    scored = outlier_score(m)  # once: the thresholds and the judgement read the same scores
    rules = rules or learn_rules(m, base, settings.share, scored)
    return replace(judge(m, rules, basis, scored), rules_from="model file" if saved else "this file")


__all__ = ["RiskResult", "RiskRules", "RiskSettings", "customer_risk", "judge", "learn_rules", "PATTERNS"]
