"""Breakdowns of the forecast — by country or another category column of the log, by product, by
customer segment — that add up to the total: each part is forecast by the total's method, then the
parts are scaled so they sum to the total's forecast (proportional reconciliation)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lib.data.schema import ids_as_text
from lib.models.forecast import candidates as cands
from lib.models.forecast.backtest import half_widths
from lib.models.forecast.series import FREQS, SalesLines, net_sales
from lib.text.i18n import t

TOP = 5  # parts shown per breakdown; the rest are summed as "other" so the parts still add up
MAX_CATEGORY_COLUMNS = 3


def top_labels(labels: pd.Series, value: pd.Series, top: int = TOP) -> pd.Series:
    """Each line's label, with all but the ``top`` biggest sellers (by net sales) as 'other'."""
    labels = labels.astype("str").fillna(t("unknown"))
    biggest = value.groupby(labels).sum().sort_values(ascending=False).index[:top]
    return labels.where(labels.isin(biggest), t("other"))


def dimensions(frame: pd.DataFrame, lines: SalesLines, segments: pd.Series | None) -> dict[str, pd.Series]:
    """name -> label per line: the log's category-like columns (country, channel, category…), the
    product when no column already groups products, and the customer's segment when there are segments."""
    idx = lines.value.index
    cols = lines.columns
    out = {c: frame.loc[idx, c] for c in cols.categorical[:MAX_CATEGORY_COLUMNS]}
    if cols.product and not any("categor" in str(c).lower() for c in cols.categorical):
        out[str(cols.product)] = frame.loc[idx, cols.product]
    if segments is not None:
        ids = ids_as_text(frame.loc[idx, cols.customer])
        named = pd.Series(segments.to_numpy(), index=segments.index.astype("str"))
        out["segment"] = ids.map(named).fillna(t("no segment (no customer id)"))
    return {name: top_labels(labels.astype("str"), lines.value) for name, labels in out.items()}


def reconcile(total: pd.DataFrame, parts: dict[str, pd.DataFrame]) -> list[pd.DataFrame]:
    """Scale the parts' forecasts so they add up to the total's, period by period: each part keeps its
    share of the parts' (non-negative) forecasts; its band is scaled with it."""
    names = list(parts)
    raw = np.column_stack([parts[p]["forecast"].to_numpy() for p in names])
    pos = np.clip(raw, 0, None)
    sums = pos.sum(axis=1, keepdims=True)
    share = np.where(sums > 0, pos / np.where(sums > 0, sums, 1), 1 / len(names))
    target = total["forecast"].to_numpy()[:, None] * share
    out = []
    for j, p in enumerate(names):
        f = parts[p].copy()
        ratio = np.where(np.abs(raw[:, j]) > 0, np.abs(target[:, j] / np.where(raw[:, j] == 0, 1, raw[:, j])), 1.0)
        for lo, hi in (("lower_80", "upper_80"), ("lower_95", "upper_95")):
            f[lo] = target[:, j] - (f["forecast"] - f[lo]) * ratio
            f[hi] = target[:, j] + (f[hi] - f["forecast"]) * ratio
        f["forecast"] = target[:, j]
        out.append(f)
    return out


def breakdowns(frame: pd.DataFrame, lines: SalesLines, freq: str, total: pd.DataFrame, method: str,
               segments: pd.Series | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(forecast rows, history rows) of every breakdown, levels like ``country=United Kingdom``."""
    m = FREQS[freq]
    run = next(c for c in cands.CANDIDATES if c.name == method).run
    fc_rows, hist_rows = [], []
    for dim, labels in dimensions(frame, lines, segments).items():
        wide = net_sales(lines, freq, labels).drop(columns="total")
        parts = {}
        for part in wide.columns:
            y = wide[part].to_numpy(dtype="float64")
            point, sigma = run(y, len(total), m)
            level = f"{dim}={part}"
            parts[level] = pd.DataFrame({
                "period": total["period"].to_numpy(), "level": level, "forecast": point,
                **{f"{side}_{lv}": point + sign * half_widths(sigma, np.empty((0, 0)), lv)
                   for lv in (80, 95) for side, sign in (("lower", -1), ("upper", 1))}})
            hist_rows.append(pd.DataFrame({"period": wide.index, "level": level, "sales": y}))
        fc_rows += reconcile(total, parts)
    empty = pd.DataFrame(columns=total.columns)
    return (pd.concat(fc_rows, ignore_index=True) if fc_rows else empty,
            pd.concat(hist_rows, ignore_index=True) if hist_rows else pd.DataFrame(columns=["period", "level", "sales"]))
