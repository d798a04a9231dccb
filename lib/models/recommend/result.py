"""What recommendations return: the lists, the evaluation that chose the method, and the facts for
report.json."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lib.models.recommend.data import LogColumns
from lib.models.recommend.settings import Hyper


@dataclass(frozen=True)
class Recommendations:
    """Top-K items per customer plus the honest time-split evaluation behind the choice of method.

    ``table``: one row per recommendation, columns id (customer id as text, as in every export), rank,
    item (product code), description ("" when the log has none), score (the method's ranking score:
    higher first, comparable within one list; 0 = a popular item filling the list) and reason (words).
    ``evaluation``: one row per method x mode with hit_rate_at_k, recall_at_k, ndcg_at_k and customers
    on the last ``test_days`` of the log, the validation scores that chose the method, and ``chosen``.
    ``popular``: the items most customers bought in the last ``test_days`` (what a customer who is not
    in the log would get). ``bought_together``: the item pairs most often in one order, with lift."""

    table: pd.DataFrame  # id, rank, item, description, score, reason
    method: str
    mode: str
    k: int
    evaluation: pd.DataFrame  # one row per method x mode
    evaluated_customers: int
    methods_by_mode: dict = field(default_factory=dict)
    hyper: Hyper = field(default_factory=Hyper)
    test_days: int = 90
    items_used: int = 0
    customers: int = 0
    cold_customers: int = 0
    lines_used: int = 0
    lines_left_out: dict = field(default_factory=dict)
    non_product_items: pd.DataFrame = field(default_factory=pd.DataFrame)
    popular: pd.DataFrame = field(default_factory=pd.DataFrame)  # item, description, customers
    bought_together: pd.DataFrame = field(default_factory=pd.DataFrame)
    columns: LogColumns | None = None
    selection: str = ""
    warnings: tuple[str, ...] = ()

    def to_report(self) -> dict:
        """The facts for report.json: the chosen method's test-window scores next to the baselines.
        Scores the log cannot give (nothing to evaluate) are null; a null ``half_life_days`` among the
        hyper-parameters means no recency decay (every order counts the same)."""
        ev = self.evaluation

        def scores(method: str) -> dict:
            row = ev[(ev["method"] == method) & (ev["mode"] == self.mode)]
            if row.empty:
                return {"hit_rate_at_k": None, "recall_at_k": None, "ndcg_at_k": None}
            r = row.iloc[0]
            return {m: _num(r[m]) for m in ("hit_rate_at_k", "recall_at_k", "ndcg_at_k")}

        chosen = scores(self.method)
        return {
            "method": self.method,
            "k": self.k,
            "mode": self.mode,
            "evaluated_customers": self.evaluated_customers,
            **chosen,
            "baselines": {"popularity": scores("popularity"), "repeat": scores("repeat")},
            "methods_by_mode": dict(self.methods_by_mode),
            "selection": self.selection,
            "test_days": self.test_days,
            "evaluation": [
                {k: (_num(v) if isinstance(v, float | np.floating) else v) for k, v in row.items()}
                for row in ev.to_dict("records")
            ],
            "hyper_parameters": {k: _num(v) for k, v in vars(self.hyper).items()},
            "items_used": self.items_used,
            "customers": self.customers,
            "cold_customers": self.cold_customers,
            "lines_used": self.lines_used,
            "lines_left_out": dict(self.lines_left_out),
            "non_product_items": self.non_product_items["item"].tolist() if len(self.non_product_items) else [],
            "warnings": list(self.warnings),
        }


def _num(v):
    if v is None or (isinstance(v, float | np.floating) and not np.isfinite(v)):
        return None
    if isinstance(v, np.integer | int) and not isinstance(v, bool):
        return int(v)
    return round(float(v), 4)
