"""The order log as purchase days: one row per customer and day, what every value method needs.

What each line is (sale, free, return, cancellation, fee) comes from ``lib.data.orders``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.data.orders import RETURNED, classify_lines, infer_transaction_columns
from lib.errors import DataValidationError
from lib.text.i18n import t


@dataclass(frozen=True)
class Activity:
    """The log reduced to one row per customer and day: what every method needs, nothing else.

    ``daily`` columns: ``cust`` (code into ``ids``), ``day`` (days since ``start``), ``sales`` (products
    bought), ``returns`` (products returned, positive), ``orders`` (distinct orders with a sale).
    ``products``: the first day each customer bought each product (for product breadth).
    ``first_seen``: the first day of any line per customer (also fee- or return-only customers).
    """

    daily: pd.DataFrame
    products: pd.DataFrame
    first_seen: np.ndarray
    ids: np.ndarray
    start: pd.Timestamp
    end_day: int  # the day after the last line: "today"
    has_products: bool  # the log names its products (so product breadth is a feature)

    def before(self, cutoff: int) -> Activity:
        """Only what was known before day ``cutoff``: the one place a window is hidden from a model."""
        d = self.daily
        p = self.products
        return Activity(
            daily=d[d["day"].to_numpy() < cutoff],
            products=p[p["day"].to_numpy() < cutoff],
            first_seen=np.where(self.first_seen < cutoff, self.first_seen, -1),
            ids=self.ids,
            start=self.start,
            end_day=cutoff,
            has_products=self.has_products,
        )

    def customers(self) -> np.ndarray:
        """Codes of customers seen before ``end_day`` (any line), sorted."""
        return np.flatnonzero(self.first_seen >= 0)


def activity_from_log(
    frame: pd.DataFrame,
    customer_col: str | None = None,
    date_col: str | None = None,
    amount_col: str | None = None,
) -> tuple[Activity, tuple[str, ...]]:
    """Reduce an order-line log to purchase days per customer (``frame`` is not modified).

    What each line is comes from ``lib.data.orders`` (as for ``lib.data.features.customers_from_transactions``):
    sales are purchases, cancellations and returns give money back, fees are not products; lines
    without a customer, a readable date or an amount are left out.
    """
    cols = infer_transaction_columns(frame, customer_col, date_col, amount_col)
    ol = classify_lines(frame, cols)
    warnings: list[str] = []
    dates = ol.lines["date"]
    if dates.notna().sum() == 0:
        example = frame[cols.date].dropna().iloc[0] if frame[cols.date].notna().any() else ""
        raise DataValidationError(
            t("Column '{col}' has no readable dates (e.g. '{example}'). Customer value needs the date of every order: choose the column that holds the order date (the Date box on the Upload page, --date-col on the command line).", col=cols.date, example=example)
        )
    keep = ol.usable.to_numpy()
    bad_dates = ol.counts["unreadable date"]
    if bad_dates:
        warnings.append(t("{bad:,} lines have an unreadable date in '{col}' and were left out.", bad=bad_dates, col=cols.date))
    if not keep.any():
        raise DataValidationError(
            t("No usable lines: every line lacks a customer id ('{customer}'), a date ('{date}') or an amount. Check that these columns are the right ones.", customer=cols.customer, date=cols.date)
        )
    kept = ol.lines[keep]
    return _activity(kept, has_orders=cols.order is not None, has_products=cols.product is not None), tuple(warnings)


def _activity(kept: pd.DataFrame, has_orders: bool, has_products: bool) -> Activity:
    """Purchase days from classified lines (``OrderLines.lines``, usable ones only)."""
    dates = kept["date"]
    day_ts = dates.dt.normalize()
    start = day_ts.min()
    day = ((day_ts - start) // pd.Timedelta(days=1)).to_numpy(dtype="int64")
    codes, ids = pd.factorize(kept["customer"], sort=True)
    ids = np.asarray(ids, dtype=object)
    v = kept["value"].to_numpy(dtype="float64")
    kind = kept["kind"]
    prod = (kind != "non_product").to_numpy()
    sale = (kind == "sale").to_numpy()
    first_seen = np.full(len(ids), np.iinfo(np.int64).max, dtype="int64")
    np.minimum.at(first_seen, codes, day)
    lines = pd.DataFrame({
        "cust": codes, "day": day,
        "sales": np.where(sale, v, 0.0),
        "returns": np.where(kind.isin(RETURNED).to_numpy(), np.abs(v), 0.0),
    })
    if has_orders:
        # An order counts once on its day however many lines it has.
        okeys = pd.DataFrame({"cust": codes[sale], "day": day[sale], "o": kept["order"].to_numpy()[sale]})
        n_orders = okeys.drop_duplicates().groupby(["cust", "day"]).size()
    else:
        # Without an order id, each customer-day with a purchase is one order.
        n_orders = lines[sale].groupby(["cust", "day"]).size().clip(upper=1)
    daily = lines[prod].groupby(["cust", "day"], sort=True)[["sales", "returns"]].sum()
    daily["orders"] = n_orders.reindex(daily.index).fillna(0).astype("int64")
    daily = daily.reset_index()
    if has_products:
        pk = pd.DataFrame({"cust": codes[sale], "product": kept["product"].to_numpy()[sale], "day": day[sale]})
        products = pk.groupby(["cust", "product"], sort=False)["day"].min().reset_index()[["cust", "day"]]
    else:
        products = pd.DataFrame({"cust": np.zeros(0, dtype="int64"), "day": np.zeros(0, dtype="int64")})
    end_day = int(day.max()) + 1
    return Activity(daily=daily, products=products, first_seen=first_seen, ids=ids, start=start,
                    end_day=end_day, has_products=has_products)


def actual_spend(act: Activity, cutoff: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """What every customer spent (net of returns, at least 0) and whether they bought in
    [cutoff, cutoff + horizon), indexed by customer code."""
    d = act.daily
    day = d["day"].to_numpy()
    w = (day >= cutoff) & (day < cutoff + horizon)
    n = len(act.ids)
    net = np.bincount(d["cust"].to_numpy()[w], weights=(d["sales"] - d["returns"]).to_numpy()[w], minlength=n)
    bought = np.bincount(d["cust"].to_numpy()[w], weights=(d["sales"].to_numpy()[w] > 0), minlength=n) > 0
    return np.clip(net, 0, None), bought
