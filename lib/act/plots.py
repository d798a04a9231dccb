"""Plotly figures built from lib results. Pure functions: results in, figure out; pages only lay them out.

Large data: point clouds draw a stated random sample (``MAX_POINTS``); the numbers behind bars and
lines use every row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from lib.data.privacy import SMALL_GROUP, merge_small
from lib.models.explain import Explanation, pretty_name
from lib.models.propensity import ProfitPlan, PropensityResult
from lib.models.segment import SegmentationResult
from lib.text.i18n import t

MAX_POINTS = 50_000
BEESWARM_POINTS = 5_000


def _sample(n: int, k: int, seed: int = 0) -> np.ndarray:
    if n <= k:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def sample_note(n: int, k: int = MAX_POINTS) -> str:
    return (t("Showing a random sample of {k:,} of {n:,} customers.", k=k, n=n) if n > k
            else t("Showing all {n:,} customers.", n=n))


def segment_map(seg: SegmentationResult) -> go.Figure:
    """2-D map (PCA of the clustering features), WebGL, sampled above ``MAX_POINTS``."""
    names = seg.names().to_numpy()
    if seg.embedding is None:
        xy = np.column_stack([seg.rfm_scores["R"] + np.random.default_rng(0).uniform(-.3, .3, len(names)),
                              seg.rfm_scores["F"] + np.random.default_rng(1).uniform(-.3, .3, len(names))])
        labels = (t("Recency score (5 = recent)"), t("Frequency score"))
    else:
        xy = seg.embedding
        labels = (t("Map axis 1"), t("Map axis 2"))
    idx = _sample(len(names), MAX_POINTS)
    segment = t("Segment")
    df = pd.DataFrame({"x": xy[idx, 0], "y": xy[idx, 1], segment: names[idx]})
    fig = px.scatter(df, x="x", y="y", color=segment, render_mode="webgl", opacity=0.6,
                     labels={"x": labels[0], "y": labels[1]})
    fig.update_traces(marker={"size": 4})
    fig.update_layout(title=t("Customer map: nearby dots are similar customers"), legend_title_text=segment)
    return fig


def segment_sizes(seg: SegmentationResult) -> go.Figure:
    segment, customers = t("Segment"), t("Customers")
    df = pd.DataFrame([{segment: s.name, customers: s.size, "Share": s.share} for s in seg.segments])
    fig = px.bar(df, x=customers, y=segment, orientation="h", text=df["Share"].map("{:.0%}".format))
    fig.update_layout(title=t("Segment sizes"), yaxis={"categoryorder": "total ascending"})
    return fig


def profile_heatmap(seg: SegmentationResult, min_size: int = SMALL_GROUP) -> go.Figure:
    """Segment × feature: how far each segment sits from the base (standardised difference). Segments
    under ``min_size`` customers are left out: their row would describe a handful of people."""
    small = {s.id for s in seg.segments if s.size < min_size}
    z = seg.distinctive.loc[[i for i in seg.distinctive.index if i not in small]].copy()
    names = {s.id: s.name for s in seg.segments}
    z.index = [names.get(i, str(i)) for i in z.index]
    z = z.loc[:, z.abs().max().sort_values(ascending=False).index[:15]]
    fig = go.Figure(go.Heatmap(
        z=z.to_numpy(), x=[pretty_name(c) for c in z.columns], y=list(z.index), colorscale="RdBu_r", zmid=0,
        colorbar={"title": t("vs base (sd)")},
        hovertemplate="%{y}<br>%{x}: %{z:+.2f} " + t("sd from the average customer") + "<extra></extra>",
    ))
    fig.update_layout(title=t("Segment profiles: red = above the average customer, blue = below"))
    return fig


def rfm_grid(seg: SegmentationResult) -> go.Figure:
    """Customers by recency and frequency score, coloured by count."""
    scores = seg.rfm_scores
    grid = scores.groupby(["R", "F"]).size().unstack(fill_value=0).reindex(index=range(1, 6), columns=range(1, 6),
                                                                             fill_value=0)
    fig = go.Figure(go.Heatmap(z=grid.to_numpy(), x=[f"F{f}" for f in grid.columns], y=[f"R{r}" for r in grid.index],
                               colorscale="Blues", hovertemplate="%{y} %{x}: %{z} " + t("customers") + "<extra></extra>"))
    fig.update_layout(title=t("RFM grid: recency score (R5 = most recent) by frequency score"))
    return fig


def lift_chart(model: PropensityResult) -> go.Figure:
    lift = model.lift
    fig = go.Figure(go.Bar(x=lift["decile"], y=lift["lift"], text=lift["lift"].map("{:.1f}×".format),
                           name=t("Lift")))
    fig.add_hline(y=1, line_dash="dot", annotation_text=t("random"))
    fig.update_layout(title=t("Lift by decile (holdout): how many times the average response rate"),
                      xaxis_title=t("Score decile (1 = top 10%)"), yaxis_title=t("Lift"))
    return fig


def gain_chart(model: PropensityResult) -> go.Figure:
    lift = model.lift
    x = np.r_[0, lift["cumulative_share"]] * 100
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=np.r_[0, lift["cumulative_gain"]] * 100, mode="lines+markers", name=t("Model")))
    fig.add_trace(go.Scatter(x=[0, 100], y=[0, 100], mode="lines", line={"dash": "dot"}, name=t("Random")))
    fig.update_layout(title=t("Cumulative gain: share of responders reached by contacting the top X%"),
                      xaxis_title=t("% of customers contacted"), yaxis_title=t("% of responders reached"))
    return fig


def calibration_chart(model: PropensityResult) -> go.Figure:
    cal = model.calibration
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=cal["predicted"], y=cal["observed"], mode="lines+markers", name=t("Model")))
    top = float(max(cal["predicted"].max(), cal["observed"].max(), 0.01))
    fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", line={"dash": "dot"}, name=t("Perfect")))
    fig.update_layout(title=t("Calibration: predicted vs observed response (holdout)"),
                      xaxis_title=t("Predicted probability"), yaxis_title=t("Observed response rate"))
    return fig


def profit_chart(plan: ProfitPlan) -> go.Figure:
    c = plan.curve
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=c["contacted"], y=c["profit"], mode="lines", name=t("Expected profit")))
    if plan.best_contacts:
        fig.add_vline(x=plan.best_contacts, line_dash="dot",
                      annotation_text=t("best: {n:,} contacts", n=plan.best_contacts))
    fig.update_layout(title=t("Expected profit by number of customers contacted (best scores first)"),
                      xaxis_title=t("Customers contacted"), yaxis_title=t("Expected profit"))
    return fig


def score_by_segment(scores: np.ndarray, segment_names: np.ndarray) -> go.Figure:
    """Box plot per segment from quartiles computed on every customer (a fixed-size figure at 1M rows).
    Segments under ``SMALL_GROUP`` customers are merged (a box of three customers shows their scores)."""
    df = pd.DataFrame({"score": scores, "segment": merge_small(segment_names).to_numpy()})
    q = df.groupby("segment")["score"].quantile([0.0, 0.25, 0.5, 0.75, 1.0]).unstack()
    fig = go.Figure(go.Box(
        x=list(q.index), q1=q[0.25], median=q[0.5], q3=q[0.75], lowerfence=q[0.0], upperfence=q[1.0],
        boxpoints=False, name=t("Score"),
    ))
    fig.update_layout(title=t("Score distribution by segment (all customers)"), yaxis_title=t("Score"))
    return fig


def importance_chart(expl: Explanation, n: int = 15) -> go.Figure:
    imp = expl.importance().head(n)
    fig = px.bar(imp, x="mean_abs_points", y=imp["feature"].map(pretty_name), orientation="h",
                 labels={"mean_abs_points": t("Average effect on the score (probability points)"), "y": ""})
    fig.update_layout(title=t("What drives the score overall (all {n:,} customers)", n=expl.values.shape[0]),
                      yaxis={"categoryorder": "total ascending"})
    return fig


def beeswarm(expl: Explanation, frame: pd.DataFrame, n: int = 12) -> go.Figure:
    """One row per feature, one dot per customer (sampled): position = effect, colour = the customer's
    value (high = red), as in SHAP's summary plot."""
    imp = expl.importance().head(n)
    idx = _sample(expl.values.shape[0], BEESWARM_POINTS)
    rng = np.random.default_rng(0)
    fig = go.Figure()
    feats = list(expl.features)
    for rank, f in enumerate(imp["feature"]):
        j = feats.index(f)
        s = frame[f].iloc[idx]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            v = s.astype("float64").to_numpy()
        elif pd.api.types.is_datetime64_any_dtype(s):
            v = (s.max() - s).dt.days.to_numpy(dtype="float64")
        else:
            v = s.astype("str").astype("category").cat.codes.to_numpy(dtype="float64")
        lo, hi = np.nanpercentile(v, [5, 95]) if np.isfinite(v).any() else (0, 1)
        col = np.clip((v - lo) / ((hi - lo) or 1), 0, 1)
        fig.add_trace(go.Scattergl(
            x=expl.points[idx, j], y=len(imp) - rank + rng.uniform(-0.3, 0.3, len(idx)), mode="markers",
            marker={"size": 4, "color": col, "colorscale": "Bluered", "showscale": rank == 0,
                    "colorbar": {"title": t("value"), "tickvals": [0, 1], "ticktext": [t("low"), t("high")]}},
            name=pretty_name(f), showlegend=False,
            hovertext=s.astype("str").to_numpy(),
            hovertemplate=pretty_name(f) + " = %{hovertext}<br>" + t("effect {points} pts", points="%{x:+.1f}")
            + "<extra></extra>",
        ))
    fig.update_layout(
        title=t("Each dot is a customer ({note})", note=sample_note(expl.values.shape[0], BEESWARM_POINTS)),
        xaxis_title=t("Effect on the score (probability points)"),
        yaxis={"tickvals": list(range(len(imp), 0, -1)), "ticktext": [pretty_name(f) for f in imp["feature"]]},
    )
    return fig


