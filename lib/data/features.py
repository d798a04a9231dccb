"""Transactions -> customers: roll an order-line log up to one row per customer (RFM and friends).

Vectorised groupbys only; no per-customer Python loops. Column names are arguments with inferred
defaults, so any export shape works.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.data.schema import ids_as_text
from lib.errors import DataValidationError
from lib.text.i18n import t

# Stock codes that are fees, postage or adjustments rather than products (Online Retail and alike).
NON_PRODUCT_CODES = {"POST", "DOT", "M", "BANK CHARGES", "C2", "CRUK", "D", "PADS", "AMAZONFEE", "S", "B", "ADJUST"}


@dataclass(frozen=True)
class TransactionColumns:
    customer: str
    date: str
    order: str | None
    amount: str | None
    quantity: str | None
    unit_price: str | None
    product: str | None
    categorical: tuple[str, ...]  # country / channel / category-like columns to summarise by mode


@dataclass(frozen=True)
class CustomerTable:
    """One row per customer plus the facts of the roll-up."""

    customers: pd.DataFrame
    columns: TransactionColumns
    as_of: pd.Timestamp
    lines_used: int
    lines_dropped_no_customer: int
    cancellation_lines: int
    non_product_lines: int
    warnings: tuple[str, ...]


def _find(frame: pd.DataFrame, patterns: list[str], numeric: bool | None = None) -> str | None:
    for pat in patterns:
        rx = re.compile(pat, re.I)
        for col in frame.columns:
            if rx.search(str(col)):
                s = frame[col]
                if numeric is True and not pd.api.types.is_numeric_dtype(s):
                    continue
                return col
    return None


def infer_transaction_columns(
    frame: pd.DataFrame,
    customer_col: str | None = None,
    date_col: str | None = None,
    amount_col: str | None = None,
) -> TransactionColumns:
    """Find the customer id, date, order id and amount (or quantity × unit price) columns."""
    for given in (customer_col, date_col, amount_col):
        if given is not None and given not in frame.columns:
            raise DataValidationError(t("Column '{col}' is not in the file. Its columns are: {columns}.", col=given,
                                        columns=", ".join(map(str, frame.columns))))
    customer = customer_col or _find(frame, [r"^customer_?id$", r"cust.*id", r"client.*id", r"user.*id",
                                             r"member.*id", r"^customer$", r"客户"])
    date = date_col or next((c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])), None) \
        or _find(frame, [r"date", r"time", r"日期"])
    order = _find(frame, [r"invoice_?no", r"order_?id", r"order_?no", r"invoice", r"^order", r"transaction_?id",
                          r"receipt", r"订单"])
    quantity = _find(frame, [r"quantity", r"^qty", r"units", r"数量"], numeric=True)
    unit_price = _find(frame, [r"unit_?price", r"^price", r"单价"], numeric=True)
    amount = amount_col or _find(frame, [r"amount", r"revenue", r"sales", r"total", r"spend", r"value", r"金额"],
                                 numeric=True)
    product = _find(frame, [r"stock_?code", r"product_?id", r"sku", r"item_?id", r"product", r"商品"])
    missing = []
    if customer is None:
        missing.append(t("a customer id column (choose it with --customer-col / the Customer column box)"))
    if date is None:
        missing.append(t("a date column (choose it with --date-col)"))
    if amount is None and (quantity is None or unit_price is None):
        missing.append(t("an amount column, or quantity and unit price columns (choose it with --amount-col)"))
    if missing:
        raise DataValidationError(t("This does not look like a transaction log: could not find {what}.",
                                    what=t("; ").join(missing)))
    used = {customer, date, order, amount, quantity, unit_price, product}
    categorical = tuple(
        c for c in frame.columns
        if c not in used and re.search(r"country|channel|categor|region|store|国家|渠道|类别", str(c), re.I)
        and not pd.api.types.is_numeric_dtype(frame[c])
    )
    # Quantity × unit price is preferred to a found "total" column unless the user named an amount.
    if amount_col is None and quantity is not None and unit_price is not None:
        amount = None
    return TransactionColumns(customer, date, order, amount, quantity, unit_price, product, categorical)


def customers_from_transactions(
    frame: pd.DataFrame,
    customer_col: str | None = None,
    date_col: str | None = None,
    amount_col: str | None = None,
    as_of: str | pd.Timestamp | None = None,
) -> CustomerTable:
    """Roll an order-line log up to one row per customer.

    Parameters
    ----------
    frame
        One row per order line (not modified).
    as_of
        Only lines strictly before this date count; recency is measured to it. Defaults to the day
        after the last line, so recency 0 means "bought on the last day".
    """
    cols = infer_transaction_columns(frame, customer_col, date_col, amount_col)
    warnings: list[str] = []
    dates = _order_dates(frame, cols.date)
    bad = int(dates.isna().sum() - frame[cols.date].isna().sum())
    if bad:
        warnings.append(t("{bad:,} lines have an unreadable date in '{col}' and were ignored.", bad=bad, col=cols.date))
    if cols.amount is not None:
        value = pd.to_numeric(frame[cols.amount], errors="coerce")
    else:
        value = frame[cols.quantity].astype("float64") * frame[cols.unit_price].astype("float64")
    no_customer = frame[cols.customer].isna()
    cust = ids_as_text(frame[cols.customer])
    no_customer |= cust.eq("")
    order = frame[cols.order].astype("str") if cols.order else pd.Series(
        cust + "|" + dates.dt.strftime("%Y-%m-%d %H:%M:%S"), index=frame.index)
    cancelled = order.str.upper().str.startswith("C") if cols.order else pd.Series(False, index=frame.index)
    qty = frame[cols.quantity].astype("float64") if cols.quantity else pd.Series(1.0, index=frame.index)
    is_return = cancelled | (qty < 0) | (value < 0)
    non_product = pd.Series(False, index=frame.index)
    if cols.product:
        non_product = frame[cols.product].astype("str").str.upper().str.strip().isin(NON_PRODUCT_CODES)
    if dates.notna().sum() == 0:
        example = frame[cols.date].dropna().iloc[0] if frame[cols.date].notna().any() else ""
        raise DataValidationError(t("Column '{col}' has no readable dates (e.g. '{example}'). Choose the column that "
                                    "holds the order date.", col=cols.date, example=example))
    cutoff = pd.Timestamp(as_of) if as_of is not None else None
    keep = ~no_customer & dates.notna() & value.notna()
    if cutoff is not None:
        keep &= dates < cutoff
    n_no_customer = int(no_customer.sum())
    if n_no_customer:
        warnings.append(t("{n:,} lines have no customer id and were left out of the customer table.", n=n_no_customer))
    lines = pd.DataFrame(
        {
            "customer": cust[keep].to_numpy(),
            "date": dates[keep].to_numpy(),
            "order": order[keep].to_numpy(),
            "value": value[keep].to_numpy(dtype="float64"),
            "is_return": is_return[keep].to_numpy(),
            "non_product": non_product[keep].to_numpy(),
            "product": frame.loc[keep, cols.product].astype("str").to_numpy() if cols.product else "",
        }
    )
    if lines.empty:
        raise DataValidationError(
            t("No usable lines: every line lacks a customer id, a date or an amount, or falls after the cutoff {date}.",
              date=cutoff.date()) if cutoff is not None
            else t("No usable lines: every line lacks a customer id, a date or an amount."))
    ref = cutoff if cutoff is not None else lines["date"].max().normalize() + pd.Timedelta(days=1)
    sales = lines[~lines["is_return"] & ~lines["non_product"]]
    g_all = lines[~lines["non_product"]].groupby("customer", sort=True)
    g = sales.groupby("customer", sort=True)
    first = g["date"].min()
    last = g["date"].max()
    frequency = g["order"].nunique()
    gross = g["value"].sum()
    net = g_all["value"].sum()
    returned = lines[lines["is_return"] & ~lines["non_product"]].groupby("customer")["value"].sum().abs()
    # Every customer with any line in the window is kept, even one with only fees or returns.
    out = pd.DataFrame(index=lines.groupby("customer", sort=True).size().index)
    out.index.name = "customer_id"
    out["recency_days"] = (ref - last).dt.days
    out["frequency"] = frequency
    out["monetary"] = net.reindex(out.index).fillna(0).round(2)
    out["avg_order_value"] = (gross / frequency).round(2)
    out["tenure_days"] = (ref - first).dt.days
    span = (last - first).dt.days
    out["days_between_orders"] = (span / (frequency - 1)).where(frequency > 1).round(1)
    out["distinct_products"] = g["product"].nunique() if cols.product else np.nan
    out["return_share"] = (returned.reindex(out.index).fillna(0) / gross.reindex(out.index)).fillna(0).clip(0, 1).round(3)
    # Customers whose only lines are returns/cancellations in the window: keep them, with no sales.
    out["frequency"] = out["frequency"].fillna(0).astype(int)
    if not cols.product:
        out = out.drop(columns="distinct_products")
    for cat in cols.categorical:
        values = frame.loc[keep, cat].astype("str").to_numpy()
        mode = (
            pd.DataFrame({"customer": lines["customer"].to_numpy(), "v": values})
            .groupby(["customer", "v"]).size().reset_index(name="n")
            .sort_values(["customer", "n", "v"], ascending=[True, False, True])
            .drop_duplicates("customer").set_index("customer")["v"]
        )
        out[f"top_{_slug(cat)}"] = mode.reindex(out.index)
    n_cancel = int(cancelled[keep].sum())
    n_nonprod = int(non_product[keep].sum())
    return CustomerTable(
        customers=out.reset_index(),
        columns=cols,
        as_of=ref,
        lines_used=int(keep.sum()),
        lines_dropped_no_customer=n_no_customer,
        cancellation_lines=n_cancel,
        non_product_lines=n_nonprod,
        warnings=tuple(warnings),
    )


def _slug(name: str) -> str:
    return re.sub(r"\W+", "_", str(name)).strip("_").lower()


def _order_dates(frame: pd.DataFrame, column: str) -> pd.Series:
    """The log's dates as datetimes (text dates parsed; unreadable ones become NaT)."""
    dates = frame[column]
    if pd.api.types.is_datetime64_any_dtype(dates):
        return dates
    return pd.to_datetime(dates, errors="coerce", format="mixed")


