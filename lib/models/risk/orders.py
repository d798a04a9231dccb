"""The flagged customers' suspicious orders, one row per order and pattern, with the reason a person can
check against the till: the orders of a burst, the orders holding the bulk product, the lines paid far
below the usual price and the items returned soon after buying them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lib.models.risk.patterns import BURST_WINDOW_S, QUICK_DAYS, Baselines, Lines, cut_lines, order_starts, quick_gaps
from lib.models.risk.reasons import money, num
from lib.text.i18n import t

ORDER_COLUMNS = ("customer_id", "order_id", "risk_pattern", "risk_reason_1")  # and "placed": when, for the order


def _rows(ln: Lines, c: np.ndarray, o: np.ndarray, pattern: str, words: list[str]) -> pd.DataFrame:
    f = ln.frame
    mine = np.isin(f["o"].to_numpy(), o)
    placed = pd.Series(f["date"].to_numpy()[mine]).groupby(f["o"].to_numpy()[mine]).min()
    return pd.DataFrame({"customer_id": ln.customers[c].astype(str), "order_id": ln.orders[o].astype(str),
                         "risk_pattern": pattern, "risk_reason_1": words,
                         "placed": placed.reindex(o).to_numpy() if len(o) else np.array([], dtype="M8[ns]")})


def _burst(ln: Lines, who: np.ndarray, tab: pd.DataFrame) -> pd.DataFrame:
    f = ln.frame
    starts = order_starts(f[np.isin(f["c"].to_numpy(), who)])
    begin = tab["burst_start"].to_numpy()[starts["c"].to_numpy()]
    since = (starts["date"].to_numpy() - begin) / np.timedelta64(1, "s")
    inside = starts[(since >= 0) & (since <= BURST_WINDOW_S)]
    c = inside["c"].to_numpy()
    n, minutes = tab["burst"].to_numpy()[c], tab["burst_minutes"].to_numpy()[c]
    words = [t("one of {n} orders within {minutes} minutes, placed {when}", n=int(k), minutes=max(1, round(m)),
               when=pd.Timestamp(w).strftime("%Y-%m-%d %H:%M")) for k, m, w in zip(n, minutes, inside["date"])]
    return _rows(ln, c, inside["o"].to_numpy(), "burst", words)


def _bulk(ln: Lines, who: np.ndarray, tab: pd.DataFrame) -> pd.DataFrame:
    f = ln.frame
    top = tab["bulk_code"].to_numpy(dtype="float64", na_value=-1)
    c_all = f["c"].to_numpy()
    mine = (f["sale"].to_numpy()) & np.isin(c_all, who) & (f["p"].to_numpy() == top[c_all])
    per = f[mine].groupby(["c", "o"], sort=True)["quantity"].sum().reset_index()
    c = per["c"].to_numpy()
    words = [t("{units} units of {product} in this order (usual for a customer, in all: {usual})", units=num(u),
               product=p, usual=num(us))
             for u, p, us in zip(per["quantity"], tab["bulk_product"].to_numpy()[c], tab["bulk_usual"].to_numpy()[c])]
    return _rows(ln, c, per["o"].to_numpy(), "bulk", words)


def _price(ln: Lines, who: np.ndarray, base: Baselines) -> pd.DataFrame:
    f = ln.frame
    cut, worth = cut_lines(ln, base)
    lines = f[cut & np.isin(f["c"].to_numpy(), who)].assign(worth=worth[cut & np.isin(f["c"].to_numpy(), who)])
    if not len(lines):
        return _rows(ln, np.zeros(0, int), np.zeros(0, int), "price", [])
    lines = lines.sort_values(["c", "o", "worth"], ascending=[True, True, False], kind="stable")
    n = lines.groupby(["c", "o"], sort=False)["p"].transform("size").to_numpy()
    first = ~lines.duplicated(["c", "o"]).to_numpy()
    top, n = lines[first], n[first]
    usual = pd.Series(base.usual_price, dtype="float64").reindex(ln.products).to_numpy()
    words = [t("paid {paid} each for {product} (usual: {usual}); {n} lines at cut prices in this order",
               paid=money(u), product=ln.names[p], usual=money(usual[p]), n=int(k))
             for u, p, k in zip(top["unit"], top["p"], n)]
    return _rows(ln, top["c"].to_numpy(), top["o"].to_numpy(), "price", words)


def _quick(ln: Lines, who: np.ndarray, g: pd.DataFrame) -> pd.DataFrame:
    g = g[(g["days"] <= QUICK_DAYS) & np.isin(g["c"].to_numpy(), who)]
    g = g.assign(o=ln.frame["o"].to_numpy()[g["row"].to_numpy()], p=ln.frame["p"].to_numpy()[g["row"].to_numpy()])
    g = g.sort_values(["c", "o", "days"], kind="stable").drop_duplicates(["c", "o"])
    words = [t("returned {product} {days} days after buying it", product=ln.names[p], days=num(d))
             for p, d in zip(g["p"], g["days"])]
    return _rows(ln, g["c"].to_numpy(), g["o"].to_numpy(), "quick_returns", words)


def flagged_orders(ln: Lines | None, tab: pd.DataFrame, sev: pd.DataFrame, flag: np.ndarray,
                   base: Baselines, gaps: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per suspicious order of a flagged customer and the pattern it shows (``ORDER_COLUMNS``).
    ``tab``: the measures (row i is customer code i); ``sev``: each pattern's severity (0: not fired);
    ``gaps``: the returns matched to their purchases (``quick_gaps``)."""
    parts = [pd.DataFrame(columns=[*ORDER_COLUMNS, "placed"])]
    if ln is not None:
        makers = {"burst": lambda w: _burst(ln, w, tab), "bulk": lambda w: _bulk(ln, w, tab),
                  "price": lambda w: _price(ln, w, base), "quick_returns": lambda w: _quick(ln, w, gaps if gaps is not None else quick_gaps(ln.frame))}
        for pattern, make in makers.items():
            if pattern in sev:
                who = np.flatnonzero(flag & (sev[pattern].to_numpy() > 0))
                if len(who):
                    parts.append(make(who))
    return pd.concat(parts, ignore_index=True)
