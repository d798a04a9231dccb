"""Exact SHAP explanations for every scored row, summed back to the user's own columns, and the
per-customer reason codes that travel with every export.

Two exact (path-dependent TreeSHAP) implementations compute the same numbers:
- ``woodelf``: WOODELF's pattern-matrix algorithm, several times faster on shallow trees;
- ``xgboost``: XGBoost's own ``pred_contribs``, the reference, used whenever the fast path fails.
Values are in log-odds (the model's margin); an approximate probability-point effect is derived for
display from the slope of the calibrated score at each customer's own score.
"""

from __future__ import annotations

import logging
import string
import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import xgboost as xgb

from lib.compute import default_workers, fork_map, row_slices
from lib.models.model import FrameEncoder, PropensityModel
from lib.text.i18n import t
from lib.text.words import column_words

log = logging.getLogger(__name__)

CHUNK_ROWS = 200_000


@dataclass(frozen=True)
class Explanation:
    values: np.ndarray  # (rows, features) log-odds contributions per original column, float32
    features: tuple[str, ...]
    base_value: float  # log-odds every row starts from
    method: str  # "woodelf" or "xgboost pred_contribs"
    seconds: float
    points: np.ndarray  # same shape: approximate effect in probability points (×100)
    additivity_error: float | None = None  # mean |log-odds − base − Σ values| of an approximate method

    def importance(self) -> pd.DataFrame:
        """Mean |SHAP| per feature over every row, largest first."""
        return (
            pd.DataFrame({
                "feature": self.features,
                "mean_abs_shap": np.abs(self.values).mean(axis=0),
                "mean_abs_points": np.abs(self.points).mean(axis=0),
            })
            .sort_values("mean_abs_shap", ascending=False, kind="stable")
            .reset_index(drop=True)
        )

    def top_features(self, n: int = 5) -> list[str]:
        return self.importance()["feature"].head(n).tolist()

    def to_report(self) -> dict:
        imp = self.importance()
        return {
            "method": self.method,
            "rows_explained": int(self.values.shape[0]),
            "unit": "log-odds",
            "base_value": round(self.base_value, 6),
            "top_features": imp["feature"].head(10).tolist(),
            "importance": [
                {"feature": f, "mean_abs_shap": round(float(v), 6)} for f, v in
                zip(imp["feature"].head(10), imp["mean_abs_shap"].head(10))
            ],
            "seconds": round(self.seconds, 3),
            "additivity_error": None if self.additivity_error is None else round(self.additivity_error, 6),
        }


def encoded_matrix(model: PropensityModel, frame: pd.DataFrame) -> np.ndarray:
    return model.encode(frame)


def reference_contributions(model: PropensityModel, x_enc: np.ndarray) -> np.ndarray:
    """XGBoost's own exact TreeSHAP: (rows, encoded features + 1); the last column is the bias."""
    booster = model.booster_.get_booster()
    out = []
    for start in range(0, len(x_enc), CHUNK_ROWS):
        out.append(booster.predict(xgb.DMatrix(x_enc[start:start + CHUNK_ROWS]), pred_contribs=True))
    return np.vstack(out) if out else np.zeros((0, x_enc.shape[1] + 1), dtype=np.float32)


def woodelf_contributions(model: PropensityModel, x_enc: np.ndarray, workers: int = 1) -> np.ndarray:
    """The same values by WOODELF (no bias column).

    WOODELF runs on one core; with ``workers`` > 1 (Linux) the rows are split across forked processes
    that share the model and the matrix copy-on-write, so 2 cores halve the time on large files."""
    from woodelf import WoodelfExplainer

    names = [f"f{i}" for i in range(x_enc.shape[1])]
    explainer = WoodelfExplainer(model.booster_)
    # Parse the trees once here, before any fork, so workers only compute.
    explainer.shap_values(pd.DataFrame(x_enc[:1], columns=names), verbose=False)

    def run(rows: slice) -> np.ndarray:
        out = []
        for start in range(rows.start, rows.stop, CHUNK_ROWS):
            chunk = pd.DataFrame(x_enc[start:min(start + CHUNK_ROWS, rows.stop)], columns=names)
            out.append(np.asarray(explainer.shap_values(chunk, verbose=False), dtype=np.float32))
        return np.vstack(out) if out else np.zeros((0, x_enc.shape[1]), dtype=np.float32)

    return np.vstack(fork_map(run, row_slices(len(x_enc), workers)))


