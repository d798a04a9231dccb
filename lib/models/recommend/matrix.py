"""The customer x item matrices the methods learn from, at one cut-off."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lib.models.recommend.data import _Events


@dataclass(frozen=True)
class _Train:
    """Everything the methods learn from: the events strictly before ``cutoff``."""

    cutoff: float  # days since the epoch
    counts: sp.csr_matrix  # customer x item: number of orders with the item
    weighted: sp.csr_matrix  # the same, each order weighted by 2^(-age / half-life)
    last: sp.csr_matrix | None  # days between the last order with the item and the cutoff, plus one
    popularity: np.ndarray  # customers who bought the item in the last window before the cutoff
    candidates: np.ndarray  # bool per item: bought at least once before the cutoff
    had: sp.csr_matrix | None = None  # customer x item, 1 = in their history: bought, free, returned or cancelled


def _train_matrix(ev: _Events, cutoff: float, window: float, half_life: float, with_last: bool = False) -> _Train:
    """The matrices learnt from, from the events before ``cutoff``; ``with_last`` adds the days since
    each (customer, item)'s last order (only the final lists need it, for their reasons)."""
    m = ev.time < cutoff
    u, i, t = ev.user[m], ev.item[m], ev.time[m]
    shape = (len(ev.customers), len(ev.items))
    counts = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=shape)
    counts.sum_duplicates()
    last = None
    if with_last:
        # Stored as age + 1 so a purchase on the cutoff day is not an implicit zero of the matrix.
        key = u.astype(np.int64) * shape[1] + i
        order = np.argsort(key, kind="stable")
        starts = np.flatnonzero(np.r_[True, key[order][1:] != key[order][:-1]]) if len(key) else np.zeros(0, np.int64)
        latest = np.maximum.reduceat(t[order], starts) if len(key) else np.zeros(0)
        pairs = key[order][starts]
        last = sp.csr_matrix(
            ((cutoff - latest + 1).astype(np.float32), (pairs // shape[1], pairs % shape[1])), shape=shape
        )
    recent = t >= cutoff - window
    recent_matrix = sp.csr_matrix((np.ones(int(recent.sum()), np.float32), (u[recent], i[recent])), shape=shape)
    recent_matrix.sum_duplicates()
    popularity = recent_matrix.getnnz(axis=0).astype(np.float64)  # distinct customers per item
    candidates = counts.getnnz(axis=0) > 0
    return _Train(cutoff, counts, _weighted(ev, cutoff, half_life), last, popularity, candidates, _had(ev, u, i, cutoff))


def _had(ev: _Events, u: np.ndarray, i: np.ndarray, cutoff: float) -> sp.csr_matrix:
    """Customer x item, 1 where the customer had the item before ``cutoff``: bought (``u``, ``i``), or got
    it free, returned or cancelled it. What "new" mode leaves out."""
    m = ev.seen_time < cutoff
    rows, cols = np.concatenate([u, ev.seen_user[m]]), np.concatenate([i, ev.seen_item[m]])
    had = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(ev.customers), len(ev.items)))
    had.sum_duplicates()
    had.data[:] = 1.0
    return had


def _weighted(ev: _Events, cutoff: float, half_life: float) -> sp.csr_matrix:
    """Customer x item orders before ``cutoff``, each weighted 2^(-age / half-life) (1 when infinite)."""
    m = ev.time < cutoff
    age = cutoff - ev.time[m]
    weight = np.exp2(-age / half_life) if np.isfinite(half_life) else np.ones(len(age))
    w = sp.csr_matrix((weight.astype(np.float32), (ev.user[m], ev.item[m])), shape=(len(ev.customers), len(ev.items)))
    w.sum_duplicates()
    return w
