"""Customer value: each customer's chance of buying, expected orders and spend over the next H days, churn
risk and a 12-month value, plus the revenue forecast they add up to, checked out of time.

Four ways to predict, compared on the latest window the log allows (its last H days, held out):

- ``naive``: what the customer spent before, scaled to H days. The yardstick, never the answer.
- ``bgnbd``: BG/NBD (how often and how long customers buy, Fader, Hardie & Lee 2005) × Gamma-Gamma
  (how much per purchase day), fitted by maximum likelihood with scipy. Needs only frequency, recency
  and age, so it works on short logs; it assumes steady buying, so it misses seasons.
- ``boosted``: XGBoost trained out of time. Features are computed at earlier cutoffs (monthly, back a
  year) and the label is what the customer spent in the H days after each cutoff, so the model learns
  from the log's own history what "the next H days" look like, including the season a year earlier
  when the log reaches back. A classifier gives the chance of buying, a Tweedie regressor the spend,
  a Poisson regressor the orders.
- ``hurdle``: the same classifier's chance of buying × the customer's past spend rate, scaled to the
  Tweedie regressor's total. On seasonal retail logs past spend ranks the big spenders as well as
  anything, while the classifier knows better who buys at all: the product ranks better than either.

Nothing ever sees the window it predicts: every method gets only ``Activity.before(cutoff)`` (the
slice is made in one place), and the boosted model's labels come from inside that slice. The method
with the best ranking on the held-out window (Spearman plus top-10% capture) is refitted on the whole
log and applied at its last date; its total may come from another method whose total was clearly
closer on that window. The forecast band is the total's miss on that window, applied both ways.

Measured on UCI Online Retail (bench/value.py): no method ranks much better than past spend on a
seasonal business, and all under-forecast the Christmas quarter when the log holds no Christmas
before it; the caveat says so in words.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import xgboost as xgb
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, roots_jacobi
from scipy.stats import beta as beta_dist
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from lib.data.orders import RETURNED, classify_lines, infer_transaction_columns
from lib.data.schema import ids_as_text
from lib.errors import DataValidationError
from lib.text.i18n import t

log = logging.getLogger(__name__)

METHODS = ("naive", "bgnbd", "boosted", "hurdle")
MODEL_METHODS = ("bgnbd", "boosted", "hurdle")  # what "auto" chooses from; naive is only the yardstick
METHOD_LABELS = {
    "naive": "Past spend, scaled (yardstick)",
    "bgnbd": "BG/NBD × Gamma-Gamma",
    "boosted": "Gradient boosting: spend (Tweedie), trained out of time",
    "hurdle": "Gradient boosting: chance of buying × past spend rate, trained out of time",
}
TOTAL_SWITCH_MARGIN = 0.05  # in |log(predicted / actual)|
MIN_HISTORY_DAYS = 60  # history a method needs before a cutoff to say anything about a customer
WEEK = 7.0  # BG/NBD and Gamma-Gamma are fitted in weeks: parameters of order 1, as published
# A BG/NBD fit whose dropout is this unlikely has run to the "nobody ever leaves" boundary.
BOUNDARY_DROPOUT = 1e-3
# Depth-4 hist trees as in lib.models.model. One thread: these tables are small (customers × cutoffs), and on a
# shared 2-core machine two OpenMP threads ran 10-25× slower than one (bench/value.py).
XGB_VALUE_PARAMS = dict(
    max_depth=4, eta=0.1, subsample=0.8, colsample_bytree=0.8, min_child_weight=5,
    reg_lambda=1.0, tree_method="hist", max_bin=256, nthread=1,
)
MAX_TREES = 400
MAX_TRAINING_ROWS = 150_000  # customers × cutoffs; larger logs are sampled per cutoff
# Tweedie between Poisson (1) and Gamma (2): most customers spend nothing in a window, a few spend a lot.
TWEEDIE_POWER = 1.2
EARLY_STOP = 20
SPEND_WINDOWS = (30, 90, 180, 365)


@dataclass(frozen=True)
class ValueSettings:
    """How far ahead to predict and with which method.

    Parameters
    ----------
    horizon_days
        The window predicted and held out for validation (H).
    clv_months
        The customer value window (12 months by default).
    method
        "auto" (best ranking on the held-out window), "bgnbd", "boosted" or "hurdle".
    seed
        Seed for the boosted model's subsampling and validation split.
    """

    horizon_days: int = 90
    clv_months: int = 12
    method: str = "auto"
    seed: int = 42


# --- the log as purchase days ---------------------------------------------------------------------


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


# --- BG/NBD and Gamma-Gamma -----------------------------------------------------------------------


@dataclass(frozen=True)
class BGNBDParams:
    """BG/NBD: purchase rate λ ~ Gamma(r, α) per week; after each purchase the customer leaves with
    probability p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    at_boundary: bool  # dropout ran off to "nobody ever leaves": P(alive) says nothing

    def to_dict(self) -> dict:
        return {"r": round(self.r, 4), "alpha": round(self.alpha, 4), "a": round(self.a, 4), "b": round(self.b, 4),
                "log_likelihood": round(self.log_likelihood, 2), "at_boundary": bool(self.at_boundary)}


def bgnbd_log_likelihood(p: BGNBDParams, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> float:
    """The BG/NBD log-likelihood of (x, t_x, T) under ``p`` (Fader, Hardie & Lee 2005, eq. 6)."""
    return -_bgnbd_nll(np.log([p.r, p.alpha, p.a, p.b]), np.asarray(x, dtype="float64"),
                       np.asarray(tx, dtype="float64"), np.asarray(T, dtype="float64"), 1.0)


def _bgnbd_nll(lp: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray, n: np.ndarray | float) -> float:
    r, alpha, a, b = np.exp(lp)
    ll = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    alive = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore"):
        # Left after the last purchase: only possible for customers who bought again (x > 0).
        left = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + tx),
                        -np.inf)
    return float(-(n * (ll + np.logaddexp(alive, left))).sum())


def fit_bgnbd(frequency: np.ndarray, recency: np.ndarray, age: np.ndarray) -> BGNBDParams:
    """Maximum-likelihood BG/NBD on repeat purchases ``frequency``, ``recency`` (first to last purchase)
    and ``age`` (first purchase to cutoff), all in the same time unit (weeks here).

    Customers with the same (x, t_x, T) are fitted once, weighted, so a 1M-customer log costs little.
    The search is on log-parameters within e^±12: a fit that ends at the edge on ``a`` or ``b`` has run to
    the "no dropout" boundary, which is reported rather than hidden.
    """
    x = np.asarray(frequency, dtype="float64")
    tx = np.asarray(recency, dtype="float64")
    T = np.asarray(age, dtype="float64")
    key = pd.DataFrame({"x": x, "tx": tx, "T": T})
    grouped = key.groupby(["x", "tx", "T"], sort=True).size().reset_index(name="n")
    gx, gtx, gT, gn = (grouped[c].to_numpy(dtype="float64") for c in ("x", "tx", "T", "n"))

    bounds = [(-12.0, 12.0)] * 4
    best = None
    # Two starts: the usual (1, 1, 1, 1) and one near typical retail fits; keep the better optimum.
    for start in (np.zeros(4), np.log([0.5, 5.0, 0.5, 3.0])):
        res = minimize(_bgnbd_nll, start, args=(gx, gtx, gT, gn), method="L-BFGS-B", bounds=bounds)
        if best is None or res.fun < best.fun:
            best = res
    r, alpha, a, b = np.exp(best.x)
    at_edge = bool(np.any(np.abs(best.x[2:]) > 11.5))
    boundary = at_edge or a / (a + b) < BOUNDARY_DROPOUT
    return BGNBDParams(float(r), float(alpha), float(a), float(b), float(-best.fun), bool(boundary))