def repurchase_labels(
    frame: pd.DataFrame,
    cols: TransactionColumns,
    cutoff: pd.Timestamp,
    horizon_days: int,
) -> pd.Series:
    """1 if the customer bought (a non-return line) in [cutoff, cutoff + horizon), else 0; indexed by
    customer id as text (the same ids as ``customers_from_transactions``)."""
    dates = _order_dates(frame, cols.date)
    cust = ids_as_text(frame[cols.customer])
    qty = frame[cols.quantity].astype("float64") if cols.quantity else pd.Series(1.0, index=frame.index)
    cancelled = frame[cols.order].astype("str").str.upper().str.startswith("C") if cols.order else False
    end = cutoff + pd.Timedelta(days=horizon_days)
    bought = (dates >= cutoff) & (dates < end) & (qty > 0) & ~cancelled & frame[cols.customer].notna()
    return pd.Series(1, index=pd.Index(cust[bought].unique(), name="customer_id"), dtype="int64")


def default_cutoff(frame: pd.DataFrame, cols: TransactionColumns, horizon_days: int) -> pd.Timestamp:
    """Last date in the log minus the horizon: the latest cutoff whose outcome window is fully observed."""
    dates = _order_dates(frame, cols.date)
    return (dates.max().normalize() + pd.Timedelta(days=1)) - pd.Timedelta(days=horizon_days)
