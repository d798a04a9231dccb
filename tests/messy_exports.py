"""Messy exports of a clean order-line log, as marketers' tools write them (issue 27): other date formats,
Excel, amounts only, ids with leading zeros, currency signs, pasted headers, a totals line, time zones,
stray future dates, renamed (and Chinese) headers. Each variant is (file name, bytes) built from the
clean log's text, so tests/test_messy_exports.py can check that it rolls up to the same customers."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Roles:
    """The clean log's columns by role (None: the log has no such column)."""

    order: str
    customer: str
    date: str
    quantity: str
    price: str
    product: str | None = None
    description: str | None = None


SHOP = Roles("order_id", "customer_id", "order_date", "quantity", "unit_price")
ONLINE_RETAIL = Roles("InvoiceNo", "CustomerID", "InvoiceDate", "Quantity", "UnitPrice", "StockCode", "Description")

# Headers a renamed export might carry, by role; other columns keep their names.
ENGLISH = {"order": "Order Number", "customer": "Customer No", "date": "Purchase Date", "quantity": "Qty",
           "price": "Price Each", "product": "Item Code", "description": "Item Description"}
CHINESE = {"order": "订单号", "customer": "客户编号", "date": "下单时间", "quantity": "数量", "price": "单价",
           "product": "商品编码", "description": "商品名称"}
CHINESE_OTHERS = {"Country": "国家", "category": "类别", "channel": "渠道", "region": "地区"}

Variant = Callable[[pd.DataFrame, Roles], tuple[str, bytes]]


def _csv(frame: pd.DataFrame, name: str = "export.csv", **kw) -> tuple[str, bytes]:
    return name, frame.to_csv(index=False, **kw).encode("utf-8")


def _dates(log: pd.DataFrame, r: Roles) -> pd.Series:
    return pd.to_datetime(log[r.date], format="ISO8601")


def _date_format(fmt: str) -> Variant:
    def variant(log, r):
        out = log.copy()
        out[r.date] = _dates(log, r).dt.strftime(fmt)
        return _csv(out)
    return variant


def excel_serial(log, r):
    out = log.copy()
    days = (_dates(log, r) - pd.Timestamp("1899-12-30")) / pd.Timedelta(days=1)
    out[r.date] = days.round(6).map(lambda v: f"{v:.6f}".rstrip("0").rstrip("."))
    return _csv(out)


def xlsx(log, r):
    out = log.copy()
    out[r.date] = _dates(log, r)
    for c in (r.quantity, r.price):
        out[c] = pd.to_numeric(out[c])
    buf = io.BytesIO()
    out.to_excel(buf, index=False, engine="openpyxl")
    return "export.xlsx", buf.getvalue()


def amount_only(log, r):
    out = log.copy()
    amount = (pd.to_numeric(log[r.quantity]) * pd.to_numeric(log[r.price])).round(2)
    out = out.drop(columns=[r.quantity, r.price])
    out["amount"] = amount.map(lambda v: f"{v:.2f}")
    return _csv(out)


def leading_zeros(log, r):
    out = log.copy()
    ids = log[r.customer]
    out[r.customer] = ids.where(ids.isna() | ids.eq(""), ids.str.zfill(7))
    return _csv(out)


def pounds(log, r):
    out = log.copy()
    out[r.price] = pd.to_numeric(log[r.price]).map(lambda v: f"-£{-v:,.2f}" if v < 0 else f"£{v:,.2f}")
    return _csv(out)


def euros(log, r):
    out = log.copy()

    def eur(v: float) -> str:
        text = f"{abs(v):,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")
        return f"{'-' if v < 0 else ''}{text} €"
    out[r.price] = pd.to_numeric(log[r.price]).map(eur)
    return _csv(out, sep=";")


def pasted_headers(log, r, every: int = 4000):
    header = pd.DataFrame([list(log.columns)], columns=log.columns)
    parts = [piece for start in range(0, len(log), every) for piece in (log.iloc[start:start + every], header)]
    return _csv(pd.concat(parts[:-1], ignore_index=True))


def totals_line(log, r):
    total = {c: "" for c in log.columns}
    total[r.order] = "Total"
    total[r.quantity] = str(int(pd.to_numeric(log[r.quantity]).sum()))
    total[r.price] = f"{(pd.to_numeric(log[r.quantity]) * pd.to_numeric(log[r.price])).sum():.2f}"
    return _csv(pd.concat([log, pd.DataFrame([total])], ignore_index=True))


def stray_future(log, r, n: int = 5):
    stray = log[log[r.customer].ne("") & log[r.customer].notna()].head(n).copy()
    stray[r.date] = "2031-01-02 10:00:00"
    stray[r.order] = [f"99999{i}" for i in range(n)]
    return _csv(pd.concat([log, stray], ignore_index=True))


def _renamed(names: dict[str, str], others: dict[str, str] | None = None) -> Variant:
    def variant(log, r):
        by_role = {getattr(r, role): new for role, new in names.items() if getattr(r, role, None)}
        return _csv(log.rename(columns={**(others or {}), **by_role}))
    return variant


VARIANTS: dict[str, Variant] = {
    "day first 31/12/2011 14:05": _date_format("%d/%m/%Y %H:%M"),
    "ISO with T and Z": _date_format("%Y-%m-%dT%H:%M:%SZ"),
    "US month first 12/31/2011 2:05 PM": _date_format("%m/%d/%Y %I:%M %p"),
    "Excel serial dates": excel_serial,
    "Excel workbook (.xlsx)": xlsx,
    "amounts only": amount_only,
    "customer ids with leading zeros": leading_zeros,
    "prices £1,234.50": pounds,
    "prices 1.234,50 € (semicolons)": euros,
    "header pasted in the middle": pasted_headers,
    "totals line at the bottom": totals_line,
    "time zone +01:00": _date_format("%Y-%m-%dT%H:%M:%S+01:00"),
    "five stray 2031 lines": stray_future,
    "renamed columns": _renamed(ENGLISH),
    "Chinese headers": _renamed(CHINESE, CHINESE_OTHERS),
}


def clean_log(path, lines: int) -> pd.DataFrame:
    """The first ``lines`` lines of a log, every cell as text as the file writes it."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, nrows=lines)
    return frame.replace({np.nan: ""})