def bgnbd_p_alive(p: BGNBDParams, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(still a customer at T | x repeat purchases, the last at t_x)."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        log_ratio = np.log(p.a) - np.log(np.maximum(p.b + x - 1, 1e-300)) + (p.r + x) * (
            np.log(p.alpha + T) - np.log(p.alpha + tx))
        out = np.where(x > 0, 1.0 / (1.0 + np.exp(log_ratio)), 1.0)
    return out


def bgnbd_p_none(p: BGNBDParams, x: np.ndarray, tx: np.ndarray, T: np.ndarray, t: float) -> np.ndarray:
    """P(no purchase in (T, T + t]): gone already, or alive and the rate produced nothing. Given alive,
    λ ~ Gamma(r + x, α + T) and a departure only follows a purchase, so P(none | alive) is
    ((α + T) / (α + T + t))^(r + x)."""
    alive = bgnbd_p_alive(p, x, tx, T)
    quiet = np.exp((p.r + x) * (np.log(p.alpha + T) - np.log(p.alpha + T + t)))
    return (1 - alive) + alive * quiet


def bgnbd_expected(p: BGNBDParams, x: np.ndarray, tx: np.ndarray, T: np.ndarray, t: float) -> np.ndarray:
    """Expected purchases in (T, T + t] (Fader, Hardie & Lee 2005, eq. 10).

    Computed as P(alive) × E[(1 - e^(-λpt)) / p] over the posterior λ ~ Gamma(r + x, α + T),
    p ~ Beta(a, b + x), by quadrature in p (``_beta_nodes``): the same numbers as the closed form with
    its hypergeometric 2F1, but stable near the no-dropout boundary, where the 2F1 is not.
    """
    alive = bgnbd_p_alive(p, x, tx, T)
    out = np.empty(len(x), dtype="float64")
    xs = np.asarray(x, dtype="float64")
    for xv in np.unique(xs):
        m = xs == xv
        nodes, weights = _beta_nodes(p.a, p.b + xv)
        # E over p of (1 - ((α+T)/(α+T+p t))^(r+x)) / p. log1p keeps p -> 0 exact: the limit is
        # (r + x) t / (α + T), the no-dropout answer.
        log_quiet = -(p.r + xv) * np.log1p(nodes[None, :] * t / (p.alpha + T[m, None]))
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.where(nodes[None, :] > 0, -np.expm1(log_quiet) / nodes[None, :], (p.r + xv) * t / (p.alpha + T[m, None]))
        out[m] = f @ weights
    return alive * out


