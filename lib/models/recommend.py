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

import logging
import os
import re
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lib.data.orders import (
    PRODUCT_PATTERNS,
    TransactionColumns,
    classify_lines,
    codes_text,
    description_column,
    infer_transaction_columns,
)
from lib.data.schema import ids_as_text
from lib.errors import DataValidationError
from lib.text.i18n import t

log = logging.getLogger(__name__)

METHODS = ("popularity", "repeat", "neighbours", "als", "blend")
MODES = ("all", "new")
DAY = 86400.0

# Column-name patterns, in order of preference: the log's product code (lib.data.orders), else a
# category, a coarse item used only when the log has nothing finer (the shipped shop sample).
_PRODUCT_PATTERNS = [*PRODUCT_PATTERNS, r"categor", r"类别"]


@dataclass(frozen=True)
class RecommendSettings:
    """What to recommend: ``k`` items per customer in ``mode`` "all" (own items allowed) or "new"
    (never an item of the customer's history); ``test_days`` is the evaluation window and the
    popularity window; ``method`` is "auto" (chosen by the time-split evaluation) or one of ``METHODS``."""

    k: int = 10
    mode: str = "all"  # or "new"
    test_days: int = 90
    seed: int = 42
    method: str = "auto"


@dataclass(frozen=True)
class Hyper:
    """Hyper-parameters, tuned on the earlier split only."""

    half_life_days: float = 90.0  # recency weight of a purchase for "repeat" (and the neighbours' input)
    neighbours_k: int = 50
    als_factors: int = 64
    als_regularization: float = 1.0
    als_alpha: float = 2.0
    als_iterations: int = 6  # as good as 15 on the Online Retail splits, at less than half the time
    blend_own_slots: int = 10  # at most this many own items open the list, ALS fills the rest


@dataclass(frozen=True)
class LogColumns:
    customer: str
    date: str
    order: str | None
    product: str
    description: str | None
    quantity: str | None
    unit_price: str | None
    amount: str | None
    product_is_category: bool
    transaction: TransactionColumns | None = None  # the columns lib.data.orders classifies the lines by


@dataclass(frozen=True)
class _Events:
    """The cleaned log: one purchase event per (customer, item, order), as integer codes."""

    user: np.ndarray  # int32 index into customers
    item: np.ndarray  # int32 index into items
    time: np.ndarray  # float64 days since the epoch
    order: np.ndarray  # int64 order code (for items bought together)
    customers: np.ndarray  # text ids (ids_as_text) of every customer of the log, cold ones included
    items: np.ndarray  # item codes as text
    descriptions: np.ndarray  # one description per item ("" when the log has none)
    end: float  # the day after the log's last line (days since the epoch)
    lines_left_out: dict
    non_product_items: pd.DataFrame  # item, description, reason
    # Free, returned and cancelled lines (customer, item, time): not purchases, but the customer has had
    # the item, so "new" mode never offers it.
    seen_user: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    seen_item: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    seen_time: np.ndarray = field(default_factory=lambda: np.zeros(0))


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


# --------------------------------------------------------------------------------------------------
# Reading the log
# --------------------------------------------------------------------------------------------------


def _match(frame: pd.DataFrame, patterns: list[str], exclude: set) -> str | None:
    for pat in patterns:
        rx = re.compile(pat, re.I)
        for col in frame.columns:
            if col not in exclude and rx.search(str(col)):
                return col
    return None


def log_columns(
    frame: pd.DataFrame,
    customer_col: str | None = None,
    date_col: str | None = None,
    amount_col: str | None = None,
) -> LogColumns:
    """Find the customer, date, order, product and description columns of an order-line log.

    Raises ``DataValidationError`` for a customer table (no product column, or one row per customer).
    """
    # The product column is looked for first, so a customer table gets the message about products
    # rather than one about a missing amount.
    product = _match(frame, _PRODUCT_PATTERNS, set())
    if product is None:
        raise DataValidationError(
            t("Recommendations need a transaction log with a product column (one row per order line): no column is named like a product code, SKU, item, article or category (looked for StockCode, product_id, product_code, sku, item_id, article, product, item, category). This file's columns are: {items}. Upload the order-line export of the shop (customer, date, product, quantity, price), not the customer table.", items=', '.join(map(str, frame.columns)))
        )
    cols = infer_transaction_columns(frame, customer_col, date_col, amount_col)
    if cols.customer == product:
        raise DataValidationError(t("The product column '{product}' is also the customer column; choose the customer id column.", product=product))
    ids = frame[cols.customer].dropna()
    if len(ids) > 1 and not ids.duplicated().any():
        raise DataValidationError(
            t("Recommendations need a transaction log with a product column (one row per order line): every customer in '{customer}' appears on exactly one row, so this looks like a customer table. Upload the order-line export (one row per product bought).", customer=cols.customer)
        )
    used = {cols.customer, cols.date, cols.order, cols.quantity, cols.unit_price, cols.amount, product}
    description = cols.description if product == cols.product else description_column(frame, product, used)
    category = bool(re.search(r"categor|类别", str(product), re.I))
    return LogColumns(cols.customer, cols.date, cols.order, product, description, cols.quantity,
                      cols.unit_price, cols.amount, category, cols)


