"""Top-K lists and the honest time-split evaluation: hit rate, recall and NDCG at K on a window the
methods never saw."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lib.models.recommend.data import _Events
from lib.models.recommend.matrix import _Train, _train_matrix
from lib.models.recommend.settings import MODES

_BATCH = 2048
# Evaluation customers are sampled (fixed seed) above this many: the hit rate's standard error is then
# under 0.5 points, and the evaluation stays a small share of the run on logs with millions of lines.
_MAX_EVAL_CUSTOMERS = 10_000


def _largest_inplace(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the ``k`` largest values of each row, largest first, the lowest
    column index winning ties. ``x`` is overwritten.

    For small ``k``, ``k`` passes of ``argmax`` are several times faster than ``argpartition``."""
    rows = np.arange(len(x))
    if k <= 32:
        idx = np.empty((len(x), k), dtype=np.int64)
        val = np.empty((len(x), k), dtype=x.dtype)
        for j in range(k):
            best = x.argmax(axis=1)
            idx[:, j] = best
            val[:, j] = x[rows, best]
            x[rows, best] = -np.inf
        return idx, val
    top = np.argpartition(x, x.shape[1] - k, axis=1)[:, x.shape[1] - k:]
    v = np.take_along_axis(x, top, axis=1)
    order = np.lexsort((top, -v), axis=-1)
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(v, order, axis=1)


def _top_k(model, train: _Train, users: np.ndarray, k: int, modes: tuple[str, ...]) -> dict:
    """Per mode, the top-``k`` items of ``users``: (items, method scores, valid), each (users, k).

    Only items bought before the cut-off are candidates (so an item first sold in a test window cannot
    be recommended in its evaluation); in "new" mode an item of the customer's history never is. A
    score of 0 (or an ALS score below 0) means the method has nothing to say: such slots, and ties, go to the most popular
    items, because the candidates are laid out most popular first and the first column wins a tie.
    The model is scored once for all modes."""
    cand = np.flatnonzero(train.candidates)
    layout = cand[np.argsort(-train.popularity[cand], kind="stable")]
    position = np.full(len(train.candidates), -1, dtype=np.int64)
    position[layout] = np.arange(len(layout))
    k = min(k, len(layout))
    out = {m: (np.zeros((len(users), k), np.int64), np.zeros((len(users), k)), np.zeros((len(users), k), bool))
           for m in modes}
    if k == 0:
        return out
    for s in range(0, len(users), _BATCH):
        b = users[s:s + _BATCH]
        x = np.ascontiguousarray(model.scores(b, layout), dtype=np.float32)
        np.maximum(x, 0.0, out=x)
        for n, mode in enumerate(modes):
            y = x if n == len(modes) - 1 else x.copy()
            if mode == "new":
                # Everything in the customer's history, not only what they bought (an item never sold to
                # anyone before the cut-off is not laid out at all).
                had = train.had[b]
                at = position[had.indices]
                row = np.repeat(np.arange(len(b)), np.diff(had.indptr))
                y[row[at >= 0], at[at >= 0]] = -np.inf
            top, val = _largest_inplace(y, k)
            items, scores, valid = out[mode]
            items[s:s + _BATCH] = layout[top]
            scores[s:s + _BATCH] = np.maximum(val, 0.0)
            valid[s:s + _BATCH] = np.isfinite(val)
    return out


@dataclass(frozen=True)
class _Holdout:
    train: _Train
    users: np.ndarray  # customers who bought in the window and had history before it
    relevant: dict  # mode -> customer x item csr (rows of ``users``): what they bought in the window


def _holdout(ev: _Events, start: float, days: float, half_life: float, seed: int) -> _Holdout:
    """Train on everything before ``start``; test on [start, start + days)."""
    train = _train_matrix(ev, start, days, half_life)
    m = (ev.time >= start) & (ev.time < start + days)
    shape = (len(ev.customers), len(ev.items))
    test = sp.csr_matrix((np.ones(int(m.sum()), np.float32), (ev.user[m], ev.item[m])), shape=shape)
    test.sum_duplicates()
    test.data[:] = 1.0
    history = train.counts.getnnz(axis=1) > 0
    users = np.flatnonzero((test.getnnz(axis=1) > 0) & history)
    if len(users) > _MAX_EVAL_CUSTOMERS:
        users = np.sort(np.random.default_rng(seed).choice(users, _MAX_EVAL_CUSTOMERS, replace=False))
    bought = test[users]
    new = (bought - bought.multiply(train.had[users])).tocsr()
    new.eliminate_zeros()
    return _Holdout(train, users, {"all": bought.tocsr(), "new": new})


def _evaluate(model, h: _Holdout, k: int) -> dict:
    """Hit rate, recall and NDCG at ``k`` per mode, over the holdout customers with something to find
    in that mode (in "new" mode: an item they had never bought). Recall divides by all the items they
    bought in the window; NDCG's ideal is min(bought, k) hits at the top."""
    tops = _top_k(model, h.train, h.users, k, MODES)
    result = {}
    for mode, (items, _, valid) in tops.items():
        rel_matrix = h.relevant[mode]
        n_rel = rel_matrix.getnnz(axis=1)
        has = n_rel > 0
        if not has.any() or items.shape[1] == 0:
            result[mode] = {"hit_rate_at_k": np.nan, "recall_at_k": np.nan, "ndcg_at_k": np.nan, "customers": 0}
            continue
        rel = np.zeros(items.shape, dtype=bool)
        for s in range(0, len(items), _BATCH):
            block = rel_matrix[s:s + _BATCH].toarray() > 0
            rel[s:s + _BATCH] = np.take_along_axis(block, items[s:s + _BATCH], axis=1)
        rel &= valid
        rel, n = rel[has], n_rel[has]
        discount = 1.0 / np.log2(np.arange(2, items.shape[1] + 2))
        ideal = np.cumsum(discount)[np.minimum(n, items.shape[1]) - 1]
        result[mode] = {
            "hit_rate_at_k": float(rel.any(axis=1).mean()),
            "recall_at_k": float((rel.sum(axis=1) / n).mean()),
            "ndcg_at_k": float(((rel * discount).sum(axis=1) / ideal).mean()),
            "customers": int(has.sum()),
        }
    return result


def _better(a: dict, b: dict | None) -> bool:
    """Is metrics ``a`` strictly better than ``b``: hit rate first, NDCG on a tie (3 decimals)."""
    if b is None:
        return True
    ka = (round(_nan0(a["hit_rate_at_k"]), 3), round(_nan0(a["ndcg_at_k"]), 3))
    kb = (round(_nan0(b["hit_rate_at_k"]), 3), round(_nan0(b["ndcg_at_k"]), 3))
    return ka > kb


def _nan0(v: float) -> float:
    return 0.0 if v is None or not np.isfinite(v) else float(v)
