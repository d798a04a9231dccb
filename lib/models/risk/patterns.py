"""The named risk patterns, one number per customer each, from the classified order lines
(``lib.data.orders.classify_lines``: what a sale or a return is is decided there, never here).

- ``returns``: share of the value bought that came back (return and cancellation lines);
- ``quick_returns``: items returned within ``QUICK_DAYS`` of buying them (the wardrobing signal: bought
  to be used once and sent back);
- ``bulk``: the most of one product a customer bought, as a multiple of what the shop's customers
  usually buy of it (the median buyer's total of that product);
- ``price``: share of the value bought (at the product's usual price) that was paid far below it;
- ``burst``: the most separate orders placed within any 60 minutes.

Customers, products and orders are integer codes (``Lines``) and every per-customer sum is one
``np.bincount``: at a million customers a string groupby per pattern cost most of the time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.data.orders import RETURNED, OrderLines
from lib.text.i18n import t

PATTERNS = ("returns", "quick_returns", "bulk", "price", "burst")
# A line is "far below" its product's usual unit price when it paid under this share of the median:
# ordinary discounts (10-30% off) stay above it; coupon stacking and price glitches fall under it.
CUT_PRICE_RATIO = 0.5
BURST_WINDOW_S = 3600
QUICK_DAYS = 14  # a return this soon after buying the product counts as quick (a usual return window)


@dataclass(frozen=True)
class Baselines:
    """What the shop's customers usually do, per product: learned once, kept in ``RiskRules`` so a later
    file is measured against the same usual quantities and prices."""

    usual_quantity: dict  # product -> median buyer's total quantity of it
    usual_price: dict  # product -> median unit price paid on sale lines
    return_share: float  # the shop's returned value / bought value


@dataclass(frozen=True)
class Lines:
    """The usable lines as codes: ``frame`` has ``c`` (customer code, position in ``customers``), ``o``
    (order code), ``p`` (product code, position in ``products``; absent without products), ``date``,
    ``quantity``, ``value``, ``unit``, ``sale`` and ``ret`` (a sale, a return or cancellation line); ``names`` is each product's name for a reason."""

    frame: pd.DataFrame
    customers: pd.Index  # customer ids as text, sorted
    orders: np.ndarray  # order id per order code
    products: np.ndarray | None  # product code text per product code
    names: np.ndarray | None  # what a reason calls each product (its description when the log has one)
    basis: str | None = None  # the category column standing in for products, when the log names none


@dataclass(frozen=True)
class Measures:
    """Per customer (index: customer id as text) the pattern numbers and what a reason needs to say."""

    table: pd.DataFrame  # columns: PATTERNS + returns_n, quick_days, bulk_product, bulk_code, bulk_units,
    #                      bulk_orders, bulk_usual, burst_minutes, burst_start, orders, bought, lines
    skipped: dict  # pattern -> why it could not be computed
    lines: Lines | None = None  # the lines measured, for the flagged orders (None: a customer table)
    outlier: pd.DataFrame | None = None  # features of the outlier score (None: the log's own)
    gaps: pd.DataFrame | None = None  # every return matched to its purchase (``quick_gaps``)


def product_key(ol: OrderLines, raw: pd.DataFrame) -> tuple[pd.Series | None, str | None]:
    """The product of each line, or the log's category when it names no product (said in the report)."""
    if "product" in ol.lines:
        return ol.lines["product"], None
    cat = next((c for c in ol.columns.categorical if "categor" in str(c).lower() or "类别" in str(c)), None)
    if cat is None:
        return None, None
    return raw.loc[ol.lines.index, cat].astype("string").fillna(""), cat


