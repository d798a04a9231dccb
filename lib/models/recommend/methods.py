"""The methods: each is a fitted object with ``scores(users, columns) -> dense (len(users), len(columns))``
(``columns`` are item indices, in the order the caller wants them; higher score = better)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from lib.compute import usable_cores
from lib.models.recommend.matrix import _Train
from lib.models.recommend.settings import Hyper


class _Popularity:
    def __init__(self, train: _Train):
        self.p = train.popularity / max(1.0, float((train.counts.getnnz(axis=1) > 0).sum()))

    def scores(self, users: np.ndarray, columns: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.p[columns].astype(np.float32), (len(users), len(columns))).copy()


class _Repeat:
    """The customer's own items by recency-weighted number of orders."""

    def __init__(self, train: _Train):
        self.w = train.weighted

    def scores(self, users: np.ndarray, columns: np.ndarray) -> np.ndarray:
        return self.w[users][:, columns].toarray()


_MAX_NEIGHBOURS = 50
_DENSE_SIMILARITY_ITEMS = 5_000


def _cosine_neighbours(train: _Train, k_max: int = _MAX_NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """Each item's ``k_max`` most similar items by cosine on who bought what: (neighbour index, cosine),
    both (n_items, k_max), most similar first; cosine 0 where an item has fewer neighbours.

    Computed in dense row blocks: the co-purchase matrix of a shop is dense enough that sparse
    bookkeeping costs more than it saves. A sub-1e-9 jitter by column index breaks the many zero ties
    of rarely bought items, which otherwise make ``argpartition`` crawl (and keeps the result exact
    and repeatable)."""
    binary = train.counts.copy()
    binary.data[:] = 1.0
    co = (binary.T.tocsr() @ binary).tocsr()
    n = co.shape[0]
    k_max = max(1, min(k_max, n - 1))
    norm = np.sqrt(co.diagonal().astype(np.float64))
    norm[norm == 0] = 1.0
    jitter = 1e-10 * (1.0 - np.arange(n) / n)
    idx = np.zeros((n, k_max), dtype=np.int64)
    val = np.zeros((n, k_max), dtype=np.float32)
    for start in range(0, n, 1024):
        stop = min(n, start + 1024)
        block = co[start:stop].toarray().astype(np.float64)
        block /= norm[start:stop, None]
        block /= norm[None, :]
        block[np.arange(stop - start), np.arange(start, stop)] = -1.0
        block += jitter
        top = np.argpartition(block, n - k_max, axis=1)[:, n - k_max:]
        v = np.take_along_axis(block, top, axis=1)
        order = np.argsort(-v, axis=1, kind="stable")
        idx[start:stop] = np.take_along_axis(top, order, axis=1)
        val[start:stop] = np.maximum(np.take_along_axis(v, order, axis=1) - jitter[idx[start:stop]], 0.0)
    val[val < 1e-9] = 0.0
    return idx, val


class _Neighbours:
    """Item-item cosine neighbours: each item keeps its ``k`` most similar items."""

    def __init__(self, train: _Train, k: int, neighbours: tuple[np.ndarray, np.ndarray] | None = None):
        idx, val = neighbours if neighbours is not None else _cosine_neighbours(train, max(k, _MAX_NEIGHBOURS))
        n = idx.shape[0]
        k = min(k, idx.shape[1])
        # sim[j, i]: how much owning j points to i (i among j's k neighbours).
        sim = sp.csr_matrix(
            (val[:, :k].ravel(), (np.repeat(np.arange(n), k), idx[:, :k].ravel())), shape=(n, n)
        )
        sim.eliminate_zeros()
        self.sim = sim
        self.user = train.weighted

    def scores(self, users: np.ndarray, columns: np.ndarray) -> np.ndarray:
        return (self.user[users] @ self.sim[:, columns]).toarray()

    def similarity_matrix(self) -> np.ndarray | None:
        """Dense item x item similarity when it fits in ~100 MB (fast look-ups for the reasons)."""
        return self.sim.toarray() if self.sim.shape[0] <= _DENSE_SIMILARITY_ITEMS else None

    def pair_similarity(self, owned: np.ndarray, target: np.ndarray) -> np.ndarray:
        """sim[owned, target] for many pairs at once (sorted-key look-up, no dense n x n)."""
        coo = self.sim.tocoo()
        n = self.sim.shape[1]
        keys = coo.row.astype(np.int64) * n + coo.col
        order = np.argsort(keys)
        keys, vals = keys[order], coo.data[order]
        q = owned.astype(np.int64) * n + target
        pos = np.searchsorted(keys, q)
        pos = np.minimum(pos, len(keys) - 1)
        hit = (len(keys) > 0) & (keys[pos] == q) if len(keys) else np.zeros(len(q), bool)
        return np.where(hit, vals[pos] if len(keys) else 0.0, 0.0)


def _threads() -> int:
    return usable_cores()


class _ALS:
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008) from the ``implicit`` package."""

    def __init__(self, train: _Train, hyper: Hyper, seed: int):
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        # Confidence grows with the log of the number of orders: a wholesaler's 40th order of an item
        # says little more than the 10th.
        conf = train.counts.copy()
        conf.data = np.log1p(conf.data).astype(np.float32)
        # implicit's own threads do the work; BLAS inside them must stay single-threaded or the two
        # pools oversubscribe the cores (implicit checks this when the model is created, and warns).
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=hyper.als_factors,
                regularization=hyper.als_regularization,
                alpha=hyper.als_alpha,
                iterations=hyper.als_iterations,
                random_state=seed,
                num_threads=_threads(),
            )
            model.fit(conf.tocsr(), show_progress=False)
        self.user_factors = np.asarray(model.user_factors)
        self.item_factors = np.asarray(model.item_factors)
        norms = np.linalg.norm(self.item_factors, axis=1)
        self.unit = self.item_factors / np.where(norms > 0, norms, 1.0)[:, None]

    def scores(self, users: np.ndarray, columns: np.ndarray) -> np.ndarray:
        return self.user_factors[users] @ self.item_factors[columns].T

    def similarity_matrix(self) -> np.ndarray | None:
        """Dense cosine of the item factors when it fits in ~100 MB (fast look-ups for the reasons)."""
        return self.unit @ self.unit.T if len(self.unit) <= _DENSE_SIMILARITY_ITEMS else None

    def pair_similarity(self, owned: np.ndarray, target: np.ndarray) -> np.ndarray:
        out = np.empty(len(owned), dtype=np.float32)
        for s in range(0, len(owned), 200_000):
            a, b = self.unit[owned[s:s + 200_000]], self.unit[target[s:s + 200_000]]
            out[s:s + 200_000] = np.einsum("ij,ij->i", a, b)
        return out


class _Blend:
    """The customer's own items first (up to ``own_slots``, by the repeat score), ALS for the rest.

    Scores live in two bands so one list reads the same whatever batch it was scored in: own items in
    (1, 2) by r / (1 + r) of the repeat score r, the rest in [0, 1) by a / (1 + a) of the ALS score a."""

    def __init__(self, repeat: _Repeat, als: _ALS, own_slots: int):
        self.repeat, self.als, self.own_slots = repeat, als, own_slots

    def scores(self, users: np.ndarray, columns: np.ndarray) -> np.ndarray:
        als = np.maximum(self.als.scores(users, columns), 0.0)
        out = als / (1.0 + als)
        own = self.repeat.w[users].tocsr()
        if self.own_slots <= 0 or own.nnz == 0:
            return out
        row = np.repeat(np.arange(own.shape[0]), np.diff(own.indptr))
        order = np.lexsort((own.indices, -own.data, row))
        rank = np.empty(own.nnz, dtype=np.int64)
        rank[order] = np.arange(own.nnz) - own.indptr[row[order]]
        position = np.full(own.shape[1], -1, dtype=np.int64)
        position[columns] = np.arange(len(columns))
        top = (rank < self.own_slots) & (position[own.indices] >= 0)
        r = own.data[top].astype(np.float64)
        out[row[top], position[own.indices[top]]] = 1.0 + r / (1.0 + r)
        return out


def _fit(method: str, train: _Train, hyper: Hyper, seed: int, cache: dict | None = None):
    """Fit one method on ``train``. ``cache`` (one dict per ``train``) shares the neighbour lists and
    ALS fits between methods and tuning steps."""
    cache = {} if cache is None else cache
    if method == "popularity":
        return _Popularity(train)
    if method == "repeat":
        return _Repeat(train)
    if method == "neighbours":
        key = ("cosine",)
        if key not in cache:
            cache[key] = _cosine_neighbours(train, max(hyper.neighbours_k, _MAX_NEIGHBOURS))
        return _Neighbours(train, hyper.neighbours_k, cache[key])
    if method in ("als", "blend"):
        key = ("als", hyper.als_factors, hyper.als_regularization, hyper.als_alpha, hyper.als_iterations)
        if key not in cache:
            cache[key] = _ALS(train, hyper, seed)
        if method == "als":
            return cache[key]
        return _Blend(_Repeat(train), cache[key], hyper.blend_own_slots)
    raise ValueError(method)
