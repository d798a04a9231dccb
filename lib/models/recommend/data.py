"""Reading an order-line log for recommendations: its columns, and its lines as purchase events (what each
line is comes from ``lib.data.orders``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lib.data.orders import (
    PRODUCT_PATTERNS,
    TransactionColumns,
    classify_lines,
    codes_text,
    description_column,
    find_column,
    infer_transaction_columns,
)
from lib.errors import DataValidationError
from lib.models.recommend.settings import DAY
from lib.text.i18n import t

# Column-name patterns, in order of preference: the log's product code (lib.data.orders), else a
# category, a coarse item used only when the log has nothing finer (the shipped shop sample).
_PRODUCT_PATTERNS = [*PRODUCT_PATTERNS, r"categor", r"类别"]


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
    product = find_column(frame, _PRODUCT_PATTERNS)
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