def explain(model: PropensityModel, frame: pd.DataFrame, method: str = "auto", workers: int | None = None) -> Explanation:
    """Exact SHAP for every row of ``frame`` (the frame the model scored), per original column.

    Parameters
    ----------
    method
        "auto" (WOODELF, falling back to XGBoost), "woodelf" or "xgboost".
    workers
        Processes for the WOODELF path (default: one per core on large data, see ``default_workers``).
    """
    t0 = time.perf_counter()
    if not isinstance(model, PropensityModel):  # another learner: its own attributions (lib.models.learners.fitted)
        return _learner_explanation(model, frame, t0)
    x_enc = encoded_matrix(model, frame)
    margins = model.booster_.predict(x_enc, output_margin=True).astype("float64")
    encoded_values = None
    used = "xgboost pred_contribs"
    if method in ("auto", "woodelf") and len(x_enc):
        try:
            encoded_values = woodelf_contributions(
                model, x_enc, workers if workers is not None else default_workers(len(x_enc)))
            used = "woodelf"
        except Exception as exc:  # any failure of the fast path falls back to the reference
            if method == "woodelf":
                raise
            log.warning("WOODELF could not explain this model (%s); using XGBoost pred_contribs", exc)
    if encoded_values is None:
        encoded_values = reference_contributions(model, x_enc)[:, :-1]
    # The base value is what remains of the margin: identical for every row in exact TreeSHAP.
    base = float(np.median(margins - encoded_values.sum(axis=1))) if len(margins) else 0.0
    values = _sum_to_original(encoded_values, model)
    a, b = model.platt_
    p = 1 / (1 + np.exp(-(a * margins + b)))
    points = (values * (a * p * (1 - p))[:, None] * 100).astype(np.float32)
    return Explanation(
        values=values, features=tuple(model.features), base_value=base, method=used,
        seconds=time.perf_counter() - t0, points=points,
    )


def _learner_explanation(model, frame: pd.DataFrame, t0: float) -> Explanation:
    """Exact linear attributions for the logistic learner, an approximation with its additivity error
    for the others (``LearnerModel.attributions``), on the same log-odds scale as TreeSHAP."""
    values, base, method, error = model.attributions(frame)
    p = model.calibrate(model.decision_function(frame))
    points = (values * (p * (1 - p))[:, None] * 100).astype(np.float32)
    return Explanation(values=values, features=tuple(model.features), base_value=base, method=method,
                       seconds=time.perf_counter() - t0, points=points, additivity_error=error)


def _sum_to_original(encoded_values: np.ndarray, model: PropensityModel) -> np.ndarray:
    """One-hot columns add up to the column the user knows."""
    originals = list(model.features)
    index = {c: i for i, c in enumerate(originals)}
    groups = np.array([index[owner] for owner in model.encoded_owner])
    out = np.zeros((encoded_values.shape[0], len(originals)), dtype=np.float32)
    for j in range(len(originals)):
        cols = np.flatnonzero(groups == j)
        if len(cols) == 1:
            out[:, j] = encoded_values[:, cols[0]]
        elif len(cols):
            out[:, j] = encoded_values[:, cols].sum(axis=1)
    return out


# --- reason codes ---------------------------------------------------------------------------------


# Columns Bullseye makes itself (the transaction roll-up): their words are in the catalogue, so they are
# translated. The user's own column names are shown as words (lib.text.words.column_words), untranslated.
MADE_COLUMNS = {"recency_days": "recency days", "frequency": "frequency", "monetary": "monetary",
                "avg_order_value": "avg order value", "tenure_days": "tenure days",
                "days_between_orders": "days between orders", "distinct_products": "distinct products",
                "return_share": "return share"}


def pretty_name(column: str) -> str:
    """A feature as a reason, chart or page names it: 'MonthlyCharges' -> 'monthly charges', in the
    current language for the columns Bullseye makes."""
    if str(column) in MADE_COLUMNS:
        return t(MADE_COLUMNS[str(column)])
    return column_words(column)


