"""Tables for the app and the CLI: items bought together, top items by segment, offers for a target list."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lib.data.schema import ids_as_text
from lib.models.recommend.data import _Events, _read_log, log_columns
from lib.models.recommend.result import Recommendations


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
