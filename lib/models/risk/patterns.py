"""The named risk patterns, one number per customer each, from the classified order lines
(``lib.data.orders.classify_lines``: what a sale or a return is is decided there, never here).

- ``returns``: share of the value bought that came back (return and cancellation lines);
- ``bulk``: the most of one product a customer bought, as a multiple of what the shop's customers
  usually buy of it (the median buyer's total of that product);
- ``price``: share of the value bought (at the product's usual price) that was paid far below it;
- ``burst``: the most separate orders placed within any 60 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.data.orders import RETURNED, OrderLines
from lib.text.i18n import t

PATTERNS = ("returns", "bulk", "price", "burst")
# A line is "far below" its product's usual unit price when it paid under this share of the median:
# ordinary discounts (10-30% off) stay above it; coupon stacking and price glitches fall under it.
CUT_PRICE_RATIO = 0.5
BURST_WINDOW_S = 3600


@dataclass(frozen=True)
class Baselines:
    """What the shop's customers usually do, per product: learned once, kept in ``RiskRules`` so a later
    file is measured against the same usual quantities and prices."""

    usual_quantity: dict  # product -> median buyer's total quantity of it
    usual_price: dict  # product -> median unit price paid on sale lines
    return_share: float  # the shop's returned value / bought value


@dataclass(frozen=True)
class Measures:
    """Per customer (index: customer id as text) the pattern numbers and what a reason needs to say."""

    table: pd.DataFrame  # columns: PATTERNS + returns_n, bulk_product, bulk_units, bulk_orders, bulk_usual,
    #                      burst_minutes, orders, bought, lines
    skipped: dict  # pattern -> why it could not be computed


def product_key(ol: OrderLines, raw: pd.DataFrame) -> tuple[pd.Series | None, str | None]:
    """The product of each line, or the log's category when it names no product (said in the report)."""
    if "product" in ol.lines:
        return ol.lines["product"], None
    cat = next((c for c in ol.columns.categorical if "categor" in str(c).lower() or "类别" in str(c)), None)
    if cat is None:
        return None, None
    return raw.loc[ol.lines.index, cat].astype("string").fillna(""), cat


def baselines(lines: pd.DataFrame) -> Baselines:
    """The usual quantity and price per product, and the shop's return share, from usable lines with
    ``product``, ``unit`` (unit price) columns."""
    sale = lines[lines["kind"] == "sale"]
    usual_q, usual_p = {}, {}
    if "product" in sale:
        per = sale.groupby(["product", "customer"], observed=True)["quantity"].sum()
        usual_q = per.groupby(level=0).median().to_dict()
        usual_p = sale.groupby("product")["unit"].median().dropna().to_dict()
    bought = float(sale["value"].sum())
    back = float(-lines.loc[lines["kind"].isin(RETURNED), "value"].sum())
    return Baselines(usual_q, usual_p, back / bought if bought > 0 else 0.0)


def _returns(lines: pd.DataFrame, idx: pd.Index) -> pd.DataFrame:
    sale = lines[lines["kind"] == "sale"].groupby("customer")["value"].sum()
    ret = lines[lines["kind"].isin(RETURNED)]
    back = (-ret["value"]).groupby(ret["customer"]).sum()
    n = ret.groupby("customer")["order"].nunique()
    bought = sale.reindex(idx, fill_value=0.0)
    share = (back.reindex(idx, fill_value=0.0) / bought.where(bought > 0)).fillna(0.0).clip(0, 5)
    return pd.DataFrame({"returns": share, "returns_n": n.reindex(idx, fill_value=0)})


def _bulk(lines: pd.DataFrame, idx: pd.Index, base: Baselines) -> pd.DataFrame:
    sale = lines[lines["kind"] == "sale"]
    per = sale.groupby(["customer", "product"], observed=True).agg(units=("quantity", "sum"),
                                                                  orders=("order", "nunique")).reset_index()
    per["usual"] = per["product"].map(base.usual_quantity).astype("float64").fillna(1.0).clip(lower=1.0)
    per["ratio"] = per["units"] / per["usual"]
    top = per.sort_values("ratio", ascending=False).drop_duplicates("customer").set_index("customer")
    top = top.reindex(idx)
    return pd.DataFrame({"bulk": top["ratio"].fillna(0.0), "bulk_product": top["product"],
                         "bulk_units": top["units"].fillna(0.0), "bulk_orders": top["orders"].fillna(0),
                         "bulk_usual": top["usual"]})


