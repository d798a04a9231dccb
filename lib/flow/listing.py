"""Who goes on the list, and in what order: one policy for ``run``, ``score`` (in memory, streamed or on
Dask) and the Target list page.

Four orders a marketer can ask for:

- ``score``: the likeliest to respond first;
- ``uplift``: the customers the campaign changes most first (needs an uplift model);
- ``expected_profit``: score × the customer's predicted value − cost (needs customer value);
- ``uplift_value``: uplift × predicted value − cost (needs both).

``auto`` (the default everywhere) ranks by uplift when an uplift model exists *and beat random on
customers it never saw*, otherwise by score — with a warning when an uplift model was there but could
not tell who the campaign changes. A saved model file records whether its uplift model beat random, so
``score`` on a new file ranks it the way ``run`` ranked the training file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from lib.act.targeting import ListSpec, TargetList, build_list
from lib.errors import DataValidationError
from lib.text.i18n import t

AUTO = "auto"
RANK_BY = ("score", "uplift", "expected_profit", "uplift_value")
PROFIT_COL = "expected_profit"
VALUE_COL = "predicted_value"


@dataclass(frozen=True)
class Ranking:
    """How a list is ordered: ``score_col`` is what one contact is expected to bring (a response
    probability, or an uplift: then the list's expected responders are the *extra* ones); ``rank_col``
    orders the list when it is not ``score_col`` (expected profit)."""

    by: str
    score_col: str
    rank_col: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def needs_value(self) -> bool:
        return self.rank_col == PROFIT_COL


def choose_ranking(asked: str | None = AUTO, *, uplift: bool = False, uplift_beats_random: bool = False,
                   value: bool = False) -> Ranking:
    """The order of the list from what was asked and what the run has.

    ``uplift``: an uplift model scored these customers; ``uplift_beats_random``: it beat random on its
    holdout (the permutation test); ``value``: each customer has a predicted value.
    """
    asked = asked or AUTO
    if asked not in (AUTO, *RANK_BY):
        raise DataValidationError(t("The list can be ranked by {options}; got '{asked}'.",
                                    options=", ".join((AUTO, *RANK_BY)), asked=asked))
    weak = t("The uplift model does not beat random on customers it never saw: the data cannot tell who the "
             "campaign changes.")
    if asked == AUTO:
        if uplift and uplift_beats_random:
            return Ranking("uplift", "uplift")
        notes = (t("The list is ranked by score, not uplift: the data cannot tell who the campaign changes."),) \
            if uplift else ()
        return Ranking("score", "score", warnings=notes)
    by_uplift = asked in ("uplift", "uplift_value")
    if by_uplift and not uplift:
        raise DataValidationError(t("Ranking by uplift needs an uplift model: learn one from a campaign's results "
                                    "(a treatment column and a control group) first."))
    if asked in ("expected_profit", "uplift_value") and not value:
        raise DataValidationError(t("Ranking by expected profit needs each customer's predicted value: predict "
                                    "customer value from a transaction log first."))
    notes = (weak,) if by_uplift and not uplift_beats_random else ()
    return Ranking(asked, "uplift" if by_uplift else "score",
                   PROFIT_COL if asked in ("expected_profit", "uplift_value") else None, notes)


def with_uplift_by_id(base: pd.DataFrame, ids: np.ndarray, uplift: np.ndarray) -> pd.DataFrame:
    """A list base (any row order) with each customer's uplift, matched by id."""
    lookup = pd.Series(np.asarray(uplift), index=ids)
    lookup = lookup[~lookup.index.duplicated()]
    return base.assign(uplift=lookup.reindex(base["id"].to_numpy()).to_numpy())


def with_value_by_id(base: pd.DataFrame, value_table: pd.DataFrame) -> pd.DataFrame:
    """A list base with each customer's predicted value and churn risk, matched by id
    (``value_table``: ``customer_id``, ``predicted_value``, ``churn_risk``)."""
    v = value_table.set_index("customer_id")
    ids = base["id"].to_numpy()
    return base.assign(**{VALUE_COL: v[VALUE_COL].reindex(ids).to_numpy(),
                          "churn_risk": v["churn_risk"].reindex(ids).to_numpy()})


def ranked_base(base: pd.DataFrame, ranking: Ranking, cost_per_contact: float = 0.0) -> pd.DataFrame:
    """The columns the ranking orders by: expected profit = (score or uplift) × predicted value − cost."""
    if ranking.score_col not in base.columns:
        if ranking.by == "score":
            return base  # no model: a list by segments and columns only, in file order
        raise DataValidationError(t("The customers have no '{col}' to rank the list by.", col=ranking.score_col))
    if not ranking.needs_value:
        return base
    if VALUE_COL not in base.columns:
        raise DataValidationError(t("Ranking by expected profit needs each customer's predicted value: predict "
                                    "customer value from a transaction log first."))
    return base.assign(**{PROFIT_COL: base[ranking.score_col] * base[VALUE_COL].fillna(0.0) - cost_per_contact})


def make_list(base: pd.DataFrame, spec: ListSpec, ranking: Ranking) -> TargetList:
    """The list: filters, then the best by the ranking, then the control group. With customer values
    present, the list's expected profit counts each customer's own value."""
    base = ranked_base(base, ranking, spec.cost_per_contact)
    if VALUE_COL in base.columns and spec.value_col is None:
        spec = replace(spec, value_col=VALUE_COL)
    return build_list(base, spec, score_col=ranking.score_col, rank_col=ranking.rank_col)


def listing_report(tl: TargetList, ranking: Ranking) -> dict:
    """report.json's ``targeting``: the same keys from every engine."""
    return {
        "selected": tl.selected,
        "control": tl.control,
        "expected_responders": None if np.isnan(tl.expected_responders) else round(tl.expected_responders, 2),
        "expected_profit": None if tl.expected_profit is None else round(tl.expected_profit, 2),
        "excluded": tl.excluded_counts,
        "ranked_by": ranking.by,
        "seed": tl.spec.seed,
    }