def dependence(expl: Explanation, frame: pd.DataFrame, feature: str, color_by: str | None) -> go.Figure:
    idx = _sample(expl.values.shape[0], BEESWARM_POINTS)
    j = list(expl.features).index(feature)
    effect = t("Effect (pts)")
    df = pd.DataFrame({pretty_name(feature): frame[feature].iloc[idx].to_numpy(),
                       effect: expl.points[idx, j]})
    color = None
    if color_by is not None:
        color = pretty_name(color_by)
        df[color] = frame[color_by].iloc[idx].to_numpy()
    fig = px.scatter(df, x=pretty_name(feature), y=effect, color=color, render_mode="webgl", opacity=0.6)
    fig.update_layout(title=t("How {feature} moves the score", feature=pretty_name(feature))
                      + (t(" (coloured by {other}, its strongest interaction)", other=pretty_name(color_by))
                         if color_by else ""))
    return fig


def segment_drivers(table: pd.DataFrame) -> go.Figure:
    """Importance side by side for segments (table: features × segments)."""
    segment, mean = t("Segment"), t("Mean |SHAP|")
    long = table.reset_index(names="feature").melt(id_vars="feature", var_name=segment, value_name=mean)
    long["feature"] = long["feature"].map(pretty_name)
    fig = px.bar(long, x=mean, y="feature", color=segment, barmode="group", orientation="h")
    fig.update_layout(title=t("What drives the score in each segment (log-odds)"), yaxis_title="")
    return fig