def _format_unique(values: np.ndarray, fmt) -> np.ndarray:
    """Format each distinct value once and spread the text back: 1M rows cost one np.unique."""
    uniq, inverse = np.unique(values, return_inverse=True)
    return np.array([fmt(v) for v in uniq], dtype=object)[inverse.ravel()]


def _format_values(s: pd.Series, latest=None, words: dict[str, str] | None = None) -> np.ndarray:
    """The customer's own value as shown in a reason: 12, 1,506, 0.25, North, 60 days ago (counted back
    from ``latest``, the file's latest date, so every part of a split file reads the same). ``words``
    are the translated "unknown", "missing" and "{days} days ago" (see ``_reason_words``)."""
    words = words or _reason_words()
    if pd.api.types.is_datetime64_any_dtype(s):
        days = ((latest if latest is not None else s.max()) - s).dt.days.to_numpy(dtype="float64", na_value=np.nan)
        return _format_unique(days, lambda d: words["unknown"] if np.isnan(d) else words["ago"].format(days=int(d)))
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        v = s.to_numpy(dtype="float64", na_value=np.nan)
        rounded = np.where(np.abs(v) >= 100, np.round(v), np.round(v, 2))
        return _format_unique(rounded, lambda x: words["missing"] if np.isnan(x) else f"{x:,.10g}")
    # Text: each distinct value written once (a category repeats a few hundred values over 1M rows).
    codes, distinct = pd.factorize(s, use_na_sentinel=True)
    if s.dtype == object and not all(isinstance(v, str) for v in distinct):  # 1, 1.0 and True hash alike
        return s.astype("str").where(s.notna(), words["missing"]).to_numpy(dtype=object)
    shown = np.array([*pd.Series(distinct, dtype=object).astype("str"), words["missing"]], dtype=object)
    return shown[codes]


def _reason_words() -> dict[str, str]:
    """The words of a reason in the current language, looked up once (before any fork): the phrase
    template, unfilled, and the words for unknown/missing values and days ago."""
    return {
        "reason": t("{feature}: {value} ({points} pts)"),
        "unknown": t("unknown"),
        "missing": t("missing"),
        "ago": t("{days} days ago"),
    }


def _fill(template: str, parts: dict[str, object]) -> object:
    """``template.format(**parts)`` for arrays of text: the literal pieces and the fields' arrays are
    concatenated in the template's order, so a translation may reorder the fields."""
    out: object = ""
    for literal, field, _, _ in string.Formatter().parse(template):
        if literal:
            out = out + literal
        if field is not None:
            out = out + parts[field]
    return out


def _format_points(pts: np.ndarray) -> np.ndarray:
    tenths = np.round(pts.astype("float64") * 10).astype(np.int64)
    return _format_unique(tenths, lambda t: f"{t / 10:+.1f}")


def reason_codes(
    explanation: Explanation,
    frame: pd.DataFrame,
    top: int = 3,
    actionable: list[str] | None = None,
    workers: int | None = None,
    latest: dict | None = None,
) -> pd.DataFrame:
    """For every row, the ``top`` features pushing its score up, as short phrases with their effect:
    "web visits last month: 12 (+8.0 pts)". Features outside ``actionable`` (when given) are skipped.
    Large files are split across ``workers`` forked processes (default: one per core). ``latest``: each
    date column's latest date in the whole file, when ``frame`` is one part of it (dates are told as
    "N days before the latest")."""
    frame = frame.reset_index(drop=True)
    found = {f: frame[f].max() for f in explanation.features if pd.api.types.is_datetime64_any_dtype(frame[f])}
    latest = {**found, **{f: v for f, v in (latest or {}).items() if f in found}}
    words = _reason_words()
    n = explanation.values.shape[0]
    parts = row_slices(n, default_workers(n) if workers is None else workers)

    def run(rows: slice) -> pd.DataFrame:
        part = replace(explanation, values=explanation.values[rows], points=explanation.points[rows])
        return _reason_codes(part, frame.iloc[rows].reset_index(drop=True), top, actionable, latest, words)

    return pd.concat(fork_map(run, parts), ignore_index=True)


