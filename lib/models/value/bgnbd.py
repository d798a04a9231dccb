"""BG/NBD (Fader, Hardie & Lee 2005) and Gamma-Gamma, fitted by maximum likelihood with scipy, and the
prediction they give together: how often and how long customers buy, and how much per purchase day."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, roots_jacobi
from scipy.stats import beta as beta_dist

from lib.errors import DataValidationError
from lib.models.value.activity import Activity
from lib.models.value.features import Prediction
from lib.models.value.settings import BOUNDARY_DROPOUT, WEEK
from lib.text.i18n import t


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