def _sum(codes: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(codes, weights=weights, minlength=n).astype("float64")


def _distinct(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """How many distinct ``b`` each code of ``a`` has (``a`` in 0..n-1)."""
    if not len(a):
        return np.zeros(n)
    pairs = np.unique(a.astype(np.int64) * (int(b.max()) + 1) + b)
    return _sum(pairs // (int(b.max()) + 1), n)


def _group_median(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """The median of ``values`` per code 0..n-1 (NaN where a code has none)."""
    out = np.full(n, np.nan)
    ok = ~np.isnan(values)
    med = pd.Series(values[ok]).groupby(codes[ok]).median()
    out[med.index.to_numpy()] = med.to_numpy()
    return out


def baselines(ln: Lines, units: pd.DataFrame | None = None) -> Baselines:
    """The usual quantity and price per product, and the shop's return share. ``units``: ``pair_units``
    of the sale lines, when already counted."""
    f = ln.frame
    sale = f["sale"].to_numpy()
    usual_q, usual_p = {}, {}
    if ln.products is not None:
        n_p = len(ln.products)
        units = pair_units(f[sale]) if units is None else units
        q = _group_median(units["p"].to_numpy(), units["units"].to_numpy(), n_p)
        p = _group_median(f["p"].to_numpy()[sale], f["unit"].to_numpy()[sale], n_p)
        usual_q = {k: float(v) for k, v in zip(ln.products, q) if not np.isnan(v)}
        usual_p = {k: float(v) for k, v in zip(ln.products, p) if not np.isnan(v)}
    value = f["value"].to_numpy()
    bought = float(value[sale].sum())
    back = float(-value[f["ret"].to_numpy()].sum())
    return Baselines(usual_q, usual_p, back / bought if bought > 0 else 0.0)


def pair_units(sale: pd.DataFrame) -> pd.DataFrame:
    """Units of each product each customer bought: columns c, p, units."""
    return sale.groupby(["c", "p"], sort=False)["quantity"].sum().rename("units").reset_index()


def _per_product(ln: Lines, mapping: dict) -> np.ndarray:
    """A baseline's value for each product code (NaN for a product the baseline has not seen)."""
    return pd.Series(mapping, dtype="float64").reindex(ln.products).to_numpy()


def _returns(f: pd.DataFrame, n: int, bought: np.ndarray) -> pd.DataFrame:
    ret = f["ret"].to_numpy()
    c = f["c"].to_numpy()
    back = _sum(c[ret], n, -f["value"].to_numpy()[ret])
    share = np.clip(np.divide(back, bought, out=np.zeros(n), where=bought > 0), 0, 5)
    return pd.DataFrame({"returns": share, "returns_n": _distinct(c[ret], f["o"].to_numpy()[ret], n)})


def quick_gaps(f: pd.DataFrame) -> pd.DataFrame:
    """Every returned line matched to the latest earlier purchase of the same product by the same
    customer: the return's position in ``f`` (``row``), its customer ``c`` and the gap in days (``days``)."""
    ret = np.flatnonzero(f["ret"].to_numpy())
    sale = f["sale"].to_numpy()
    n_p = int(f["p"].max()) + 1
    key = f["c"].to_numpy().astype(np.int64) * n_p + f["p"].to_numpy()
    dates = f["date"].to_numpy()
    left = pd.DataFrame({"key": key[ret], "date": dates[ret], "row": ret})
    right = pd.DataFrame({"key": key[sale], "bought": dates[sale]})
    left, right = left.sort_values("date", kind="stable"), right.sort_values("bought", kind="stable")
    m = pd.merge_asof(left, right, left_on="date", right_on="bought", by="key", direction="backward")
    m = m[m["bought"].notna()]
    return pd.DataFrame({"row": m["row"].to_numpy(), "c": (m["key"] // n_p).to_numpy(),
                         "days": ((m["date"] - m["bought"]).dt.total_seconds() / 86400).to_numpy()})


def _quick(g: pd.DataFrame, n: int) -> pd.DataFrame | None:
    if not len(g):
        return None
    g = g[g["days"] <= QUICK_DAYS]
    c = g["c"].to_numpy()
    days = np.full(n, np.nan)
    med = g.groupby("c")["days"].median()
    days[med.index.to_numpy()] = med.to_numpy()
    return pd.DataFrame({"quick_returns": _sum(c, n), "quick_days": days})


def _bulk(ln: Lines, n: int, base: Baselines, units: pd.DataFrame) -> pd.DataFrame:
    f = ln.frame
    sale = f[f["sale"].to_numpy()]
    per = units.copy()
    usual = np.nan_to_num(_per_product(ln, base.usual_quantity), nan=1.0).clip(min=1.0)
    per["usual"] = usual[per["p"].to_numpy()]
    per["ratio"] = per["units"] / per["usual"]
    top = per.sort_values(["ratio", "p"], ascending=[False, True], kind="stable").drop_duplicates("c")
    # Orders are counted only for each customer's top product: a few lines, not every pair.
    top_p = np.full(n, -1)
    top_p[top["c"].to_numpy()] = top["p"].to_numpy()
    mine = sale["p"].to_numpy() == top_p[sale["c"].to_numpy()]
    orders = _distinct(sale["c"].to_numpy()[mine], sale["o"].to_numpy()[mine], n)
    out = pd.DataFrame({"bulk": np.zeros(n), "bulk_code": pd.array([pd.NA] * n, dtype="Int64"),
                        "bulk_units": np.zeros(n), "bulk_orders": orders, "bulk_usual": np.full(n, np.nan)})
    c = top["c"].to_numpy()
    out.loc[c, "bulk"] = top["ratio"].to_numpy()
    out.loc[c, "bulk_code"] = top["p"].to_numpy()
    out.loc[c, "bulk_units"] = top["units"].to_numpy()
    out.loc[c, "bulk_usual"] = top["usual"].to_numpy()
    names = pd.array(np.append(ln.names, None), dtype="string")
    out["bulk_product"] = names.take(out["bulk_code"].fillna(len(ln.names)).to_numpy(dtype=np.int64))
    return out


def cut_lines(ln: Lines, base: Baselines) -> tuple[np.ndarray, np.ndarray]:
    """(cut-price mask, each line's worth at the usual price) over ``ln.frame``."""
    f = ln.frame
    usual = _per_product(ln, base.usual_price)[f["p"].to_numpy()]
    sale = f["sale"].to_numpy()
    cut = sale & (f["unit"].to_numpy() < CUT_PRICE_RATIO * usual)
    return cut, f["quantity"].to_numpy() * usual


def _price(ln: Lines, n: int, base: Baselines) -> pd.DataFrame:
    f = ln.frame
    cut, worth = cut_lines(ln, base)
    sale = (f["sale"].to_numpy()) & (worth > 0)
    c = f["c"].to_numpy()
    total = _sum(c[sale], n, worth[sale])
    low = _sum(c[sale & cut], n, worth[sale & cut])
    return pd.DataFrame({"price": np.divide(low, total, out=np.zeros(n), where=total > 0),
                         "price_lines": _sum(c[sale & cut], n)})


def order_starts(f: pd.DataFrame) -> pd.DataFrame:
    """The first moment of each order per customer (columns c, o, date), sorted by customer and moment."""
    # One sort by customer and moment; an order's first line is then its start.
    key = np.lexsort((f["date"].to_numpy(), f["c"].to_numpy()))
    c, o, d = f["c"].to_numpy()[key], f["o"].to_numpy()[key], f["date"].to_numpy()[key]
    pair = c.astype(np.int64) * (int(o.max(initial=0)) + 1) + o
    _, first = np.unique(pair, return_index=True)
    first = np.sort(first)  # back in customer-then-moment order
    return pd.DataFrame({"c": c[first], "o": o[first], "date": d[first]})


def _burst(first: pd.DataFrame, n: int) -> pd.DataFrame:
    """Most separate orders (``order_starts``) within any ``BURST_WINDOW_S``, the minutes they spanned
    and when the window began."""
    cust = first["c"].to_numpy().astype(np.int64)
    secs = first["date"].to_numpy().astype("datetime64[s]").astype(np.int64)
    secs = secs - secs.min() if len(secs) else secs
    span = int(secs.max(initial=0)) + 2 * BURST_WINDOW_S
    key = cust * span + secs  # sorted: customers apart by more than a window
    end = np.searchsorted(key, key + BURST_WINDOW_S, side="right")
    count = end - np.arange(len(key))
    minutes = (secs[np.maximum(end - 1, 0)] - secs) / 60.0 if len(key) else np.zeros(0)
    best = pd.DataFrame({"c": cust, "burst": count, "minutes": minutes, "start": first["date"].to_numpy()})
    best = best.sort_values(["c", "burst", "minutes"], ascending=[True, False, True], kind="stable")
    best = best.drop_duplicates("c")
    out = pd.DataFrame({"burst": np.zeros(n), "burst_minutes": np.zeros(n),
                        "burst_start": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")})
    c = best["c"].to_numpy()
    out.loc[c, "burst"] = best["burst"].to_numpy().astype("float64")
    out.loc[c, "burst_minutes"] = best["minutes"].to_numpy()
    out.loc[c, "burst_start"] = best["start"].to_numpy()
    return out


def has_times(dates: pd.Series) -> bool:
    """Whether the log records a time of day (not every order at midnight): bursts need it."""
    d = dates.dropna()
    if len(d) > 200_000:  # the share of lines with a time of day is the same on a sample
        d = d.sample(200_000, random_state=0)
    return bool(len(d)) and float((d != d.dt.normalize()).mean()) > 0.5


def coded_lines(ol: OrderLines, raw: pd.DataFrame) -> tuple[Lines, str | None]:
    """The usable lines of ``ol`` as codes (``Lines``), and the category column standing in for products."""
    src = ol.lines.loc[ol.usable]
    product, basis = product_key(ol, raw)
    keep = np.ones(len(src), dtype=bool)
    if product is not None:
        prod = product.loc[src.index].astype("str").fillna("")
        keep = (prod != "").to_numpy() | ~src["kind"].eq("sale").to_numpy()
        src, prod = src[keep], prod[keep].array
    # Factorised as they are (Arrow strings): converting millions of them to Python objects first cost most.
    c, customers = pd.factorize(src["customer"], sort=True)
    o, orders = pd.factorize(src["order"])
    qty = src["quantity"].to_numpy(dtype="float64")
    value = src["value"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = np.abs(np.where(qty != 0, value / qty, np.nan))
    frame = pd.DataFrame({"c": c, "o": o, "date": src["date"].to_numpy(), "quantity": qty, "value": value,
                          "unit": unit, "sale": src["kind"].eq("sale").to_numpy(),
                          "ret": src["kind"].isin(RETURNED).to_numpy()}, index=src.index)
    products = names = None
    if product is not None:
        frame["p"], products = pd.factorize(pd.array(prod, dtype="str") if len(prod) else prod)
        products = np.asarray(products, dtype=object)
        names = products
        if ol.columns.description and basis is None:  # a reason names the product, not its code
            desc = raw.loc[src.index, ol.columns.description].astype("string")
            first = desc.groupby(frame["p"].to_numpy()).first()
            names = pd.Series(products).where(first.reindex(range(len(products))).isna(),
                                              first.reindex(range(len(products)))).to_numpy(dtype=object)
    return Lines(frame, pd.Index(np.asarray(customers).astype(str), dtype="str"), np.asarray(orders), products,
                 names, basis), basis


def measure(ol: OrderLines, raw: pd.DataFrame, base: Baselines | None = None) -> tuple[Measures, Baselines]:
    """Every pattern's number per customer; ``base``: a saved model's baselines (default: this log's)."""
    ln, basis = coded_lines(ol, raw)
    f, n = ln.frame, len(ln.customers)
    sale = f["sale"].to_numpy()
    units = pair_units(f[sale]) if ln.products is not None else None
    base = base or baselines(ln, units)
    skipped = {}
    c = f["c"].to_numpy()
    bought = _sum(c[sale], n, f["value"].to_numpy()[sale])
    starts = order_starts(f)
    parts = [pd.DataFrame({"orders": _sum(starts["c"].to_numpy(), n), "bought": bought, "lines": _sum(c, n)})]
    no_product = t("the log has no product or category column")
    gaps = None
    if not f["ret"].any():
        skipped["returns"] = t("the log has no returns or cancellations (no negative quantities or amounts)")
        skipped["quick_returns"] = skipped["returns"]
    else:
        parts.append(_returns(f, n, bought))
        gaps = quick_gaps(f) if ln.products is not None else None
        quick = _quick(gaps, n) if gaps is not None else None
        if ln.products is None:
            skipped["quick_returns"] = t("the log has no product column to match a return to its purchase")
        elif quick is None:
            skipped["quick_returns"] = t("no return matches an earlier purchase of the same product by the same customer")
        else:
            parts.append(quick)
    if ln.products is None:
        skipped["bulk"] = skipped["price"] = no_product
    else:
        if ol.columns.quantity is None:
            skipped["bulk"] = t("the log has no quantity column")
        else:
            parts.append(_bulk(ln, n, base, units))
        if ol.columns.quantity is None or ol.columns.unit_price is None:
            skipped["price"] = t("the log has no unit price (quantity and unit price columns)")
        elif basis is not None:
            # One category holds cheap and dear items: a line far below the category's median is no sign.
            skipped["price"] = t("the log names categories, not products, and items of one category have different prices")
        else:
            parts.append(_price(ln, n, base))
    if not has_times(f["date"]):
        skipped["burst"] = t("the dates have no time of day, so orders within an hour cannot be told apart")
    else:
        parts.append(_burst(starts, n))
    table = pd.concat(parts, axis=1)
    table.index = ln.customers
    return Measures(table, skipped, ln, gaps=gaps), base