def _read_log(frame: pd.DataFrame, cols: LogColumns) -> _Events:
    """The log as purchase events, with the lines that are not purchases of a product left out.

    What each line is comes from ``lib.data.orders``, the one rule of every step: cancellations
    (negative lines undoing a sale), returns (other negative lines), non-product lines (postage, fees,
    adjustments: ``lib.data.orders.LineTally`` lists the four signals that find them) and free lines
    (nothing paid) are left out and counted by reason, as are lines without a customer id, a product
    code or a readable date. Free, returned and cancelled items stay in the customer's history
    (``_Events.seen_*``): "new" mode never offers them.
    """
    ol = classify_lines(frame, cols.transaction or infer_transaction_columns(frame, cols.customer, cols.date,
                                                                             cols.amount))
    kind = ol.lines["kind"].to_numpy(dtype=object)
    user, customers = codes_text(frame[cols.customer])
    item, items = codes_text(frame[cols.product])
    dates = ol.lines["date"]
    date_ok = dates.notna().to_numpy()
    if not date_ok.any():
        example = frame[cols.date].dropna().iloc[0] if frame[cols.date].notna().any() else ""
        raise DataValidationError(
            t("Column '{col}' has no readable dates (e.g. '{example}'). Choose the column that holds the order date.", col=cols.date, example=example)
        )
    seconds = np.zeros(len(frame), dtype=np.float64)
    seconds[date_ok] = dates[date_ok].astype("datetime64[s]").astype("int64").to_numpy(dtype=np.float64)
    time = seconds / DAY
    order, _ = codes_text(ol.lines["order"])
    descriptions = _item_descriptions(frame, cols, item, len(items))
    non_product_items = ol.rules.non_product_items if cols.product == ol.columns.product \
        else pd.DataFrame(columns=["item", "description", "reason"])
    reasons = [
        ("no customer id", user < 0),
        ("no product code", item < 0),
        ("unreadable date", ~date_ok),
        ("cancellation", kind == "cancellation"),
        ("return (negative quantity or amount)", kind == "return"),
        ("non-product line (postage, fee, adjustment)", kind == "non_product"),
        ("zero quantity or price", kind == "free"),
    ]
    left_out: dict[str, int] = {}
    dropped = np.zeros(len(frame), dtype=bool)
    for label, mask in reasons:
        new = mask & ~dropped
        left_out[label] = int(new.sum())
        dropped |= new
    keep = ~dropped
    seen = np.isin(kind, ("free", "return", "cancellation")) & (user >= 0) & (item >= 0) & date_ok

    # One event per (customer, item, order): an item on three lines of one order was bought once.
    u, i, o, when = user[keep], item[keep], order[keep], time[keep]
    pair = u * len(items) + i
    if (len(customers) + 1) * (len(items) + 1) * (int(order.max(initial=0)) + 2) < 2**62:
        # One int64 key hashes several times faster than three columns.
        first = ~pd.Series(pair * (int(order.max(initial=0)) + 1) + o).duplicated().to_numpy()
    else:  # pragma: no cover - astronomically many orders
        first = ~pd.DataFrame({"p": pair, "o": o}).duplicated().to_numpy()
    # Customers seen only on left-out lines stay in the list (they get popular items as cold customers).
    end = float(np.floor(time[date_ok].max())) + 1.0
    return _Events(
        user=u[first].astype(np.int32),
        item=i[first].astype(np.int32),
        time=when[first],
        order=o[first],
        customers=customers,
        items=items,
        descriptions=descriptions,
        end=end,
        lines_left_out={k: v for k, v in left_out.items() if v},
        non_product_items=non_product_items,
        seen_user=user[seen].astype(np.int32),
        seen_item=item[seen].astype(np.int32),
        seen_time=time[seen],
    )