def waterfall(expl: Explanation, row: int, frame: pd.DataFrame, a: float, b: float, n: int = 8) -> go.Figure:
    """From the base rate to this customer's score, one step per feature (probability points)."""
    vals = expl.values[row].astype("float64")
    feats = list(expl.features)
    order = np.argsort(-np.abs(vals))
    shown = order[:n]
    rest = order[n:]

    def prob(m: float) -> float:
        return 100 / (1 + np.exp(-(a * m + b)))

    labels, steps = [], []
    m = expl.base_value
    start = prob(m)
    for j in shown:
        new = m + vals[j]
        labels.append(f"{pretty_name(feats[j])} = {frame[feats[j]].iloc[row]}")
        steps.append(prob(new) - prob(m))
        m = new
    if len(rest):
        new = m + vals[rest].sum()
        labels.append(t("{n} other features", n=len(rest)))
        steps.append(prob(new) - prob(m))
        m = new
    fig = go.Figure(go.Waterfall(
        orientation="h", measure=["absolute"] + ["relative"] * len(steps) + ["total"],
        y=[t("Average customer")] + labels + [t("This customer")], x=[start] + steps + [prob(m)],
        text=[f"{start:.1f}%"] + [f"{s:+.1f}" for s in steps] + [f"{prob(m):.1f}%"],
    ))
    fig.update_layout(title=t("From the average score to this customer's score (percentage points)"),
                      yaxis={"autorange": "reversed"}, xaxis_title=t("Score (%)"))
    return fig


def lift_by_decile(by_decile: pd.DataFrame) -> go.Figure:
    group, rate = t("Group"), t("Response rate")
    long = by_decile.melt(id_vars="decile", var_name=group, value_name=rate)
    fig = px.bar(long, x="decile", y=rate, color=group, barmode="group")
    fig.update_layout(title=t("Response by score decile: did the ranking hold?"), xaxis_title=t("Score decile (1 = top)"))
    return fig