def _reason_codes(
    explanation: Explanation,
    frame: pd.DataFrame,
    top: int,
    actionable: list[str] | None,
    latest: dict,
    words: dict[str, str] | None = None,
) -> pd.DataFrame:
    words = words or _reason_words()
    vals = explanation.values
    feats = list(explanation.features)
    n, k = vals.shape
    top = min(top, k)
    if actionable is not None:
        allowed = np.array([f in actionable for f in feats])
        vals = np.where(allowed[None, :], vals, -np.inf)
    # Only the top few per row matter: argpartition is O(k) per row, then sort those few.
    if k > top:
        part = np.argpartition(-vals, top - 1, axis=1)[:, :top]
    else:
        part = np.tile(np.arange(k), (n, 1))
    part_vals = np.take_along_axis(vals, part, axis=1)
    order = np.take_along_axis(part, np.argsort(-part_vals, axis=1, kind="stable"), axis=1)
    out = {f"reason_{r + 1}": np.full(n, "", dtype=object) for r in range(3)}
    rows = np.arange(n)
    formatted: dict[int, np.ndarray] = {}
    for r in range(top):
        pick = order[:, r]
        picked_vals = vals[rows, pick]
        pts_txt = _format_points(explanation.points[rows, pick])
        col = out[f"reason_{r + 1}"]
        for j in np.unique(pick):
            mask = (pick == j) & (picked_vals > 0)
            if not mask.any():
                continue
            if j not in formatted:
                formatted[j] = _format_values(frame[feats[j]], latest.get(feats[j]), words)
            col[mask] = _fill(words["reason"], {"feature": pretty_name(feats[j]), "value": formatted[j][mask],
                                                "points": pts_txt[mask]})
    return pd.DataFrame(out)


def reasons_in_words(reasons: list[str]) -> str:
    """One customer's reasons as one line, saying so when nothing pushes the score up."""
    kept = [r for r in reasons if r]
    return t("; ").join(kept) if kept else t("none: nothing pushes this score up")


def segment_importance(explanation: Explanation, labels: np.ndarray, names: dict[int, str]) -> pd.DataFrame:
    """Mean |SHAP| per feature for each segment (rows: features, columns: segment names)."""
    df = pd.DataFrame(np.abs(explanation.values), columns=list(explanation.features))
    g = df.groupby(np.asarray(labels)).mean().T
    g.columns = [names.get(c, str(c)) for c in g.columns]
    return g


def strongest_interaction(explanation: Explanation, frame: pd.DataFrame, feature: str, sample: int = 20_000,
                          seed: int = 0, model: PropensityModel | None = None) -> str | None:
    """The feature whose values best explain the spread of ``feature``'s SHAP values at a given value
    (a cheap stand-in for SHAP interaction values, used only to colour the dependence plot)."""
    feats = list(explanation.features)
    j = feats.index(feature)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(frame), size=min(sample, len(frame)), replace=False)
    phi = explanation.values[idx, j].astype("float64")
    encoder = model.frame_encoder_ if model is not None else FrameEncoder(tuple(feats)).fit(frame)
    x = encoder.transform(frame.iloc[idx])
    own = x[feature]
    if pd.api.types.is_numeric_dtype(own):
        bins = pd.qcut(own.rank(method="first"), q=min(10, len(own)), labels=False, duplicates="drop")
    else:
        bins = own
    resid = phi - pd.Series(phi).groupby(np.asarray(bins)).transform("mean").to_numpy()
    best, best_score = None, 0.0
    for f in feats:
        if f == feature:
            continue
        col = x[f]
        v = col.to_numpy(dtype="float64", na_value=np.nan) if pd.api.types.is_numeric_dtype(col) else \
            pd.Series(resid).groupby(col.to_numpy()).transform("mean").to_numpy()
        ok = np.isfinite(v)
        if ok.sum() < 10 or np.std(v[ok]) == 0 or np.std(resid[ok]) == 0:
            continue
        score = abs(np.corrcoef(v[ok], resid[ok])[0, 1])
        if score > best_score:
            best, best_score = f, score
    return best