def _item_descriptions(frame, cols: LogColumns, item: np.ndarray, n_items: int) -> np.ndarray:
    """The most frequent description of each item ("" when the log has no description column)."""
    if cols.description is None:
        return np.full(n_items, "", dtype=object)
    d_codes, d_uniques = pd.factorize(frame[cols.description])
    ok = (item >= 0) & (d_codes >= 0)
    key = pd.Series(item[ok] * np.int64(len(d_uniques)) + d_codes[ok]).value_counts(sort=False)
    counts = pd.DataFrame({"i": key.index // len(d_uniques), "d": key.index % len(d_uniques), "count": key.to_numpy()})
    # Ties go to the description seen first, so the same file always reads the same.
    first = counts.sort_values(["i", "count", "d"], ascending=[True, False, True]).drop_duplicates("i")
    out = np.full(n_items, "", dtype=object)
    text = pd.Series(np.asarray(d_uniques, dtype=object)).astype("str").str.strip().to_numpy()
    out[first["i"].to_numpy()] = text[first["d"].to_numpy()]
    return out


# --------------------------------------------------------------------------------------------------
# The matrix at one cut-off
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Methods: each is a fitted object with ``scores(users, columns) -> dense (len(users), len(columns))``
# (``columns`` are item indices, in the order the caller wants them; higher score = better)
# --------------------------------------------------------------------------------------------------


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
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS
        return max(1, os.cpu_count() or 1)


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


# --------------------------------------------------------------------------------------------------
# Top-K and the time-split evaluation
# --------------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------------
# Tuning on the earlier split
# --------------------------------------------------------------------------------------------------

_HALF_LIVES = (30.0, 90.0, 365.0, float("inf"))
_NEIGHBOURS_K = (10, 20, 50)
_OWN_SLOTS_SHARE = (1.0, 0.7, 0.5)


def _als_grid(nnz: int) -> list[list[dict]]:
    """ALS settings to try, as stages of a coordinate search (each stage varies one thing around the
    best so far: base 64 factors, regularisation 1, alpha 2, 6 iterations). Fixed per log size so the
    same file always gets the same search. On small logs 128 factors never beat 64 on the discovery
    hit rate (Online Retail, both splits) and cost twice the time, so 32 is tried instead; a log with
    millions of purchases has room for more factors but no time for a third stage."""
    if nnz > 1_000_000:
        return [[{"als_factors": 128}], [{"als_regularization": 10.0}]]
    return [[{"als_factors": 32}], [{"als_regularization": 10.0}], [{"als_alpha": 4.0}]]


def _tune(ev: _Events, h: _Holdout, k: int, seed: int) -> tuple[Hyper, dict]:
    """Hyper-parameters chosen on the validation split ``h`` only. Returns them and, per method, the
    validation metrics with the chosen settings (used to choose the method)."""
    hyper = Hyper(blend_own_slots=k)
    best: dict = {}
    # Repeat: the recency half-life (also the neighbours' customer profile).
    trains = {}
    for hl in _HALF_LIVES:
        train = replace(h.train, weighted=_weighted(ev, h.train.cutoff, hl))
        trains[hl] = train
        m = _evaluate(_Repeat(train), replace(h, train=train), k)
        if _better(m["all"], best.get("repeat", {}).get("all")):
            best["repeat"], hyper = m, replace(hyper, half_life_days=hl)
    h = replace(h, train=trains[hyper.half_life_days])
    cache: dict = {}
    best["popularity"] = _evaluate(_fit("popularity", h.train, hyper, seed, cache), h, k)
    # Neighbours and ALS are discovery methods: tuned on the "new" mode (never an owned item).
    for nk in _NEIGHBOURS_K:
        m = _evaluate(_fit("neighbours", h.train, replace(hyper, neighbours_k=nk), seed, cache), h, k)
        if _better(m["new"], best.get("neighbours", {}).get("new")):
            best["neighbours"], hyper = m, replace(hyper, neighbours_k=nk)
    best["als"] = _evaluate(_fit("als", h.train, hyper, seed, cache), h, k)
    for stage in _als_grid(h.train.counts.nnz):
        base = hyper
        for change in stage:
            trial = replace(base, **change)
            if trial == base:
                continue
            m = _evaluate(_fit("als", h.train, trial, seed, cache), h, k)
            if _better(m["new"], best["als"]["new"]):
                best["als"], hyper = m, trial
    # Blend: how many of the list's slots the customer's own items may take ("all" mode).
    for share in _OWN_SLOTS_SHARE:
        trial = replace(hyper, blend_own_slots=max(1, int(round(share * k))))
        m = _evaluate(_fit("blend", h.train, trial, seed, cache), h, k)
        if _better(m["all"], best.get("blend", {}).get("all")):
            best["blend"], hyper = m, trial
    return hyper, best


# --------------------------------------------------------------------------------------------------
# The public step
# --------------------------------------------------------------------------------------------------

# When the log is too short to evaluate anything: own items for replenishment, co-purchase neighbours
# for discovery (neither needs tuning).
_DEFAULT_METHOD = {"all": "repeat", "new": "neighbours"}


def recommend(
    frame: pd.DataFrame,
    settings: RecommendSettings,
    customer_col: str | None = None,
    date_col: str | None = None,
    amount_col: str | None = None,
) -> Recommendations:
    """Top-``settings.k`` items per customer of the log, with a reason in words for each, and the
    time-split evaluation that chose the method.

    Parameters
    ----------
    frame
        The order-line log (one row per product bought; not modified).
    settings
        k, mode ("all" or "new"), test_days (evaluation and popularity window), seed, method
        ("auto" or one of ``METHODS``).
    customer_col, date_col, amount_col
        Column names, inferred when omitted.
    """
    _check_settings(settings)
    cols = log_columns(frame, customer_col, date_col, amount_col)
    ev = _read_log(frame, cols)
    if len(ev.user) == 0:
        detail = t(", ").join(t("{n:,} {reason}", n=n, reason=t(label)) for label, n in ev.lines_left_out.items())  # i18n: labels are LEFT_OUT reasons, in the catalogue
        raise DataValidationError(
            t("No purchase lines are left to learn from: every line was left out ({detail}). Check that '{customer}' holds customer ids and '{product}' product codes.", detail=detail, customer=cols.customer, product=cols.product)
        )
    k, days, seed = settings.k, float(settings.test_days), settings.seed
    end = ev.end

    validation = _holdout(ev, end - 2 * days, days, Hyper().half_life_days, seed)
    can_tune = len(validation.users) > 0
    if can_tune:
        hyper, val_metrics = _tune(ev, validation, k, seed)
    else:
        hyper, val_metrics = Hyper(blend_own_slots=k), {}

    test = _holdout(ev, end - days, days, hyper.half_life_days, seed)
    cache: dict = {}
    nothing = {"hit_rate_at_k": np.nan, "recall_at_k": np.nan, "ndcg_at_k": np.nan, "customers": 0}
    test_metrics = {
        m: _evaluate(_fit(m, test.train, hyper, seed, cache), test, k) if len(test.users) else dict.fromkeys(MODES, nothing)
        for m in METHODS
    }

    chosen, selection = {}, {}
    for mode in MODES:
        basis = val_metrics if can_tune and any(val_metrics[m][mode]["customers"] for m in METHODS) else None
        if basis is not None:
            selection[mode] = "validation"
        elif any(test_metrics[m][mode]["customers"] for m in METHODS):
            basis, selection[mode] = test_metrics, "evaluation"
        else:
            selection[mode] = "default"
        if basis is None:
            chosen[mode] = _DEFAULT_METHOD[mode]
            continue
        pick = None
        for m in METHODS:  # simplest first: a tie keeps the simpler method
            if pick is None or _better(basis[m][mode], basis[pick][mode]):
                pick = m
        chosen[mode] = pick
    method = chosen[settings.mode] if settings.method == "auto" else settings.method

    evaluation = pd.DataFrame([
        {
            "method": m,
            "mode": mode,
            **test_metrics[m][mode],
            "validation_hit_rate_at_k": val_metrics[m][mode]["hit_rate_at_k"] if m in val_metrics else np.nan,
            "validation_ndcg_at_k": val_metrics[m][mode]["ndcg_at_k"] if m in val_metrics else np.nan,
            "chosen": chosen[mode] == m,
        }
        for mode in MODES for m in METHODS
    ])

    # The final lists: refitted on all the data, popularity over the last test_days of the log.
    final = _train_matrix(ev, end, days, hyper.half_life_days, with_last=True)
    model = _fit(method, final, hyper, seed, {})
    users = np.arange(len(ev.customers))
    items, scores, valid = _top_k(model, final, users, k, (settings.mode,))[settings.mode]
    table = _table(ev, final, model, method, users, items, scores, valid, int(settings.test_days))

    pop_order = np.argsort(-final.popularity, kind="stable")[: max(k, 20)]
    pop_order = pop_order[final.popularity[pop_order] > 0]
    popular = pd.DataFrame({
        "item": ev.items[pop_order],
        "description": ev.descriptions[pop_order],
        "customers": final.popularity[pop_order].astype(int),
    })
    warnings = []
    if cols.product_is_category:
        warnings.append(
            t("The log has no product code column, so '{product}' is used: these are categories to offer, not products.", product=cols.product)
        )
    if final.candidates.sum() <= k:
        warnings.append(
            t("Only {n} different items were bought, no more than the {k} recommendations asked for: every method lists the same items, so the evaluation cannot tell the methods apart.", n=int(final.candidates.sum()), k=k)
        )
    for mode in MODES:
        if selection[mode] == "evaluation":
            warnings.append(
                t("The log is too short for an earlier tuning split, so the {mode!r}-mode method was chosen on the evaluation window itself: its score there is optimistic.", mode=mode)
            )
        elif selection[mode] == "default":
            warnings.append(
                t("No customer bought again within the last {test_days} days after buying before, so nothing could be evaluated; {mode!r} mode uses {method} by default.", test_days=settings.test_days, mode=mode, method=_DEFAULT_METHOD[mode])
            )
    evaluated = int(test_metrics[method][settings.mode]["customers"])
    cold = int((final.counts.getnnz(axis=1) == 0).sum())
    log.info("recommend: %s (%s mode), %d customers evaluated", method, settings.mode, evaluated)
    return Recommendations(
        table=table,
        method=method,
        mode=settings.mode,
        k=k,
        evaluation=evaluation,
        evaluated_customers=evaluated,
        methods_by_mode=chosen,
        hyper=hyper,
        test_days=settings.test_days,
        items_used=int(final.candidates.sum()),
        customers=len(ev.customers),
        cold_customers=cold,
        lines_used=int(len(frame) - sum(ev.lines_left_out.values())),
        lines_left_out=dict(ev.lines_left_out),
        non_product_items=ev.non_product_items,
        popular=popular,
        bought_together=_pairs(ev, 20),
        columns=cols,
        selection=_selection_text(selection, chosen, settings),
        warnings=tuple(warnings),
    )


def _check_settings(settings: RecommendSettings) -> None:
    problems = []
    if settings.mode not in MODES:
        problems.append(t('Mode \'{mode}\' is not known: use "all" (own items included) or "new" (discovery).', mode=settings.mode))
    if settings.method != "auto" and settings.method not in METHODS:
        problems.append(t('Method \'{method}\' is not known: use "auto" or one of {items}.', method=settings.method, items=', '.join(METHODS)))
    if not isinstance(settings.k, int | np.integer) or settings.k < 1:
        problems.append(t("The number of recommendations k must be a whole number of at least 1 (got {k!r}).", k=settings.k))
    if not isinstance(settings.test_days, int | np.integer) or settings.test_days < 1:
        problems.append(t("test_days must be a whole number of days, at least 1 (got {test_days!r}).", test_days=settings.test_days))
    if problems:
        raise DataValidationError(*problems)


def _selection_text(selection: dict, chosen: dict, settings: RecommendSettings) -> str:
    parts = []
    for mode in MODES:
        how = {
            "validation": t("best hit rate@{k} on the earlier split (the {test_days} days before the evaluation window)", k=settings.k, test_days=settings.test_days),
            "evaluation": t("best hit rate on the evaluation window (log too short for an earlier split)"),
            "default": t("default (nothing to evaluate)"),
        }[selection[mode]]
        parts.append(t("{mode}: {value}, {how}", mode=mode, value=chosen[mode], how=how))
    if settings.method != "auto":
        parts.append(t("method set by the user: {method}", method=settings.method))
    return t("; ").join(parts)


# --------------------------------------------------------------------------------------------------
# Reasons in words
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Helpers for the app and the CLI
# --------------------------------------------------------------------------------------------------


def _pairs(ev: _Events, n: int, min_orders: int = 3) -> pd.DataFrame:
    """The ``n`` item pairs most often in the same order, with the count and the lift (how many times
    more often than if the two were bought independently)."""
    columns = ["item_a", "description_a", "item_b", "description_b", "orders_together", "lift"]
    if len(ev.order) == 0:
        return pd.DataFrame(columns=columns)
    o, o_codes = pd.factorize(ev.order)
    basket = sp.csr_matrix((np.ones(len(o), np.float32), (o, ev.item)), shape=(len(o_codes), len(ev.items)))
    basket.sum_duplicates()
    basket.data[:] = 1.0
    per_item = np.asarray(basket.sum(axis=0)).ravel()
    by_count = np.argsort(-per_item, kind="stable")
    # A pair is never in more orders than its rarer item, so the top pairs among the m most bought
    # items are the top pairs overall once the n-th of them beats the (m+1)-th item's own count.
    m = min(len(by_count), 300)
    while True:
        top_items = np.sort(by_count[:m])
        sub = basket[:, top_items].tocsc().tocsr()
        co = sp.triu(sub.T.tocsr() @ sub, k=1).tocoo()
        keep = co.data >= min_orders
        a, b, c = top_items[co.row[keep]], top_items[co.col[keep]], co.data[keep].astype(np.int64)
        bound = per_item[by_count[m]] if m < len(by_count) else 0
        if m >= len(by_count) or (len(c) >= n and np.sort(c)[-n] > bound):
            break
        m = min(len(by_count), 4 * m)
    if len(c) == 0:
        return pd.DataFrame(columns=columns)
    lift = c * len(o_codes) / (per_item[a] * per_item[b])
    top = np.lexsort((b, a, -lift, -c))[:n]
    return pd.DataFrame({
        "item_a": ev.items[a[top]],
        "description_a": ev.descriptions[a[top]],
        "item_b": ev.items[b[top]],
        "description_b": ev.descriptions[b[top]],
        "orders_together": c[top],
        "lift": np.round(lift[top], 2),
    })


def bought_together(
    frame: pd.DataFrame,
    customer_col: str | None = None,
    date_col: str | None = None,
    amount_col: str | None = None,
    n: int = 20,
) -> pd.DataFrame:
    """The ``n`` item pairs most often bought in the same order (cleaned lines of known customers), with
    ``orders_together`` and ``lift``. ``recommend`` keeps the same table on its result."""
    cols = log_columns(frame, customer_col, date_col, amount_col)
    return _pairs(_read_log(frame, cols), n)


def top_items_by_segment(rec: Recommendations, ids: np.ndarray, segment_names: np.ndarray, n: int = 5) -> pd.DataFrame:
    """The ``n`` items most often recommended to each segment's customers: segment, rank, item,
    description, customers (with the item in their list) and share (of the segment's customers with
    a list)."""
    ids_text = ids_as_text(pd.Series(np.asarray(ids))).to_numpy()
    segment = pd.Series(np.asarray(segment_names), index=ids_text)
    segment = segment[~segment.index.duplicated()]
    t = rec.table.assign(segment=rec.table["id"].map(segment)).dropna(subset=["segment"])
    columns = ["segment", "rank", "item", "description", "customers", "share"]
    if t.empty:
        return pd.DataFrame(columns=columns)
    size = t.groupby("segment", sort=False)["id"].nunique()
    counts = t.groupby(["segment", "item"], sort=False).agg(
        description=("description", "first"), customers=("id", "nunique"), best_rank=("rank", "mean")
    ).reset_index()
    counts = counts.sort_values(["segment", "customers", "best_rank", "item"], ascending=[True, False, True, True])
    counts = counts.groupby("segment", sort=False).head(n).copy()
    counts["rank"] = counts.groupby("segment", sort=False).cumcount() + 1
    counts["share"] = (counts["customers"] / counts["segment"].map(size)).round(3)
    order = {s: r for r, s in enumerate(pd.unique(pd.Series(np.asarray(segment_names))))}
    counts = counts.sort_values(["segment", "rank"], key=lambda c: c.map(order) if c.name == "segment" else c)
    return counts[columns].reset_index(drop=True)


def offers_for(rec: Recommendations, n: int = 3) -> pd.DataFrame:
    """One row per customer with their first ``n`` recommendations in words (the description, or the
    item code when the log has none): id, recommended_1, ..., recommended_n. For a target list."""
    t = rec.table[rec.table["rank"] <= n]
    label = t["description"].where(t["description"].astype(str).str.len() > 0, t["item"])
    wide = pd.DataFrame({"id": t["id"], "rank": t["rank"], "label": label}).pivot(index="id", columns="rank", values="label")
    wide = wide.reindex(columns=range(1, n + 1))
    wide.columns = [f"recommended_{r}" for r in wide.columns]
    ids = pd.unique(rec.table["id"])
    return wide.reindex(ids).fillna("").rename_axis("id").reset_index()