def _price(lines: pd.DataFrame, idx: pd.Index, base: Baselines) -> pd.DataFrame:
    sale = lines[lines["kind"] == "sale"]
    usual = sale["product"].map(base.usual_price).astype("float64")
    worth = (sale["quantity"] * usual).where(usual > 0)
    cut = sale["unit"] < CUT_PRICE_RATIO * usual
    total = worth.groupby(sale["customer"]).sum()
    low = worth.where(cut, 0.0).groupby(sale["customer"]).sum()
    share = (low / total.where(total > 0)).reindex(idx).fillna(0.0)
    return pd.DataFrame({"price": share, "price_lines": cut.groupby(sale["customer"]).sum().reindex(idx, fill_value=0)})


def _burst(lines: pd.DataFrame, idx: pd.Index) -> pd.DataFrame:
    """Most separate orders (first moment of each) within any ``BURST_WINDOW_S``, and the minutes they spanned."""
    first = lines.groupby(["customer", "order"], observed=True)["date"].min().reset_index()
    first = first.sort_values(["customer", "date"])
    cust = pd.factorize(first["customer"])[0].astype(np.int64)
    secs = first["date"].to_numpy().astype("datetime64[s]").astype(np.int64)
    secs = secs - secs.min() if len(secs) else secs
    span = int(secs.max(initial=0)) + 2 * BURST_WINDOW_S
    key = cust * span + secs  # sorted: customers apart by more than a window
    end = np.searchsorted(key, key + BURST_WINDOW_S, side="right")
    count = end - np.arange(len(key))
    minutes = (secs[np.maximum(end - 1, 0)] - secs) / 60.0 if len(key) else np.zeros(0)
    best = pd.DataFrame({"customer": first["customer"].to_numpy(), "burst": count, "minutes": minutes})
    best = best.sort_values(["burst", "minutes"], ascending=[False, True]).drop_duplicates("customer")
    best = best.set_index("customer").reindex(idx)
    return pd.DataFrame({"burst": best["burst"].fillna(0.0), "burst_minutes": best["minutes"].fillna(0.0)})


def has_times(dates: pd.Series) -> bool:
    """Whether the log records a time of day (not every order at midnight): bursts need it."""
    d = dates.dropna()
    return bool(len(d)) and float((d != d.dt.normalize()).mean()) > 0.5


def measure(ol: OrderLines, raw: pd.DataFrame, base: Baselines | None = None) -> tuple[Measures, Baselines]:
    """Every pattern's number per customer; ``base``: a saved model's baselines (default: this log's)."""
    lines = ol.lines.loc[ol.usable].copy()
    product, basis = product_key(ol, raw)
    skipped = {}
    if product is not None:
        lines["product"] = product.loc[lines.index].astype("string").to_numpy()
        lines = lines[lines["product"].ne("") | ~lines["kind"].eq("sale")]
    qty = lines["quantity"].where(lines["quantity"] != 0)
    lines["unit"] = (lines["value"] / qty).abs()
    base = base or baselines(lines)
    idx = pd.Index(sorted(lines["customer"].unique()), dtype="str")
    parts = [pd.DataFrame({"orders": lines.groupby("customer")["order"].nunique().reindex(idx, fill_value=0),
                           "bought": lines[lines["kind"] == "sale"].groupby("customer")["value"].sum()
                           .reindex(idx, fill_value=0.0),
                           "lines": lines.groupby("customer").size().reindex(idx, fill_value=0)})]
    if int(lines["kind"].isin(RETURNED).sum()) == 0:
        skipped["returns"] = t("the log has no returns or cancellations (no negative quantities or amounts)")
    else:
        parts.append(_returns(lines, idx))
    if product is None:
        skipped["bulk"] = t("the log has no product or category column")
        skipped["price"] = t("the log has no product or category column")
    else:
        if ol.columns.quantity is None:
            skipped["bulk"] = t("the log has no quantity column")
        else:
            bulk = _bulk(lines, idx, base)
            if ol.columns.description and basis is None:  # a reason names the product, not its code
                desc = raw.loc[lines.index, ol.columns.description].astype("string")
                names = desc.groupby(lines["product"].to_numpy()).first()
                bulk["bulk_product"] = bulk["bulk_product"].map(names).fillna(bulk["bulk_product"])
            parts.append(bulk)
        if ol.columns.quantity is None or ol.columns.unit_price is None:
            skipped["price"] = t("the log has no unit price (quantity and unit price columns)")
        elif basis is not None:
            # One category holds cheap and dear items: a line far below the category's median is no sign.
            skipped["price"] = t("the log names categories, not products, and items of one category have different prices")
        else:
            parts.append(_price(lines, idx, base))
    if not has_times(lines["date"]):
        skipped["burst"] = t("the dates have no time of day, so orders within an hour cannot be told apart")
    else:
        parts.append(_burst(lines, idx))
    return Measures(pd.concat(parts, axis=1), skipped), base
