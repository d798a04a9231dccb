"""Recommendations: what to offer each customer, learned from the order-line log (issue #14).

A customer x product matrix is built from the log's sales: cancellations, returns, free lines and
non-product lines (postage, fees, manual adjustments) are left out, as ``lib.data.orders`` classifies
them for every step. Five methods score every product for every customer:

- ``popularity``: what most customers bought in the last ``test_days`` (the cold-start answer);
- ``repeat``: the customer's own items, most bought and most recent first (replenishment);
- ``neighbours``: item-item cosine neighbours of the customer's items ("who buy A also buy B");
- ``als``: implicit-feedback matrix factorisation (the ``implicit`` package);
- ``blend``: the customer's own items first, then ALS for the remaining slots.

Two modes: ``"all"`` (what they will buy next, their own items included: repeat purchases dominate
retail, so hiding them loses to a trivial baseline) and ``"new"`` (discovery: never an item of the
customer's history, whether bought, received free, returned or cancelled).

Evaluation is honest and built in: the log is cut in time (T = the day after its last line, N =
``test_days``). Hit rate, recall and NDCG at K are measured on customers who bought in a window and
had bought before it. Hyper-parameters (repeat half-life, neighbours k, ALS factors / regularisation /
alpha, the blend's own-item slots) are tuned on an EARLIER split only: train before T-2N, validate on
[T-2N, T-N). The reported numbers come from the untouched last N days: train before T-N, test
[T-N, T). The final lists are then refitted on all the data.

Method selection ("auto"), per mode: the method with the best validation hit rate@K (ties, to three
decimals, go to the better NDCG, then to the simpler method in ``METHODS`` order). It is chosen on the
earlier split, so the evaluation score of the chosen method is not inflated by the choice. If the log
is too short for an earlier split, the evaluation window chooses (with a warning that its score is
then optimistic); if nothing can be evaluated, "repeat" serves "all" and "neighbours" serves "new".
"""

from __future__ import annotations

from lib.models.recommend.data import (
    LogColumns,
    log_columns,
)
from lib.models.recommend.reasons import (
    _repeat_reasons,
    _similar_reasons,
)
from lib.models.recommend.result import (
    Recommendations,
)
from lib.models.recommend.settings import (
    DAY,
    METHODS,
    MODES,
    Hyper,
    RecommendSettings,
)
from lib.models.recommend.step import (
    recommend,
)
from lib.models.recommend.tables import (
    bought_together,
    offers_for,
    top_items_by_segment,
)

__all__ = [
    "_repeat_reasons",
    "_similar_reasons",
    "bought_together",
    "DAY",
    "Hyper",
    "log_columns",
    "LogColumns",
    "METHODS",
    "MODES",
    "offers_for",
    "recommend",
    "Recommendations",
    "RecommendSettings",
    "top_items_by_segment",
]