def _beta_nodes(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (summing to 1) to average a smooth function of p ~ Beta(a, b).

    Gauss-Jacobi (48 nodes, exact for polynomials) in the usual range; where it is undefined or overflows
    (a near 0 or a + b in the hundreds, as at the no-dropout boundary), 64-node Gauss-Legendre over the
    quantiles of p, accurate to about 1e-5 for the bounded integrands used here."""
    if 0.05 <= a and a + b <= 500:
        u, w = roots_jacobi(48, b - 1, a - 1)
        return (1 + u) / 2, w / w.sum()
    u, w = np.polynomial.legendre.leggauss(64)
    return beta_dist.ppf((u + 1) / 2, a, b), w / 2


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma: a purchase's value ~ Gamma(p, ν), ν ~ Gamma(q, γ) per customer."""

    p: float
    q: float
    v: float
    log_likelihood: float
    customers: int

    def population_mean(self) -> float:
        return self.p * self.v / (self.q - 1) if self.q > 1 else float("nan")

    def to_dict(self) -> dict:
        return {"p": round(self.p, 4), "q": round(self.q, 4), "v": round(self.v, 4),
                "log_likelihood": round(self.log_likelihood, 2), "customers": self.customers}


def fit_gamma_gamma(frequency: np.ndarray, monetary: np.ndarray) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma on customers with repeat purchases (``frequency`` > 0) and a positive
    mean repeat-purchase value ``monetary``."""
    x = np.asarray(frequency, dtype="float64")
    m = np.asarray(monetary, dtype="float64")
    ok = (x > 0) & (m > 0) & np.isfinite(m)
    x, m = x[ok], m[ok]
    if len(x) < 10:
        raise DataValidationError(
            t("Only {n} customers bought more than once: too few to learn how much a purchase is worth. Use a longer log.", n=len(x))
        )

    def nll(lp: np.ndarray) -> float:
        p, q, v = np.exp(lp)
        ll = (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v) + (p * x - 1) * np.log(m)
              + p * x * np.log(x) - (p * x + q) * np.log(x * m + v))
        return float(-ll.sum())

    # Start from the method of moments on the spread of mean values: p ~ 1 / CV², v ~ mean.
    start = np.log([2.0, 3.0, max(float(np.median(m)), 1e-3)])
    res = minimize(nll, start, method="L-BFGS-B", bounds=[(-10.0, 10.0), (np.log(1.01), 10.0), (-20.0, 25.0)])
    p, q, v = np.exp(res.x)
    return GammaGammaParams(float(p), float(q), float(v), float(-res.fun), int(len(x)))


def gamma_gamma_mean(g: GammaGammaParams, frequency: np.ndarray, monetary: np.ndarray) -> np.ndarray:
    """Expected value of a customer's next purchase: their own mean shrunk to the population's, the
    more so the fewer purchases they made."""
    x = np.asarray(frequency, dtype="float64")
    m = np.nan_to_num(np.asarray(monetary, dtype="float64"), nan=0.0).clip(0)
    w = g.p * x / (g.p * x + g.q - 1)
    return (1 - w) * g.population_mean() + w * m


def rfm_weeks(act: Activity) -> pd.DataFrame:
    """BG/NBD's inputs at ``act.end_day`` for every customer seen: repeat purchase days ``x``, first to
    last purchase ``tx`` and first purchase to the cutoff ``T`` in weeks, and the mean value of repeat
    purchase days ``m`` (Gamma-Gamma's input). A customer with only fees or returns has x = 0 from the
    first line seen."""
    codes = act.customers()
    d = act.daily
    buy = d[d["sales"].to_numpy() > 0]
    g = buy.groupby("cust", sort=True)
    first = g["day"].min().reindex(codes)
    last = g["day"].max().reindex(codes)
    n = g.size().reindex(codes).fillna(0).to_numpy()
    total = g["sales"].sum().reindex(codes).fillna(0).to_numpy()
    first_sale = buy.drop_duplicates("cust").set_index("cust")["sales"].reindex(codes).fillna(0).to_numpy()
    seen = act.first_seen[codes]
    born = first.fillna(pd.Series(seen, index=codes)).to_numpy(dtype="float64")
    x = np.maximum(n - 1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(x > 0, (total - first_sale) / np.maximum(x, 1), np.nan)
    return pd.DataFrame({
        "cust": codes,
        "x": x.astype("float64"),
        "tx": np.where(n > 0, (last.to_numpy(dtype="float64") - born), 0.0) / WEEK,
        "T": (act.end_day - born) / WEEK,
        "m": m,
    })


# --- features for the boosted model ----------------------------------------------------------------


def value_features(act: Activity, horizon: int) -> pd.DataFrame:
    """One row per customer seen before ``act.end_day`` (index: customer code), named in words because the
    names become the reasons a marketer reads ("spend last 90 days")."""
    c = act.end_day
    codes = act.customers()
    n_all = len(act.ids)
    d = act.daily
    cust = d["cust"].to_numpy()
    day = d["day"].to_numpy()
    sales = d["sales"].to_numpy()
    net = sales - d["returns"].to_numpy()
    orders = d["orders"].to_numpy().astype("float64")
    bought = sales > 0

    def per(weights: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        if mask is None:
            return np.bincount(cust, weights=weights, minlength=n_all)[codes]
        return np.bincount(cust[mask], weights=weights[mask], minlength=n_all)[codes]

    out: dict[str, np.ndarray] = {}
    first_buy = np.full(n_all, np.iinfo(np.int64).max)
    np.minimum.at(first_buy, cust[bought], day[bought])
    last_buy = np.full(n_all, -1)
    np.maximum.at(last_buy, cust[bought], day[bought])
    fb, lb = first_buy[codes], last_buy[codes]
    has = lb >= 0
    born = np.where(has, fb, act.first_seen[codes])
    out["days since last purchase"] = np.where(has, c - lb, np.nan)
    out["days as a customer"] = (c - born).astype("float64")
    out["orders in total"] = per(orders)
    out["spend in total"] = per(net)
    for w in SPEND_WINDOWS:
        m = day >= c - w
        out[f"spend last {w} days"] = per(net, m)
        out[f"orders last {w} days"] = per(orders, m)
    prev = (day >= c - 180) & (day < c - 90)
    out["spend trend (last 90 vs the 90 before)"] = out["spend last 90 days"] - per(net, prev)
    gross = per(sales)
    n_orders = out["orders in total"]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["average order value"] = np.where(n_orders > 0, gross / n_orders, np.nan)
    biggest = np.zeros(n_all)
    np.maximum.at(biggest, cust, sales)
    out["largest day's spend"] = biggest[codes]
    out["share returned"] = np.where(gross > 0, np.clip(per(d["returns"].to_numpy()) / np.maximum(gross, 1e-9), 0, 1), 0.0)
    # Regularity: mean and spread of the gaps between purchase days.
    bc, bd = cust[bought], day[bought]
    same = np.r_[False, bc[1:] == bc[:-1]]
    gap = np.r_[0, np.diff(bd)].astype("float64")
    n_gap = np.bincount(bc[same], minlength=n_all)[codes].astype("float64")
    s1 = np.bincount(bc[same], weights=gap[same], minlength=n_all)[codes]
    s2 = np.bincount(bc[same], weights=gap[same] ** 2, minlength=n_all)[codes]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_gap = np.where(n_gap > 0, s1 / n_gap, np.nan)
        sd_gap = np.sqrt(np.maximum(s2 / n_gap - mean_gap ** 2, 0))
        out["days between purchases"] = mean_gap
        out["irregularity of purchases"] = np.where(n_gap > 1, sd_gap / mean_gap, np.nan)
        out["overdue (days since last ÷ usual gap)"] = out["days since last purchase"] / mean_gap
    out["purchase days"] = np.bincount(bc, minlength=n_all)[codes].astype("float64")
    if act.has_products:
        out["distinct products"] = np.bincount(act.products["cust"].to_numpy(), minlength=n_all)[codes].astype("float64")
    # The same season a year earlier, when the log reaches back that far (else unknown, not zero).
    season = (day >= c - 365) & (day < c - 365 + horizon)
    known = c - 365 >= 0 and horizon < 365
    out["spend same season last year"] = per(net, season) if known else np.full(len(codes), np.nan)
    out["orders same season last year"] = per(orders, season) if known else np.full(len(codes), np.nan)
    # The whole shop's season: last year, how the H days ahead compared with the H days before them. The
    # same for every customer at a cutoff; across the training cutoffs it tells the model a peak is coming.
    index = np.nan
    if known and c - 365 - horizon >= 0:
        ahead = net[season].sum()
        before = net[(day >= c - 365 - horizon) & (day < c - 365)].sum()
        index = ahead / before if before > 0 else np.nan
    out["season ahead last year (× the months before)"] = np.full(len(codes), index)
    return pd.DataFrame(out, index=pd.Index(codes, name="cust"))


# --- the methods --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """One method's prediction for every customer seen before its cutoff (``codes``), over H days."""

    codes: np.ndarray
    p_buy: np.ndarray
    predicted_orders: np.ndarray
    predicted_value: np.ndarray
    churn_risk: np.ndarray
    clv: np.ndarray | None = None  # only BG/NBD can reach 12 months on its own


def _run_rate(features: pd.DataFrame, cutoff: int, horizon: int) -> np.ndarray:
    """Spend over the last 12 months (or the whole log when shorter), scaled to ``horizon`` days."""
    span = max(min(365, cutoff), 1)
    return features["spend last 365 days"].clip(lower=0).to_numpy() * horizon / span


def predict_naive(act: Activity, horizon: int) -> Prediction:
    """The yardstick: past spend per day times H. It has no chance of buying; its churn score for the
    AUC is simply "spent less" (``-predicted_value``)."""
    f = value_features(act, horizon)
    value = _run_rate(f, act.end_day, horizon)
    span = max(min(365, act.end_day), 1)
    orders = f["orders last 365 days"].to_numpy() * horizon / span
    nan = np.full(len(f), np.nan)
    return Prediction(f.index.to_numpy(), nan, orders, value, nan)


@dataclass(frozen=True)
class BGNBDFit:
    params: BGNBDParams
    gamma_gamma: GammaGammaParams
    rfm: pd.DataFrame
    net_share: float  # what is kept of a purchase after returns, over the whole history

    def expected(self, t_days: float) -> np.ndarray:
        r = self.rfm
        return bgnbd_expected(self.params, r["x"].to_numpy(), r["tx"].to_numpy(), r["T"].to_numpy(), t_days / WEEK)

    def value_per_purchase(self) -> np.ndarray:
        return gamma_gamma_mean(self.gamma_gamma, self.rfm["x"].to_numpy(), self.rfm["m"].to_numpy()) * self.net_share


def fit_bgnbd_model(act: Activity) -> BGNBDFit:
    """BG/NBD on purchase days and Gamma-Gamma on their value, from everything before ``act.end_day``."""
    rfm = rfm_weeks(act)
    params = fit_bgnbd(rfm["x"].to_numpy(), rfm["tx"].to_numpy(), rfm["T"].to_numpy())
    gg = fit_gamma_gamma(rfm["x"].to_numpy(), rfm["m"].to_numpy())
    sales = float(act.daily["sales"].sum())
    net_share = float(np.clip((sales - act.daily["returns"].sum()) / sales, 0, 1)) if sales > 0 else 1.0
    return BGNBDFit(params, gg, rfm, net_share)


def predict_bgnbd(fit: BGNBDFit, horizon: int, clv_days: float) -> Prediction:
    r = fit.rfm
    x, tx, T = r["x"].to_numpy(), r["tx"].to_numpy(), r["T"].to_numpy()
    none = bgnbd_p_none(fit.params, x, tx, T, horizon / WEEK)
    orders = fit.expected(horizon)
    per = fit.value_per_purchase()
    return Prediction(r["cust"].to_numpy(), 1 - none, orders, orders * per, none, fit.expected(clv_days) * per)


@dataclass(frozen=True)
class BoostedFit:
    """The out-of-time models and the facts their explanations need. Each model is a native XGBoost
    ``Booster`` cut at its early-stopping tree (``trees``)."""

    buy: xgb.Booster  # P(buys in the next H days), logistic
    spend: xgb.Booster  # spend in the next H days, Tweedie (log link)
    orders: xgb.Booster  # orders in the next H days, Poisson (log link)
    trees: dict[str, int]
    training_rows: int
    training_cutoffs: int
    features: pd.DataFrame  # at the cutoff it is applied to, one row per customer (index: code)

    def predict(self, model: str, features: pd.DataFrame | None = None, **kwargs) -> np.ndarray:
        f = self.features if features is None else features
        booster = getattr(self, model)
        return booster.predict(xgb.DMatrix(f.to_numpy(dtype="float32")), iteration_range=(0, self.trees[model]),
                               **kwargs)


def _training_cutoffs(end: int, horizon: int) -> list[int]:
    """Cutoffs whose H-day label window ends by ``end``: the latest first, then every H/2 days (at least
    30) back over a year, so the season a year ago is among the examples when the log reaches back."""
    step = max(30, horizon // 2)
    n = int(math.ceil(365 / step))
    return [c for c in (end - horizon - k * step for k in range(n)) if c >= MIN_HISTORY_DAYS]


def _train(params: dict, X: np.ndarray, y: np.ndarray, valid: np.ndarray, seed: int) -> tuple[xgb.Booster, int]:
    """One booster, early-stopped on the held-out customers. The native API: the scikit-learn wrapper
    costs about half again as much per tree on these small tables."""
    train = xgb.DMatrix(X[~valid], label=y[~valid])
    held = xgb.DMatrix(X[valid], label=y[valid])
    booster = xgb.train({**XGB_VALUE_PARAMS, **params, "seed": seed}, train, num_boost_round=MAX_TREES,
                        evals=[(held, "held")], early_stopping_rounds=EARLY_STOP, verbose_eval=False)
    return booster, int(booster.best_iteration) + 1


def fit_boosted(act: Activity, horizon: int, seed: int, max_rows: int = MAX_TRAINING_ROWS) -> BoostedFit | None:
    """Train on examples built inside ``act``: features at each training cutoff, labels from the H days
    after it, all before ``act.end_day``. None when the log is too short for enough examples."""
    cutoffs = _training_cutoffs(act.end_day, horizon)
    if not cutoffs:
        return None
    rng = np.random.default_rng(seed)
    per_cutoff = max(1000, max_rows // len(cutoffs))
    parts, spend, bought, orders, groups = [], [], [], [], []
    d = act.daily
    day, cust, n_orders = d["day"].to_numpy(), d["cust"].to_numpy(), d["orders"].to_numpy()
    for c in cutoffs:
        f = value_features(act.before(c), horizon)
        if len(f) > per_cutoff:
            # Large logs: a random sample of customers per cutoff keeps training time bounded.
            f = f.iloc[np.sort(rng.choice(len(f), per_cutoff, replace=False))]
        y, b = actual_spend(act, c, horizon)
        w = (day >= c) & (day < c + horizon)
        n = np.bincount(cust[w], weights=n_orders[w], minlength=len(act.ids))
        codes = f.index.to_numpy()
        parts.append(f)
        spend.append(y[codes])
        bought.append(b[codes])
        orders.append(n[codes])
        groups.append(codes)
    X = pd.concat(parts, ignore_index=True).to_numpy(dtype="float32")
    y_spend, y_buy, y_orders = np.concatenate(spend), np.concatenate(bought), np.concatenate(orders)
    group = np.concatenate(groups)
    if y_buy.sum() < 20 or (~y_buy).sum() < 20:
        return None
    # Early stopping on a fifth of the customers (all their cutoffs together, so none leaks across).
    uniq = np.unique(group)
    valid = np.isin(group, rng.choice(uniq, size=max(1, len(uniq) // 5), replace=False))
    buy, n_buy = _train({"objective": "binary:logistic", "eval_metric": "logloss"}, X, y_buy.astype("float32"),
                        valid, seed)
    value, n_value = _train({"objective": "reg:tweedie", "tweedie_variance_power": TWEEDIE_POWER}, X, y_spend,
                            valid, seed)
    count, n_count = _train({"objective": "count:poisson"}, X, y_orders, valid, seed)
    return BoostedFit(buy, value, count, {"buy": n_buy, "spend": n_value, "orders": n_count}, len(X), len(cutoffs),
                      value_features(act, horizon))


def hurdle_scale(fit: BoostedFit, cutoff: int, horizon: int) -> float:
    """The hurdle takes its ranking from P(buy) × run rate and its total from the Tweedie regressor, which
    learned out of time how a window's spend relates to the customers' history."""
    base = float((fit.predict("buy") * _run_rate(fit.features, cutoff, horizon)).sum())
    return float(fit.predict("spend").sum() / base) if base > 0 else 0.0


def predict_boosted(fit: BoostedFit, horizon: int, cutoff: int) -> dict[str, Prediction]:
    """Both boosted answers at ``cutoff``: ``boosted`` (the Tweedie regressor's spend) and ``hurdle`` (the
    chance of buying × the customer's run rate). They share the chance of buying and the orders."""
    p = fit.predict("buy")
    orders = fit.predict("orders")
    spend = fit.predict("spend")
    hurdle = p * _run_rate(fit.features, cutoff, horizon) * hurdle_scale(fit, cutoff, horizon)
    codes = fit.features.index.to_numpy()
    return {
        "boosted": Prediction(codes, p, orders, spend, 1 - p),
        "hurdle": Prediction(codes, p, orders, hurdle, 1 - p),
    }


def metrics(predicted: np.ndarray, actual: np.ndarray, churn_score: np.ndarray, churned: np.ndarray) -> dict:
    """How well a prediction ranked and sized what customers really spent in the window."""
    n = len(actual)
    order = np.argsort(-predicted, kind="stable")
    total = actual.sum()

    def capture(share: float) -> float:
        k = max(1, int(math.ceil(n * share)))
        return float(actual[order[:k]].sum() / total) if total > 0 else float("nan")

    both = len(np.unique(churned)) == 2 and np.all(np.isfinite(churn_score))
    varied = n > 2 and np.ptp(predicted) > 0 and np.ptp(actual) > 0
    return {
        "customers": int(n),
        "spearman": float(spearmanr(predicted, actual).statistic) if varied else float("nan"),
        "top10_capture": capture(0.10),
        "top20_capture": capture(0.20),
        "total_ratio": float(predicted.sum() / total) if total > 0 else float("nan"),
        "churn_auc": float(roc_auc_score(churned, churn_score)) if both else float("nan"),
    }


# --- the whole step ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValueResult:
    """Every customer's predicted value, the method chosen and why, and the revenue forecast.

    ``table`` has one row per customer in the log (``customer_id`` as ``lib.data.schema.ids_as_text``):
    ``p_buy`` (chance of buying in the next ``horizon_days``), ``predicted_orders``, ``predicted_value``
    (spend, net of returns), ``churn_risk`` (1 - ``p_buy``) and ``clv_12m`` (spend over the next
    ``clv_months`` months, undiscounted).
    """

    table: pd.DataFrame
    method: str  # whose ranking: the chosen method
    total_method: str  # whose total (the chosen method unless another's was clearly closer when checked)
    horizon_days: int
    clv_months: int
    as_of: pd.Timestamp  # predictions cover [as_of, as_of + horizon_days)
    validation_cutoff: pd.Timestamp  # the held-out window is [validation_cutoff, as_of)
    forecast_total: float
    forecast_low: float
    forecast_high: float
    band_factor: float  # low = total / factor, high = total × factor
    validation: pd.DataFrame  # one row per method, the chosen one flagged
    holdout: pd.DataFrame  # per customer of the check: actual_spend, bought, predicted_<method> (for a chart)
    monthly: pd.DataFrame  # month, revenue, complete
    caveat: str
    selection: str  # the rule and what it gave, in words
    notes: tuple[str, ...]
    bgnbd: BGNBDParams | None
    gamma_gamma: GammaGammaParams | None
    new_customer_share: float  # share of the held-out window's revenue from customers new in it
    seconds: float
    explainer: _Explainer | None = field(default=None, repr=False, compare=False)

    @property
    def method_label(self) -> str:
        return t(METHOD_LABELS[self.method])

    def to_report(self) -> dict:
        """Plain JSON for report.json."""
        def r(v: float, nd: int = 4) -> float | None:
            return None if v is None or not np.isfinite(v) else round(float(v), nd)

        return {
            "method": self.method,
            "method_label": self.method_label,
            "total_method": self.total_method,
            "horizon_days": self.horizon_days,
            "clv_months": self.clv_months,
            "as_of": str(self.as_of.date()),
            "validation_window": [str(self.validation_cutoff.date()), str((self.as_of - pd.Timedelta(days=1)).date())],
            "customers": int(len(self.table)),
            "forecast_total": r(self.forecast_total, 2),
            "forecast_low": r(self.forecast_low, 2),
            "forecast_high": r(self.forecast_high, 2),
            "band_factor": r(self.band_factor, 3),
            "validation": {
                row["method"]: {k: (r(row[k]) if k != "customers" else int(row[k])) for k in
                                ("customers", "spearman", "top10_capture", "top20_capture", "total_ratio", "churn_auc")}
                for _, row in self.validation.iterrows()
            },
            "selection": self.selection,
            "caveat": self.caveat,
            "notes": list(self.notes),
            "new_customer_share": r(self.new_customer_share, 3),
            "bgnbd": self.bgnbd.to_dict() if self.bgnbd else None,
            "gamma_gamma": self.gamma_gamma.to_dict() if self.gamma_gamma else None,
            "seconds": round(self.seconds, 2),
        }


@dataclass(frozen=True)
class _Explainer:
    """What explaining ``predicted_value`` needs: the fitted models and the features they saw."""

    method: str
    ids: np.ndarray
    features: pd.DataFrame  # boosted / hurdle: model inputs; bgnbd: x, tx, T
    boosted: BoostedFit | None
    run_rate: np.ndarray | None  # hurdle only: the run rate times the hurdle's scale
    scale: float  # the level correction applied to the model's predicted_value (1 when none)


def _as_log(frame: pd.DataFrame, customer_col, date_col, amount_col) -> tuple[Activity, tuple[str, ...]]:
    try:
        act, warnings = activity_from_log(frame, customer_col, date_col, amount_col)
    except DataValidationError as exc:
        raise DataValidationError(
            t("Customer value needs the order log (one row per order or order line, with the customer id, the order "
            "date and the amount), not a customer table."), *exc.problems) from exc
    n_lines = int(act.daily["orders"].sum())
    if len(act.ids) > 0 and act.daily["cust"].nunique() == len(act.daily) and n_lines <= len(act.ids):
        raise DataValidationError(
            t("Every customer appears on one day only: this looks like a customer table (one row per customer), not an "
            "order log, or nobody ever bought twice. Customer value learns from repeat buying: upload the order log "
            "(customer id, order date, amount per order or line).")
        )
    return act, warnings


def customer_value(
    frame: pd.DataFrame,
    settings: ValueSettings,
    customer_col: str | None = None,
    date_col: str | None = None,
    amount_col: str | None = None,
) -> ValueResult:
    """Predict every customer's next ``horizon_days`` from an order log (``frame``, not modified).

    1. Hold out the log's last H days; fit every method on the days before; score each against what
       customers really spent in the held-out days (``validation``).
    2. Choose the model method with the best Spearman + top-10% capture there (or ``settings.method``).
    3. Refit it on the whole log and predict the H days after the last date.
    """
    t0 = time.perf_counter()
    _check_settings(settings)
    act, warnings = _as_log(frame, customer_col, date_col, amount_col)
    H = int(settings.horizon_days)
    clv_days = settings.clv_months * 365.25 / 12
    span = act.end_day
    if span < H + MIN_HISTORY_DAYS:
        raise DataValidationError(
            t("The log covers {span} days ({first} to {last}). Predicting {H} days ahead needs at least {least} days, so the prediction can be checked on the last {H} days with {history} days of history before them. Choose a shorter horizon (the days-ahead setting, --horizon on the command line) or a longer log.", span=span, first=act.start.date(), last=(act.start + pd.Timedelta(days=span - 1)).date(), H=H, least=H + MIN_HISTORY_DAYS, history=MIN_HISTORY_DAYS)
        )
    notes = list(warnings)
    cut = span - H
    hist = act.before(cut)
    spent, bought = actual_spend(act, cut, H)
    codes = hist.customers()
    y, buyers = spent[codes], bought[codes]

    # 1. Every method, fitted before the held-out window and scored on it. BG/NBD assumes steady buying,
    #    so when the log reaches back a year its level is corrected by its miss on the same season then.
    preds, _, _, why_not = _predict_at(hist, H, clv_days, settings.seed, METHODS)
    notes += why_not
    season_then = _season_factors(hist, H, clv_days, settings.seed, ["bgnbd"] if "bgnbd" in preds else [])
    if "bgnbd" in season_then:
        preds["bgnbd"] = _rescale(preds["bgnbd"], season_then["bgnbd"])
    rows = []
    for name, pr in preds.items():
        churn_score = -pr.predicted_value if name == "naive" else pr.churn_risk
        rows.append({"method": name, "label": t(METHOD_LABELS[name]),
                     **metrics(pr.predicted_value, y, churn_score, ~buyers)})
    validation = pd.DataFrame(rows)
    method, selection = _choose(validation, settings.method)
    # A method you chose gives its own total too; "auto" may take the total from a closer method.
    source = _total_source(validation, method) if settings.method == "auto" else method
    validation["chosen"] = validation["method"].eq(method)
    validation["total_from"] = validation["method"].eq(source)
    checked = preds[method].predicted_value * (preds[source].predicted_value.sum()
                                               / max(preds[method].predicted_value.sum(), 1e-12))
    holdout = pd.DataFrame({"customer_id": act.ids[codes].astype(str), "actual_spend": y, "bought": buyers,
                            **{f"predicted_{m}": p.predicted_value for m, p in preds.items()}})

    # 2. The chosen method refitted on the whole log, predicting from its last day; BG/NBD also gives the
    #    shape of each customer's next 12 months.
    final, final_bg, final_boost, _ = _predict_at(act, H, clv_days, settings.seed, ("bgnbd", method, source))
    pred = final[method]
    clv = pred.clv if method == "bgnbd" else _clv_from_horizon(pred.predicted_value, final_bg, H, clv_days)
    if method != "bgnbd" and final_bg is None:
        notes.append(t("BG/NBD could not be fitted, so the {clv_months}-month value assumes steady buying at the predicted {H}-day rate.", clv_months=settings.clv_months, H=H))
    season = _season_factors(act, H, clv_days, settings.seed, ["bgnbd"]).get("bgnbd") \
        if "bgnbd" in final and "bgnbd" in (method, source) else None
    if season is not None:
        final["bgnbd"] = _rescale(final["bgnbd"], season)
        notes.append(
            t("Seasonal correction: a year before, BG/NBD's {H}-day prediction came out at {ratio:.2f}× what customers then spent in the same {H} days, so its forecast is multiplied by {season:.2f}.", H=H, ratio=1 / season, season=season))
    level = 1.0
    if source != method:
        level = float(final[source].predicted_value.sum() / max(final[method].predicted_value.sum(), 1e-12))
        notes.append(
            t("The ranking comes from {method}; the total from {source}, whose total was closer on the held-out window ({source_ratio:.2f}× vs {method_ratio:.2f}× what customers spent).", method=t(METHOD_LABELS[method]), source=t(METHOD_LABELS[source]), source_ratio=validation.set_index('method').loc[source, 'total_ratio'], method_ratio=validation.set_index('method').loc[method, 'total_ratio']))
    pred = _rescale(final[method], level)
    scale = level * (season if method == "bgnbd" and season is not None else 1.0)
    if method == "bgnbd":
        explainer = _Explainer("bgnbd", act.ids, final_bg.rfm.set_index("cust")[["x", "tx", "T"]], None, None, scale)
    else:
        rate = _run_rate(final_boost.features, span, H) * hurdle_scale(final_boost, span, H) if method == "hurdle" \
            else None
        explainer = _Explainer(method, act.ids, final_boost.features, final_boost, rate, scale)
    if final_bg is not None and final_bg.params.at_boundary:
        bp = final_bg.params
        notes.append(
            t("BG/NBD's fit ran to the 'no dropout' boundary (a = {a:.2g}, b = {b:.3g}): it found no sign that customers leave, so its P(alive) is about 1 for everyone and says nothing about churn here. Its churn risk only reflects how rarely a customer buys.", a=bp.a, b=bp.b))
    table = pd.DataFrame({
        "customer_id": act.ids[pred.codes].astype(str),
        "p_buy": pred.p_buy,
        "predicted_orders": pred.predicted_orders,
        "predicted_value": pred.predicted_value,
        "churn_risk": pred.churn_risk,
        "clv_12m": clv,
    })
    ratio = float(validation.set_index("method").loc[source, "total_ratio"])
    total = float(table["predicted_value"].sum())
    factor = _band_factor(checked, y, ratio, settings.seed)
    new_share = _new_customer_share(act, cut)
    log.info("customer value: %s for %d customers in %.1fs", method, len(table), time.perf_counter() - t0)
    return ValueResult(
        table=table,
        method=method,
        total_method=source,
        horizon_days=H,
        clv_months=int(settings.clv_months),
        as_of=act.start + pd.Timedelta(days=span),
        validation_cutoff=act.start + pd.Timedelta(days=cut),
        forecast_total=total,
        forecast_low=total / factor,
        forecast_high=total * factor,
        band_factor=factor,
        validation=validation,
        holdout=holdout,
        monthly=_monthly(act),
        caveat=_caveat(H, ratio, factor, new_share),
        selection=selection,
        notes=tuple(notes),
        bgnbd=final_bg.params if final_bg else None,
        gamma_gamma=final_bg.gamma_gamma if final_bg else None,
        new_customer_share=new_share,
        seconds=time.perf_counter() - t0,
        explainer=explainer,
    )


def _predict_at(
    act: Activity, horizon: int, clv_days: float, seed: int, methods: tuple[str, ...] | list[str],
) -> tuple[dict[str, Prediction], BGNBDFit | None, BoostedFit | None, list[str]]:
    """``methods`` fitted on ``act`` (everything before its ``end_day``) and predicting the ``horizon``
    days after it, with a sentence for each method that could not run."""
    preds: dict[str, Prediction] = {}
    why_not: list[str] = []
    bg = boost = None
    if "naive" in methods:
        preds["naive"] = predict_naive(act, horizon)
    if "bgnbd" in methods:
        try:
            bg = fit_bgnbd_model(act)
            preds["bgnbd"] = predict_bgnbd(bg, horizon, clv_days)
        except DataValidationError as exc:
            why_not.append(t("BG/NBD was not used: {exc}", exc=exc))
    if "boosted" in methods or "hurdle" in methods:
        boost = fit_boosted(act, horizon, seed)
        if boost is not None:
            both = predict_boosted(boost, horizon, act.end_day)
            preds.update({m: both[m] for m in ("boosted", "hurdle") if m in methods})
        else:
            why_not.append(
                t("The boosted models were not used: they need at least {least} days of log ({history} days of history, then a {horizon}-day window to learn from, then the {horizon}-day window they are checked on) and 20 buyers and 20 non-buyers.", least=2 * horizon + MIN_HISTORY_DAYS, history=MIN_HISTORY_DAYS, horizon=horizon))
    return preds, bg, boost, why_not


def _season_factors(act: Activity, horizon: int, clv_days: float, seed: int, methods: list[str]) -> dict[str, float]:
    """For each method, actual ÷ predicted spend when it is run a year before ``act.end_day``: how the same
    season then differed from what the method expected. Empty when the log does not reach back far enough.

    A method that assumes steady buying misses a seasonal peak by about the same factor each year, so
    this corrects the level (not the ranking). Clipped to [1/3, 3]: a larger miss says more about a
    changed business than about the season."""
    c0 = act.end_day - 365
    if c0 < horizon + MIN_HISTORY_DAYS or not methods:
        return {}
    before = act.before(c0)
    preds, _, _, _ = _predict_at(before, horizon, clv_days, seed, methods)
    spent, _ = actual_spend(act, c0, horizon)
    out = {}
    for m, p in preds.items():
        actual, predicted = float(spent[p.codes].sum()), float(p.predicted_value.sum())
        if len(p.codes) >= 50 and actual > 0 and predicted > 0:
            out[m] = float(np.clip(actual / predicted, 1 / 3, 3))
    return out


def _rescale(p: Prediction, factor: float | None) -> Prediction:
    if factor is None:
        return p
    return replace(p, predicted_value=p.predicted_value * factor, predicted_orders=p.predicted_orders * factor)


def _check_settings(settings: ValueSettings) -> None:
    problems = []
    if not 7 <= int(settings.horizon_days) <= 365:
        problems.append(t("horizon_days is {horizon_days}: choose between 7 and 365 days.", horizon_days=settings.horizon_days))
    if not 1 <= int(settings.clv_months) <= 60:
        problems.append(t("clv_months is {clv_months}: choose between 1 and 60 months.", clv_months=settings.clv_months))
    if settings.method not in ("auto", *MODEL_METHODS):
        problems.append(t("method '{method}' is not one of: auto, {items}.", method=settings.method, items=', '.join(MODEL_METHODS)))
    if problems:
        raise DataValidationError(*problems)


def _choose(validation: pd.DataFrame, wanted: str) -> tuple[str, str]:
    """The rule: among the model methods that ran, the best Spearman + top-10% capture on the held-out
    window (ties: the simpler method, in the order of ``MODEL_METHODS``)."""
    v = validation.set_index("method")
    ran = [m for m in MODEL_METHODS if m in v.index]
    if not ran:
        raise DataValidationError(t("No model could be fitted to this log: it needs repeat buyers over several months."))
    naive = v.loc["naive"]

    def fmt(m: str) -> str:
        return t("Spearman {spearman:.3f}, top-10% capture {capture:.1%}", spearman=v.loc[m, "spearman"], capture=v.loc[m, "top10_capture"])

    if wanted != "auto":
        if wanted not in ran:
            raise DataValidationError(
                t("The {method} method could not run on this log (see the notes); use method 'auto'.", method=t(METHOD_LABELS[wanted])))
        return wanted, t("{method} was chosen by you ({how} on the held-out window).", method=t(METHOD_LABELS[wanted]), how=fmt(wanted))
    score = {m: np.nan_to_num(v.loc[m, "spearman"], nan=-1) + np.nan_to_num(v.loc[m, "top10_capture"], nan=0)
             for m in ran}
    best = max(ran, key=lambda m: (score[m], -ran.index(m)))
    text = (t("{method} ranked the held-out customers best ({how}; past spend alone: {naive}).", method=t(METHOD_LABELS[best]), how=fmt(best), naive=fmt("naive")))
    if score[best] < np.nan_to_num(naive["spearman"], nan=-1) + np.nan_to_num(naive["top10_capture"], nan=0):
        text += t(" No model ranked better than past spend alone on this log: treat the ranking as no better than that.")
    return best, text


def _total_source(validation: pd.DataFrame, chosen: str) -> str:
    """Whose total to trust: the chosen method's, unless another model method's total came closer to what
    customers spent on the held-out window (then the chosen ranking is scaled to that total)."""
    v = validation.set_index("method")
    miss = {m: abs(math.log(v.loc[m, "total_ratio"])) for m in MODEL_METHODS
            if m in v.index and np.isfinite(v.loc[m, "total_ratio"]) and v.loc[m, "total_ratio"] > 0}
    if not miss or chosen not in miss:
        return chosen
    best = min(miss, key=lambda m: (miss[m], m != chosen))
    # Only a clearly closer total counts (5% or more): a hair's difference on one window is noise.
    return best if miss[best] < miss[chosen] - TOTAL_SWITCH_MARGIN else chosen


def _clv_from_horizon(value: np.ndarray, bg: BGNBDFit | None, horizon: int, clv_days: float) -> np.ndarray:
    """Extend an H-day prediction to the CLV window along the customer's own BG/NBD curve (how their
    expected purchases grow with time, dropout included)."""
    steady = clv_days / horizon
    if bg is None:
        return value * steady
    e_h = bg.expected(horizon)
    e_clv = bg.expected(clv_days)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(e_h > 1e-12, e_clv / e_h, steady)
    return value * np.clip(np.nan_to_num(ratio, nan=steady), 1.0, max(steady, 1.0))


def _band_factor(predicted: np.ndarray, actual: np.ndarray, ratio: float, seed: int) -> float:
    """How far off the total can be: the chosen method's miss on the held-out window (predicted / actual,
    taken either way), widened by how much that miss itself varies over resampled customers."""
    if not np.isfinite(ratio) or ratio <= 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(actual), size=(200, len(actual)))
    boot = predicted[idx].sum(axis=1) / np.maximum(actual[idx].sum(axis=1), 1e-12)
    spread = float(np.exp(np.quantile(np.abs(np.log(boot / ratio)), 0.9)))
    return float(max(ratio, 1 / ratio) * spread)


def _new_customer_share(act: Activity, cut: int) -> float:
    """Share of the held-out window's spend that came from customers first seen in it."""
    d = act.daily
    w = d["day"].to_numpy() >= cut
    net = (d["sales"] - d["returns"]).to_numpy()[w]
    new = act.first_seen[d["cust"].to_numpy()[w]] >= cut
    total = net.sum()
    return float(net[new].sum() / total) if total > 0 else float("nan")


def _monthly(act: Activity) -> pd.DataFrame:
    """Revenue (net of returns, customers with an id) per calendar month; ``complete`` is False for the
    first and last month when the log covers only part of them."""
    d = act.daily
    dates = act.start + pd.to_timedelta(d["day"].to_numpy(), unit="D")
    month = dates.to_period("M")
    rev = pd.Series((d["sales"] - d["returns"]).to_numpy(), index=month).groupby(level=0).sum()
    rev = rev.reindex(pd.period_range(month.min(), month.max(), freq="M"), fill_value=0.0)
    last = act.start + pd.Timedelta(days=act.end_day - 1)
    complete = [(p.start_time >= act.start) and (p.end_time.normalize() <= last) for p in rev.index]
    return pd.DataFrame({"month": rev.index.to_timestamp(), "revenue": rev.to_numpy().round(2), "complete": complete})


def _caveat(horizon: int, ratio: float, factor: float, new_share: float) -> str:
    parts = [t("This forecasts what today's customers will spend in the next {horizon} days, assuming they keep buying the way the log shows.", horizon=horizon)]
    if np.isfinite(ratio):
        how = t("under-forecast") if ratio < 1 else t("over-forecast")
        parts.append(t("On the last {horizon} days it could check, the same method predicted {ratio:.2f}× what customers really spent ({how}); the range allows a miss of {factor:.2f}× either way.", horizon=horizon, ratio=ratio, how=how, factor=factor))
    parts.append(t("It cannot know what the log does not show: the season ahead (a Christmas peak or a summer lull "
                 "not seen a year earlier), promotions, price changes or stock-outs."))
    if np.isfinite(new_share) and new_share > 0:
        parts.append(t("New customers are not in it: in the last {horizon} days they added {new_share:.0%} of revenue.", horizon=horizon, new_share=new_share))
    return t(" ").join(parts)


# --- by segment, over time -------------------------------------------------------------------------


def forecast_by_segment(result: ValueResult, ids: np.ndarray, segment_names: np.ndarray) -> pd.DataFrame:
    """The forecast per segment: customers, predicted spend in the next H days with the same band as the
    total, mean churn risk and 12-month value. ``ids`` and ``segment_names`` pair each customer with a
    segment (e.g. from the segmentation step); customers of the value table without one are "(no segment)",
    so the rows add up to the total."""
    if len(ids) != len(segment_names):
        raise DataValidationError(t("{ids:,} customer ids but {names:,} segment names: give one segment per customer.",
                                    ids=len(ids), names=len(segment_names)))
    labels = pd.Series(np.asarray(segment_names, dtype=object), index=ids_as_text(pd.Series(ids)).to_numpy())
    labels = labels[~labels.index.duplicated(keep="first")]
    table = result.table
    seg = labels.reindex(table["customer_id"].to_numpy())
    if seg.notna().sum() == 0:
        raise DataValidationError(
            t("None of the {n:,} segment ids matches a customer id of the order log (e.g. '{segment_id}' vs "
              "'{customer_id}'). Use the same id column for segments and for customer value.", n=len(labels),
              segment_id=labels.index[0] if len(labels) else "",
              customer_id=table["customer_id"].iloc[0] if len(table) else ""))
    frame = table.assign(segment=seg.fillna(t("(no segment)")).astype(str).to_numpy())
    g = frame.groupby("segment", sort=False)
    out = pd.DataFrame({
        "customers": g.size(),
        "predicted_value": g["predicted_value"].sum(),
        "churn_risk": g["churn_risk"].mean(),
        "clv_12m": g["clv_12m"].sum(),
    })
    f = result.band_factor if np.isfinite(result.band_factor) else 1.0
    out.insert(2, "low", out["predicted_value"] / f)
    out.insert(3, "high", out["predicted_value"] * f)
    out.insert(4, "share_of_total", out["predicted_value"] / max(result.forecast_total, 1e-12))
    return out.sort_values("predicted_value", ascending=False).reset_index()


def forecast_chart_frame(result: ValueResult) -> pd.DataFrame:
    """Monthly revenue so far and the forecast spread over the months of the next H days, for one chart:
    ``month``, ``revenue``, ``low``, ``high``, ``kind`` ("actual" or "forecast"). The forecast covers
    today's customers only; the history also holds customers who were new at the time."""
    hist = result.monthly.assign(low=np.nan, high=np.nan, kind="actual")
    days = pd.date_range(result.as_of, periods=result.horizon_days, freq="D")
    share = pd.Series(1.0 / result.horizon_days, index=days).groupby(days.to_period("M")).sum()
    ahead = pd.DataFrame({
        "month": share.index.to_timestamp(),
        "revenue": share.to_numpy() * result.forecast_total,
        "complete": False,
        "low": share.to_numpy() * result.forecast_low,
        "high": share.to_numpy() * result.forecast_high,
        "kind": "forecast",
    })
    return pd.concat([hist, ahead], ignore_index=True)[["month", "revenue", "low", "high", "kind", "complete"]]


# --- why a customer is worth what they are worth -------------------------------------------------------


BGNBD_DRIVERS = (
    "BG/NBD × Gamma-Gamma uses only three facts per customer: how often they bought again (frequency), how recently "
    "(recency) and how long ago they first bought (age), plus the average value of their purchases. Frequent, recent "
    "buyers are worth most; a long silence from a frequent buyer lowers the value."
)


def _value_effects(result: ValueResult) -> tuple[np.ndarray, list[str], pd.DataFrame]:
    """Exact TreeSHAP (XGBoost ``pred_contribs``) of ``predicted_value`` in money, per customer and feature.

    The models work in log space (Tweedie: log spend; the hurdle's classifier: log-odds). Each customer's
    change from the base value is shared out in proportion to the SHAP values, so the effects add up
    exactly to ``predicted_value - base`` and keep SHAP's ranking of the features."""
    ex = result.explainer
    fit = ex.boosted
    names = list(ex.features.columns)
    if ex.method == "boosted":
        phi = fit.predict("spend", pred_contribs=True).astype("float64")
        bias, contrib = phi[:, -1], phi[:, :-1]
        total = contrib.sum(axis=1)
        base = np.exp(bias)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            per_unit = np.where(np.abs(total) > 1e-12, base * np.expm1(total) / total, base)
        effects = contrib * per_unit[:, None] * ex.scale
    else:  # hurdle: value = R × p, with R the customer's scaled run rate and p = P(buy)
        phi = fit.predict("buy", pred_contribs=True).astype("float64")
        bias, contrib = phi[:, -1], phi[:, :-1]
        total = contrib.sum(axis=1)
        p0 = 1 / (1 + np.exp(-bias))
        p = 1 / (1 + np.exp(-(bias + total)))
        with np.errstate(invalid="ignore", divide="ignore"):
            per_unit = np.where(np.abs(total) > 1e-12, (p - p0) / total, p0 * (1 - p0))
        rate = ex.run_rate * ex.scale
        effects = contrib * (per_unit * rate)[:, None]
        # The run rate's own part: (R - mean R) × p0, on the feature it is computed from.
        j = names.index("spend last 365 days")
        effects[:, j] += (rate - rate.mean()) * p0
    return effects, names, ex.features


def explain_value(result: ValueResult, top: int = 3) -> pd.DataFrame:
    """Per customer, the ``top`` reasons their predicted spend is high, in words with their effect in money:
    "spend last 90 days: 1,204 (+310)". Boosted methods use exact TreeSHAP; BG/NBD lists its three drivers
    with the customer's own values (see ``BGNBD_DRIVERS``)."""
    ex = result.explainer
    n = len(result.table)
    top = max(1, min(int(top), 3))
    out = {"customer_id": result.table["customer_id"].to_numpy()}
    if ex is None or ex.method == "bgnbd":
        f = ex.features if ex is not None else pd.DataFrame({"x": np.nan, "tx": np.nan, "T": np.nan}, index=range(n))
        x, tx, T = (f[c].to_numpy(dtype="float64") for c in ("x", "tx", "T"))
        silent = np.round((T - tx) * WEEK)
        texts = [
            _fmt(t("repeat purchases"), x, lambda v: f"{int(v):,}"),
            _fmt(t("last purchase"), silent, lambda v: t("{days:,} days ago", days=int(v))),
            _fmt(t("customer for"), np.round(T * WEEK), lambda v: t("{days:,} days", days=int(v))),
        ]
        for r in range(3):
            out[f"value_reason_{r + 1}"] = texts[r] if r < top else np.full(n, "", dtype=object)
        return pd.DataFrame(out)
    effects, names, shown = _value_effects(result)
    reason = t("{feature}: {value} ({effect})")
    k = effects.shape[1]
    order = np.argsort(-effects, axis=1, kind="stable")[:, :top]
    rows = np.arange(n)
    formatted: dict[int, np.ndarray] = {}
    for r in range(3):
        col = np.full(n, "", dtype=object)
        if r < min(top, k):
            pick = order[:, r]
            eff = effects[rows, pick]
            for j in np.unique(pick):
                m = (pick == j) & (eff > 0)
                if not m.any():
                    continue
                if j not in formatted:
                    formatted[j] = _format_numbers(shown.iloc[:, j].to_numpy(dtype="float64"))
                col[m] = _fill(reason, {"feature": feature_words(names[j]), "value": formatted[j][m],
                                        "effect": _format_money(eff[m])})
        out[f"value_reason_{r + 1}"] = col
    return pd.DataFrame(out)


def value_importance(result: ValueResult) -> pd.DataFrame:
    """Mean |effect| on predicted spend per feature over every customer (money), largest first, for a chart.
    For BG/NBD the three drivers are listed without numbers: it has no per-feature effects."""
    ex = result.explainer
    if ex is None or ex.method == "bgnbd":
        return pd.DataFrame({"feature": [t("repeat purchases (frequency)"), t("days since last purchase (recency)"),
                                         t("days as a customer (age)")], "mean_abs_effect": np.nan})
    effects, names, _ = _value_effects(result)
    imp = pd.DataFrame({"feature": [feature_words(n) for n in names], "mean_abs_effect": np.abs(effects).mean(axis=0)})
    return imp.sort_values("mean_abs_effect", ascending=False, kind="stable").reset_index(drop=True)


def _fmt(label: str, values: np.ndarray, fmt) -> np.ndarray:
    unknown = t("unknown")
    text = _unique_map(values, lambda v: unknown if not np.isfinite(v) else fmt(v))
    return _fill(t("{feature}: {value}"), {"feature": label, "value": text})


def _fill(template: str, parts: dict[str, object]) -> object:
    """``template.format(**parts)`` where some parts are arrays of text (see ``lib.models.explain._fill``)."""
    from lib.models.explain import _fill as fill

    return fill(template, parts)


_WINDOWED = re.compile(r"(spend|orders) last (\d+) days")


def feature_words(name: str) -> str:
    """A value feature's name as people read it, in the current language ("spend last 90 days")."""
    m = _WINDOWED.fullmatch(name)
    if m:
        days = int(m.group(2))
        return t("spend last {days} days", days=days) if m.group(1) == "spend" else t("orders last {days} days", days=days)
    return t(name)  # i18n: a feature word from this module's tables, in the catalogue


def _unique_map(values: np.ndarray, fmt) -> np.ndarray:
    """Format each distinct value once: a million customers cost one ``np.unique``."""
    uniq, inverse = np.unique(values, return_inverse=True)
    return np.array([fmt(v) for v in uniq], dtype=object)[inverse.ravel()]


def _format_numbers(v: np.ndarray) -> np.ndarray:
    rounded = np.where(np.abs(v) >= 100, np.round(v), np.round(v, 2))
    unknown = t("unknown")
    return _unique_map(rounded, lambda x: unknown if not np.isfinite(x) else f"{x:,.10g}")


def _format_money(v: np.ndarray) -> np.ndarray:
    rounded = np.where(np.abs(v) >= 10, np.round(v), np.round(v, 2))
    return _unique_map(rounded, lambda x: f"{x:+,.0f}" if abs(x) >= 10 else f"{x:+,.2f}")