def recommend_evaluation(evaluation: pd.DataFrame, mode: str) -> go.Figure:
    """Hit rate, recall and NDCG at K per method on the held-out last days, for one mode."""
    ev = evaluation[evaluation["mode"] == mode]
    long = ev.melt(id_vars=["method"], value_vars=["hit_rate_at_k", "recall_at_k", "ndcg_at_k"],
                   var_name="measure", value_name="value")
    long["measure"] = long["measure"].map({"hit_rate_at_k": t("hit rate"), "recall_at_k": t("recall"),
                                           "ndcg_at_k": "NDCG"})
    fig = px.bar(long, x="method", y="value", color="measure", barmode="group", text_auto=".2f")
    fig.update_layout(title=t("Recommendations checked on the held-out last days ({mode} items)", mode=mode),
                      yaxis_title=t("share (higher is better)"), xaxis_title="", legend_title="")
    return fig


def revenue_forecast(chart: pd.DataFrame) -> go.Figure:
    """Revenue by month so far, and the forecast for the coming months with its band
    (``lib.models.value.forecast_chart_frame``)."""
    actual, ahead = chart[chart["kind"] == "actual"], chart[chart["kind"] == "forecast"]
    fig = go.Figure(go.Bar(x=actual["month"], y=actual["revenue"], name=t("Revenue")))
    fig.add_trace(go.Bar(x=ahead["month"], y=ahead["revenue"], name=t("Forecast"), marker_color="#d62828",
                         error_y=dict(type="data", symmetric=False, array=(ahead["high"] - ahead["revenue"]).clip(0),
                                      arrayminus=(ahead["revenue"] - ahead["low"]).clip(0))))
    fig.update_layout(title=t("Revenue by month, and the forecast for today's customers"), yaxis_title=t("revenue"),
                      xaxis_title="")
    return fig


def uplift_deciles(deciles: pd.DataFrame) -> go.Figure:
    """Observed response of sent and control customers per predicted-uplift decile (holdout)."""
    fig = go.Figure()
    for col, name in (("response_treated", t("sent the campaign")), ("response_control", t("control group"))):
        fig.add_trace(go.Bar(x=deciles["decile"], y=deciles[col], name=name))
    fig.update_layout(title=t("Response by predicted-uplift decile, on customers the model never saw"),
                      xaxis_title=t("decile of predicted uplift (1 = most persuadable)"), yaxis_title=t("response rate"),
                      yaxis_tickformat=".0%", barmode="group")
    return fig


def persuadable(importance: pd.DataFrame, n: int = 12) -> go.Figure:
    """Who is persuadable: mean |points of uplift| per feature."""
    top = importance.head(n).iloc[::-1]
    fig = go.Figure(go.Bar(x=top["mean_abs_uplift_pts"], y=[pretty_name(f) for f in top["feature"]],
                           orientation="h"))
    fig.update_layout(title=t("What moves the uplift most"), xaxis_title=t("mean effect on the uplift (pts)"))
    return fig


def value_drivers(importance: pd.DataFrame, n: int = 12) -> go.Figure:
    """What drives predicted spend: mean |effect| in money per feature (BG/NBD: its three drivers)."""
    top = importance.head(n).iloc[::-1]
    fig = go.Figure(go.Bar(x=top["mean_abs_effect"].fillna(1.0), y=[pretty_name(f) for f in top["feature"]],
                           orientation="h"))
    fig.update_layout(title=t("What drives predicted spend"), xaxis_title=t("mean effect on predicted spend"))
    return fig


def market_forecast(history: pd.DataFrame, forecast: pd.DataFrame, level: str = "total") -> go.Figure:
    """Net sales so far, the forecast, and its 80% and 95% bands, for one level of a market forecast
    (``lib.models.forecast.ForecastResult``: ``history`` and ``forecast``)."""
    past = history[history["level"] == level]
    ahead = forecast[forecast["level"] == level]
    x = pd.to_datetime(ahead["period"])
    fig = go.Figure(go.Scatter(x=past["period"], y=past["sales"], name=t("Net sales"), mode="lines+markers"))
    for lv, shade in ((95, "rgba(214,40,40,0.12)"), (80, "rgba(214,40,40,0.25)")):
        fig.add_trace(go.Scatter(x=list(x) + list(x[::-1]),
                                 y=list(ahead[f"upper_{lv}"]) + list(ahead[f"lower_{lv}"][::-1]),
                                 fill="toself", fillcolor=shade, line=dict(width=0), hoverinfo="skip",
                                 name=t("{lv}% band", lv=lv)))
    fig.add_trace(go.Scatter(x=x, y=ahead["forecast"], name=t("Forecast"), mode="lines+markers",
                             line=dict(color="#d62828", dash="dash")))
    fig.update_layout(title=t("Net sales, and the forecast with its bands"), yaxis_title=t("net sales"),
                      xaxis_title="")
    return fig
