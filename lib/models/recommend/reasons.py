"""Why each item is offered, in words: the customer's own purchases, the items like theirs, or popularity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lib.models.recommend.data import _Events
from lib.models.recommend.matrix import _Train
from lib.models.recommend.methods import _Blend
from lib.text.i18n import t


def _table(ev: _Events, train: _Train, model, method: str, users: np.ndarray, items: np.ndarray,
           scores: np.ndarray, valid: np.ndarray, days: int) -> pd.DataFrame:
    """The long table (id, rank, item, description, score, reason), one row per recommendation."""
    rows, slot = np.nonzero(valid)
    if len(rows) == 0:
        return pd.DataFrame({c: pd.Series(dtype=d) for c, d in
                             [("id", str), ("rank", np.int64), ("item", str), ("description", str), ("score", float), ("reason", str)]})
    u = users[rows]
    i = items[rows, slot]
    score = scores[rows, slot]
    names = np.where(ev.descriptions != "", ev.descriptions, ev.items).astype(object)
    times = np.asarray(train.counts[u, i]).ravel().astype(np.int64)
    ago = np.asarray(train.last[u, i]).ravel() - 1.0
    history = train.counts.getnnz(axis=1) > 0
    owned = times > 0
    similar = ~owned & (score > 0) & (method in ("neighbours", "als", "blend")) & history[u]
    reason = np.empty(len(u), dtype=object)
    reason[owned] = _repeat_reasons(names[i[owned]], times[owned], ago[owned])
    explainer = model.als if isinstance(model, _Blend) else model
    if similar.any():
        first, second = _contributors(explainer, train.weighted, u[similar], i[similar])
        reason[similar] = _similar_reasons(names, first, second)
    popular = ~owned & ~similar
    reason[popular & history[u]] = t("popular with all customers in the last {days} days", days=days)
    reason[popular & ~history[u]] = t("popular with all customers in the last {days} days (no purchase history yet)",
                                      days=days)
    return pd.DataFrame({
        "id": ev.customers[u],
        "rank": (slot + 1).astype(np.int64),
        "item": ev.items[i],
        "description": ev.descriptions[i],
        "score": _significant(score, 4),
        "reason": reason.astype(str),
    })


def _significant(x: np.ndarray, digits: int) -> np.ndarray:
    """Rounded to ``digits`` significant digits: a recency-weighted count of 0.00012 stays readable."""
    x = np.asarray(x, dtype=np.float64)
    mag = np.where(x != 0, np.floor(np.log10(np.abs(np.where(x != 0, x, 1.0)))), 0.0)
    scale = 10.0 ** (digits - 1 - mag)
    return np.round(x * scale) / scale


def _in_words(values: np.ndarray, say) -> np.ndarray:
    """``say(v)`` for each distinct value, spread back to every row (a few words for 100k rows)."""
    uniq, inverse = np.unique(values, return_inverse=True)
    return np.array([say(v) for v in uniq.tolist()], dtype=object)[inverse.ravel()]


def _times(n: np.ndarray) -> np.ndarray:
    return _in_words(np.asarray(n, dtype=np.int64), lambda v: t("once") if v == 1 else t("twice") if v == 2
                     else t("{n} times", n=v))


# How long ago, per unit, singular and plural (one message each, so any language words it its own way).
_AGO = {
    "day": (lambda n: t("{n} day ago", n=n), lambda n: t("{n} days ago", n=n)),
    "week": (lambda n: t("{n} week ago", n=n), lambda n: t("{n} weeks ago", n=n)),
    "month": (lambda n: t("{n} month ago", n=n), lambda n: t("{n} months ago", n=n)),
    "year": (lambda n: t("{n} year ago", n=n), lambda n: t("{n} years ago", n=n)),
}
_UNITS = ("day", "week", "month", "year")


def _ago(days: np.ndarray) -> np.ndarray:
    """Days before the end of the log, in words ("3 weeks ago"); measured to the day after the last line."""
    d = np.maximum(1, np.ceil(days)).astype(np.int64)
    value = np.select([d < 14, d < 60, d < 730], [d, np.rint(d / 7), np.rint(d / 30.44)], np.rint(d / 365.25)).astype(np.int64)
    unit = np.select([d < 14, d < 60, d < 730], [0, 1, 2], 3)
    return _in_words(value * 4 + unit, lambda key: _AGO[_UNITS[key % 4]][key // 4 != 1](key // 4))


def _repeat_reasons(names: np.ndarray, times: np.ndarray, ago: np.ndarray) -> np.ndarray:
    # "bought JUMBO BAG RED RETROSPOT 6 times, last 3 weeks ago"; "bought X once, 2 months ago"
    once, often = t("bought {item} {times}, {ago}"), t("bought {item} {times}, last {ago}")
    return np.array([(once if n == 1 else often).format(item=a, times=b, ago=c)
                     for a, n, b, c in zip(names, times, _times(times), _ago(ago))], dtype=object)


def _similar_reasons(names: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    out = np.empty(len(first), dtype=object)
    for r, (a, b) in enumerate(zip(first, second)):
        if a < 0:
            out[r] = t("customers with baskets like this customer's also buy this")
        elif b < 0:
            out[r] = t("customers who buy {item} also buy this", item=names[a])
        else:
            out[r] = t("customers who buy {item} and {other} also buy this", item=names[a], other=names[b])
    return out


def _contributors(model, weighted: sp.csr_matrix, u: np.ndarray, i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each (customer u, recommended item i): the two owned items that contribute most, weight of
    the owned item x its similarity to i (exactly the neighbours' score terms; for ALS, the cosine of
    the item factors). -1 where there is no positive contribution."""
    first = np.full(len(u), -1, dtype=np.int64)
    second = np.full(len(u), -1, dtype=np.int64)
    indptr, indices, data = weighted.indptr, weighted.indices, weighted.data
    lens = (indptr[u + 1] - indptr[u]).astype(np.int64)
    similarity = model.similarity_matrix()
    # Rows in chunks of about 2M (row, owned item) pairs, to bound memory on large logs.
    chunk = np.cumsum(lens) // 2_000_000
    bounds = np.r_[0, np.flatnonzero(np.diff(chunk)) + 1, len(u)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        n = lens[a:b]
        if n.sum() == 0:
            continue
        offsets = np.r_[0, np.cumsum(n)[:-1]]
        rep = np.repeat(np.arange(b - a), n)
        pos = indptr[u[a:b]][rep] + (np.arange(int(n.sum())) - offsets[rep])
        j = indices[pos]
        target = i[a:b][rep]
        sim = similarity[j, target] if similarity is not None else model.pair_similarity(j, target)
        val = data[pos].astype(np.float64) * sim
        val[j == target] = -np.inf
        rows = np.flatnonzero(n > 0)
        starts = offsets[rows]
        position = np.arange(len(val))
        for out in (first, second):
            # The best entry of each row: its maximum, first position on ties (lowest item index).
            best = np.maximum.reduceat(val, starts)
            at = np.minimum.reduceat(np.where(val == best[rep], position, len(val)), starts)
            ok = (best > 0) & np.isfinite(best)
            out[a:b][rows[ok]] = j[at[ok]]
            val[at] = -np.inf
    return first, second
