"""The revenue forecast: the 12-month extension, monthly revenue, the caveat in words, and the forecast by
segment and over time (for a chart)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lib.data.schema import ids_as_text
from lib.errors import DataValidationError
from lib.models.value.activity import Activity
from lib.models.value.bgnbd import BGNBDFit
from lib.models.value.result import ValueResult
from lib.text.i18n import t


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
