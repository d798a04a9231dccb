"""Segmentation: RFM groups with their rules, and clusters that are profiled, named and kept stable.

A segment is only useful when a marketer can say what it *is*: every segment here comes with its size,
profile against the whole base, the features that set it apart, a short plain-words name and a one-line
description. Clusters use numbers, yes/no flags and categories alike (a telecom file is mostly
categories); the number of segments is chosen from the data within a range a team can act on, and the
result says why. Re-running with new data or a new seed matches segments to the previous run so names
and ids stay put.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score, pairwise_distances, silhouette_score
from threadpoolctl import threadpool_limits  # installed with scikit-learn, which depends on it

from lib.act.privacy import OTHER_SMALL, SMALL_GROUP
from lib.errors import DataValidationError
from lib.text.i18n import LANGUAGES, catalogue, language, t

log = logging.getLogger(__name__)

# Standard RFM group rules on 1-5 scores (R: 5 = most recent). Checked in order; first match wins.
RFM_RULES: tuple[tuple[str, str, str], ...] = (
    ("Champions", "R ≥ 4 and F ≥ 4 and M ≥ 4", "bought recently, buy often and spend the most"),
    ("Loyal", "R ≥ 3 and F ≥ 4", "buy often and still active"),
    ("Can't lose them", "R ≤ 2 and F ≥ 4 and M ≥ 4", "used to buy often and spend a lot, but not lately"),
    ("At risk", "R ≤ 2 and F ≥ 3", "bought often in the past, long ago"),
    ("Potential loyalists", "R ≥ 4 and F in 2-3", "recent customers with a few orders"),
    ("New", "R = 5 and F = 1", "bought for the first time very recently"),
    ("Promising", "R = 4 and F = 1", "recent first-time buyers"),
    ("Need attention", "R = 3 and F in 2-3", "average recency and frequency"),
    ("About to sleep", "R = 3 and F ≤ 1", "below average recency, few orders"),
    ("Hibernating", "R = 2 and F ≤ 2", "last order long ago, few orders"),
    ("Lost", "R = 1 and F ≤ 2", "lowest recency and frequency"),
)


@dataclass(frozen=True)
class Segment:
    id: int
    name: str
    description: str
    size: int
    share: float
    target_rate: float | None


@dataclass(frozen=True)
class SegmentationResult:
    """Segment membership for every row plus the profile and names of each segment."""

    method: str  # "rfm" or "kmeans"
    k: int
    labels: np.ndarray  # segment id per row
    segments: tuple[Segment, ...]
    profile: pd.DataFrame  # one row per segment id (+ "All customers"): mean of each number, share of each level
    distinctive: pd.DataFrame  # segment × profile column: standardised difference vs the base
    features: tuple[str, ...]
    centroids: np.ndarray | None  # in scaled space, for matching re-runs
    silhouette_by_k: dict[int, float]
    stability: float | None  # mean adjusted Rand index across bootstrap re-runs
    rules: pd.DataFrame | None  # RFM: group, rule, meaning
    seed: int
    embedding: np.ndarray | None = None  # 2-D map coordinates (PCA) for plots
    rfm_scores: pd.DataFrame | None = None
    k_reason: str = ""  # why this many segments, in plain words
    k_table: pd.DataFrame | None = None  # per k tried: silhouette, stability, smallest_share, usable, note
    feature_kinds: dict[str, str] = field(default_factory=dict)  # feature -> number / date / flag / category
    scaling: tuple[dict, ...] = ()  # clustering: how each feature became matrix columns (see ``_fit_scaling``)
    rfm_edges: dict[str, list[float]] | None = None  # RFM: the quintile edges of R, F and M

    def names(self) -> pd.Series:
        lookup = {s.id: s.name for s in self.segments}
        return pd.Series(self.labels).map(lookup)

    def to_report(self, min_size: int = SMALL_GROUP) -> list[dict]:
        """Each segment's size, name and profile; a segment under ``min_size`` customers keeps only its
        size (``"hidden": true``): its description and target rate would describe a handful of people."""
        return [
            {"id": s.id, "name": s.name, "size": s.size, "share": round(s.share, 4), "hidden": True}
            if s.size < min_size else
            {"id": s.id, "name": s.name, "size": s.size, "share": round(s.share, 4), "description": s.description,
             **({"target_rate": round(s.target_rate, 4)} if s.target_rate is not None else {})}
            for s in self.segments
        ]


# --- RFM ------------------------------------------------------------------------------------------


def guess_rfm_columns(frame: pd.DataFrame) -> tuple[str, str, str]:
    """(recency, frequency, monetary) number columns found by name: recency; frequency / orders /
    purchases; monetary / spend / revenue / amount. Whole-word matches beat partial ones, and averages
    or gaps ("avg_spend", "days_between_orders") only count when nothing else matches."""
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]
    not_totals = {"avg", "average", "mean", "per", "between", "share", "rate", "ratio", "median"}

    def find(keywords: tuple[str, ...], taken: set[str]) -> str | None:
        best: tuple[tuple[int, int, int, int], str] | None = None
        for c in numeric:
            if c in taken:
                continue
            words = column_words(str(c)).split()
            for rank, kw in enumerate(keywords):
                whole = any(w == kw or w.rstrip("s") == kw.rstrip("s") for w in words)
                if not whole and kw not in "".join(words):
                    continue
                key = (int(bool(not_totals & set(words))), rank, 0 if whole else 1, len(words))
                if best is None or key < best[0]:
                    best = (key, c)
        return None if best is None else best[1]

    taken: set[str] = set()
    found = []
    for keywords in (("recency",), ("frequency", "orders", "purchases"), ("monetary", "spend", "revenue", "amount")):
        col = find(keywords, taken)
        if col is None:
            raise DataValidationError(t(
                "RFM needs recency, frequency and monetary columns (e.g. recency_days, orders, total_spend); "
                "roll a transaction log up, or choose clustering."
            ))
        taken.add(col)
        found.append(col)
    return found[0], found[1], found[2]


def rfm_scores(recency: pd.Series, frequency: pd.Series, monetary: pd.Series) -> pd.DataFrame:
    """Quintile scores 1-5 (R: 5 = most recent). Ties are ranked first-come so quintiles stay even."""
    def score(s: pd.Series, ascending: bool) -> pd.Series:
        s = s.astype("float64")
        filled = s.fillna(s.max() if ascending else s.min())
        ranks = filled.rank(method="first", ascending=ascending)
        return (np.ceil(ranks / len(s) * 5)).clip(1, 5).astype(int)

    return pd.DataFrame({"R": score(recency, False), "F": score(frequency, True), "M": score(monetary, True)})


def rfm_group(scores: pd.DataFrame) -> pd.Series:
    """Named RFM group per row from R/F/M scores, following ``RFM_RULES`` in order."""
    r, f, m = scores["R"].to_numpy(), scores["F"].to_numpy(), scores["M"].to_numpy()
    conditions = [
        (r >= 4) & (f >= 4) & (m >= 4),
        (r >= 3) & (f >= 4),
        (r <= 2) & (f >= 4) & (m >= 4),
        (r <= 2) & (f >= 3),
        (r >= 4) & (f >= 2) & (f <= 3),
        (r == 5) & (f == 1),
        (r == 4) & (f == 1),
        (r == 3) & (f >= 2) & (f <= 3),
        (r == 3) & (f <= 1),
        (r == 2),
        (r == 1),
    ]
    names = [rule[0] for rule in RFM_RULES]
    return pd.Series(np.select(conditions, names, default="Lost"), index=scores.index)


def segment_rfm(
    frame: pd.DataFrame,
    recency_col: str = "recency_days",
    frequency_col: str = "frequency",
    monetary_col: str = "monetary",
    target: pd.Series | None = None,
) -> SegmentationResult:
    """RFM segmentation of a customer table."""
    for col in (recency_col, frequency_col, monetary_col):
        if col not in frame.columns:
            raise DataValidationError(t(
                "RFM needs recency, frequency and monetary columns; '{col}' is missing. Roll a transaction "
                "log up to customers first, or choose the three columns.", col=col
            ))
    scores = rfm_scores(frame[recency_col], frame[frequency_col], frame[monetary_col])
    groups = rfm_group(scores)
    order = [r[0] for r in RFM_RULES if (groups == r[0]).any()]
    ids = {name: i for i, name in enumerate(order)}
    labels = groups.map(ids).to_numpy()
    feats = [recency_col, frequency_col, monetary_col]
    columns = [_Column(c, "number", frame[c].to_numpy(dtype="float64", na_value=np.nan)) for c in feats]
    profile, distinctive = _profile(columns, labels, len(order))
    meaning = {r[0]: r for r in RFM_RULES}
    segs = tuple(
        Segment(ids[name], t(name), _rfm_meaning(meaning[name][2]), int((labels == ids[name]).sum()),  # i18n: an RFM group name (RFM_RULES), in the catalogue
                float((labels == ids[name]).mean()), _rate(target, labels, ids[name]))
        for name in order
    )
    rules = pd.DataFrame([{"group": t(r[0]), "rule": t(r[1]), "meaning": t(r[2])} for r in RFM_RULES])  # i18n: RFM_RULES entries, in the catalogue
    edges = {}
    for key, col in zip("RFM", feats):
        v = frame[col].to_numpy(dtype="float64", na_value=np.nan)
        edges[key] = np.nanquantile(v, [0.2, 0.4, 0.6, 0.8]).tolist() if np.isfinite(v).any() else [0.0] * 4
    return SegmentationResult(
        method="rfm", k=len(order), labels=labels, segments=segs, profile=profile, distinctive=distinctive,
        features=tuple(feats), centroids=None, silhouette_by_k={}, stability=None, rules=rules, seed=0,
        rfm_scores=scores, feature_kinds={c: "number" for c in feats}, rfm_edges=edges,
    )


def _rfm_meaning(meaning: str) -> str:
    """An RFM group's meaning as a segment description: "Bought recently, ... the most." """
    text = t(meaning)  # i18n: an RFM_RULES meaning, in the catalogue
    return text.capitalize() + "." if text == meaning else text + "。"


def _rfm_group_of(name: str) -> str | None:
    """The RFM group (English, as ``rfm_group`` returns it) a saved segment name stands for, in either
    language: a model file keeps the names in the language it was trained in."""
    for rule in RFM_RULES:
        if name in (rule[0], *(catalogue(lang).get(rule[0]) for lang in LANGUAGES)):
            return rule[0]
    return None


# --- saved segments for new customers -------------------------------------------------------------


def segmentation_state(result: SegmentationResult) -> dict:
    """What a model file keeps of a segmentation so new customers get a segment: plain JSON."""
    segments = [{"id": s.id, "name": s.name, "description": s.description} for s in result.segments]
    if result.method == "rfm":
        return {"method": "rfm", "features": list(result.features), "edges": result.rfm_edges, "segments": segments}
    return {"method": "kmeans", "features": list(result.features), "scaling": list(result.scaling),
            "centroids": np.asarray(result.centroids, dtype="float64").tolist(), "segments": segments}


def assign_segments(state: dict, frame: pd.DataFrame, describe: bool = True) -> SegmentationResult:
    """Put the customers of a new file into the saved segments: each to its nearest training centroid
    (clustering), or by the training quintile edges of R, F and M (RFM). Names and descriptions are the
    saved ones; sizes and profiles are the new file's. ``describe=False`` skips the profiles and the 2-D
    map (a part of a big file needs only the labels)."""
    feats = list(state["features"])
    missing = [f for f in feats if f not in frame.columns]
    if missing:
        raise DataValidationError(t(
            "The file lacks {columns}, which the saved segments are built on. "
            "Export it with the same columns as the training file.", columns=", ".join(repr(m) for m in missing)))
    saved = [Segment(int(d["id"]), str(d["name"]), str(d["description"]), 0, 0.0, None) for d in state["segments"]]
    if state["method"] == "rfm":
        edges = state["edges"]
        values = [frame[c].to_numpy(dtype="float64", na_value=np.nan) for c in feats]
        r = np.clip(5 - np.searchsorted(edges["R"], np.nan_to_num(values[0], nan=np.inf), side="left"), 1, 5)
        f = np.clip(1 + np.searchsorted(edges["F"], np.nan_to_num(values[1], nan=-np.inf), side="right"), 1, 5)
        m = np.clip(1 + np.searchsorted(edges["M"], np.nan_to_num(values[2], nan=-np.inf), side="right"), 1, 5)
        scores = pd.DataFrame({"R": r, "F": f, "M": m})
        groups = rfm_group(scores).to_numpy()
        ids = {(_rfm_group_of(s.name) or s.name): s.id for s in saved}
        for name in dict.fromkeys(groups):  # a group no training customer was in gets a new id
            if name not in ids:
                ids[name] = len(ids)
                saved.append(Segment(ids[name], t(name), _rfm_meaning(next(r[2] for r in RFM_RULES if r[0] == name)),  # i18n: an RFM group name (RFM_RULES), in the catalogue
                                     0, 0.0, None))
        labels = np.array([ids[g] for g in groups], dtype="int64")
        columns = [_Column(c, "number", v) for c, v in zip(feats, values)]
        centroids, embedding, kinds = None, None, {c: "number" for c in feats}
    else:
        scaling = tuple(state["scaling"])
        columns = [_read_as(frame[sp["name"]], sp) for sp in scaling]
        x = _matrix(columns, scaling).matrix.astype("float64")  # chunks of 20k rows keep memory flat below
        centroids = np.asarray(state["centroids"], dtype="float64")
        labels = np.concatenate([((x[i:i + 20_000, None, :] - centroids[None]) ** 2).sum(-1).argmin(1)
                                 for i in range(0, len(x), 20_000)] or [np.zeros(0, dtype="int64")])
        embedding, kinds = (_pca_2d(x) if describe else None), {c.name: c.kind for c in columns}
        scores = None
    k = len(saved)
    if describe:
        profile, distinctive = _profile([_with_new_level(c) for c in columns], labels, k)
    else:
        profile, distinctive = pd.DataFrame(), pd.DataFrame()
    sizes = np.bincount(labels, minlength=k)
    segs = tuple(replace(s, size=int(sizes[s.id]), share=float(sizes[s.id] / max(len(labels), 1))) for s in saved)
    return SegmentationResult(
        method=state["method"], k=k, labels=labels, segments=segs, profile=profile, distinctive=distinctive,
        features=tuple(feats), centroids=centroids, silhouette_by_k={}, stability=None, rules=None, seed=0,
        embedding=embedding, rfm_scores=scores, feature_kinds=kinds,
        scaling=tuple(state.get("scaling") or ()), rfm_edges=state.get("edges"),
    )


# --- reading feature columns ----------------------------------------------------------------------

MINIBATCH_ABOVE = 50_000
SILHOUETTE_SAMPLE = 3_000  # rows used to choose k (silhouette and stability); plenty to see 2% segments
FIT_SAMPLE = 200_000
DEFAULT_K_RANGE = (3, 8)  # fewer than 3 segments says little; more than 8 is more than a team can act on
MIN_SEGMENT_SHARE = 0.02  # a segment smaller than this is too small to run a campaign on
MIN_STABILITY = 0.75  # weakest segment's overlap with itself across bootstrap re-runs (Jaccard)
MIN_GAIN = 0.03  # share of the differences between customers each extra segment must explain
# k-means restarts for each k's reference fit and for each bootstrap re-run, and the number of re-runs:
# a reference that is the best of 8 starts is the clustering a re-run can find again. With 3 starts
# and 5 runs the chosen k on the bank file changed with the seed (3 or 5); with these it was 5 for 9
# of 10 seeds, and 4 for 9 of 10 on the Online Retail roll-up.
REFERENCE_STARTS, BOOTSTRAP_STARTS, STABILITY_RUNS = 8, 2, 8
SILHOUETTE_TOLERANCE = 0.9  # a larger k may separate customers at most 10% less well than the best k
MAX_CATEGORY_LEVELS = 50  # default features skip categories with more levels (postcodes, product names)
ENCODED_LEVELS = 10  # most common levels kept per category; the rest are pooled as "(other)"
# Distance between two customers who differ in one category (or flag), in standard deviations of a
# number column. sqrt(2) is the typical distance between two customers on one standardised number, so a
# category weighs about like one number column, however rare its levels. Measured on the planted mixed
# types of tests/test_segment_mixed.py (adjusted Rand index at k = 5, two seeds): numbers only 0.68,
# distance 0.7: 0.69, 1: 0.93, sqrt(2): 0.93, 2: 0.92, 3: 0.80 (the noise category starts to split).
CATEGORY_DISTANCE = float(np.sqrt(2.0))
OTHER, MISSING = "(other)", "(missing)"

_YES = {"yes", "y", "true", "t", "1", "1.0"}
_NO = {"no", "n", "false", "f", "0", "0.0"}


@dataclass(frozen=True)
class _Column:
    """One feature column read once: its kind and its values, ready for encoding and profiling."""

    name: str
    kind: str  # "number", "date" (as days ago), "flag" or "category"
    values: np.ndarray  # number/date: float64 with NaN; flag: 1 yes / 0 no / -1 missing; category: level codes
    levels: tuple[str, ...] = ()  # flag: (the "yes" value,); category: level names, most common first


def feature_kind(s: pd.Series) -> str:
    """How a column takes part in segmentation: "date", "flag" (two values meaning yes/no, including
    0/1 numbers), "category" (text or other two-valued columns) or "number"."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return "date"
    if pd.api.types.is_bool_dtype(s):
        return "flag"
    if pd.api.types.is_numeric_dtype(s):
        if len(pd.unique(s.iloc[:10_000].dropna())) > 2:  # most number columns: settled on a slice
            return "number"
        uniques = pd.unique(s.dropna())
        if len(uniques) == 2 and {float(v) for v in uniques} == {0.0, 1.0}:
            return "flag"
        return "number" if len(uniques) > 2 else "category"
    uniques = pd.unique(s.dropna())
    if len(uniques) == 2:
        canon = {str(v).strip().lower() for v in uniques}
        if len(canon & _YES) == 1 and len(canon & _NO) == 1:
            return "flag"
    return "category"


def _read_column(s: pd.Series, name: str) -> _Column:
    kind = feature_kind(s)
    if kind == "date":
        days = (s.max() - s).dt.days.to_numpy(dtype="float64", na_value=np.nan)
        return _Column(name, "date", days)
    if kind == "number":
        return _Column(name, "number", s.to_numpy(dtype="float64", na_value=np.nan))
    codes, uniques = pd.factorize(s)
    texts = [_level_text(v) for v in uniques]
    if kind == "flag":
        yes = next(i for i, t in enumerate(texts) if t.strip().lower() in _YES)
        flag = np.where(codes < 0, -1, (codes == yes).astype("int8")).astype("int8")
        return _Column(name, "flag", flag, (texts[yes],))
    counts = np.bincount(codes[codes >= 0], minlength=len(texts))
    order = sorted(range(len(texts)), key=lambda i: (-counts[i], texts[i]))
    # The most common levels, in alphabetical order: the encoded columns stay in the same order when a
    # refreshed file shifts the counts, so centroids still line up with a previous run's.
    kept = sorted(order[:ENCODED_LEVELS], key=lambda i: texts[i])
    levels = [texts[i] for i in kept]
    lookup = np.full(len(texts) + 1, -1, dtype="int32")  # last slot: missing (code -1)
    lookup[kept] = np.arange(len(kept))
    if len(order) > len(kept):
        levels.append(OTHER)
        lookup[order[ENCODED_LEVELS:]] = len(levels) - 1
    if (codes < 0).any():
        levels.append(MISSING)
        lookup[-1] = len(levels) - 1
    return _Column(name, "category", lookup[codes].astype("int32"), tuple(levels))


def _level_text(v: object) -> str:
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def _read_columns(frame: pd.DataFrame, features: list[str]) -> list[_Column]:
    return [_read_column(frame[c], str(c)) for c in features]


@dataclass(frozen=True)
class _Prepared:
    matrix: np.ndarray
    columns: list[str]
    scaling: tuple[dict, ...] = ()  # per feature, what turns it into matrix columns (for new customers)


def prepare_features(frame: pd.DataFrame, features: list[str]) -> _Prepared:
    """The clustering matrix (float32, one row per customer).

    Numbers (and dates, as days ago): log1p for right-skewed columns, standardised, clipped at ±5 sd.
    Flags (0/1, yes/no): one column, yes = ``CATEGORY_DISTANCE``. Categories: one-hot, scaled so two
    customers in different levels are ``CATEGORY_DISTANCE`` apart. A fixed distance, not a standardised
    0/1 column: standardising makes a rare flag (16% seniors) a 2.7 sd cliff, and the clustering then
    splits on that flag instead of on behaviour.
    """
    return _matrix(_read_columns(frame, features))


def _matrix(columns: list[_Column], scaling: tuple[dict, ...] | None = None) -> _Prepared:
    """The clustering matrix; its parameters are fitted on ``columns`` unless ``scaling`` (fitted on the
    training customers) is given, which places new customers in the same space."""
    fitting = scaling is None
    specs = [_fit_scaling(c) for c in columns] if fitting else list(scaling)
    widths = [len(sp["levels"]) if sp["kind"] == "category" else 1 for sp in specs]
    if not columns or sum(widths) == 0:
        raise DataValidationError(t("No usable features to cluster on: choose at least one number or category column."))
    n = len(columns[0].values)
    x = np.zeros((n, sum(widths)), dtype="float32")
    names: list[str] = []
    at = 0
    for col, sp, width in zip(columns, specs, widths):
        if sp["kind"] in ("number", "date"):
            x[:, at] = _apply_number(col.values, sp)
            names.append(col.name)
        elif sp["kind"] == "flag":
            yes = (col.values == 1).astype("float32")
            missing = col.values < 0
            yes[missing] = sp["fill"]  # unknown counts as the average customer, not as "no"
            x[:, at] = yes * CATEGORY_DISTANCE
            names.append(f"{col.name} = {sp['levels'][0]}")
        else:
            known = col.values >= 0  # a level training never saw, with no "(other)" to join: all zeros
            x[np.flatnonzero(known), at + col.values[known]] = CATEGORY_DISTANCE / np.sqrt(2.0)
            names += [f"{col.name} = {level}" for level in sp["levels"]]
        at += width
    return _Prepared(x, names, tuple(specs))


def _fit_scaling(col: _Column) -> dict:
    """What turns one column into matrix columns, as plain data (saved with a model)."""
    if col.kind in ("number", "date"):
        values = col.values
        finite = np.isfinite(values)
        fill = float(np.nanmedian(values[finite])) if finite.any() else 0.0
        x = np.where(finite, values, fill)
        # Money and counts are right-skewed: on the log scale "2 vs 20 orders" weighs like "20 vs 200".
        log = bool(_skew(x) > 1.0)
        if log:
            x = np.sign(x) * np.log1p(np.abs(x))
        return {"name": col.name, "kind": col.kind, "fill": fill, "log": log, "mean": float(x.mean()),
                "scale": float(x.std() or 1.0)}
    if col.kind == "flag":
        ok = col.values >= 0
        fill = float((col.values[ok] == 1).mean()) if ok.any() else 0.0
        return {"name": col.name, "kind": "flag", "levels": list(col.levels), "fill": fill}
    return {"name": col.name, "kind": "category", "levels": list(col.levels)}


def _apply_number(values: np.ndarray, sp: dict) -> np.ndarray:
    x = np.where(np.isfinite(values), values, sp["fill"])
    if sp["log"]:
        x = np.sign(x) * np.log1p(np.abs(x))
    # Standardise, then clip at ±5 sd: outliers cannot dominate the distances (robust), and unlike
    # median/IQR scaling a tightly bunched column is not blown up into a fake split.
    return np.clip((x - sp["mean"]) / sp["scale"], -5, 5)


def _with_new_level(col: _Column) -> _Column:
    """For profiles: values training never saw (slot -1) counted as one level of their own."""
    if col.kind != "category" or not (col.values < 0).any():
        return col
    return replace(col, values=np.where(col.values < 0, len(col.levels), col.values).astype("int32"),
                   levels=(*col.levels, "(new value)"))


def _read_as(s: pd.Series, sp: dict) -> _Column:
    """A new file's column read the way the training column was (its kind and levels), so new
    customers land in the training segments' space."""
    name, kind = sp["name"], sp["kind"]
    if kind == "date":
        dates = s if pd.api.types.is_datetime64_any_dtype(s) else pd.to_datetime(s, errors="coerce", format="mixed")
        # Days before the file's own latest date, as in training ("days ago" at each snapshot).
        return _Column(name, kind, (dates.max() - dates).dt.days.to_numpy(dtype="float64", na_value=np.nan))
    if kind == "number":
        return _Column(name, kind, pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan))
    codes, uniques = pd.factorize(s)  # each distinct value is turned into text once
    texts = np.array([_level_text(u) for u in uniques] + [None], dtype=object)
    text = pd.Series(texts[codes], index=s.index)
    if kind == "flag":
        yes = sp["levels"][0].strip().lower()
        lower = text.str.lower()
        values = np.where(text.isna(), -1, (lower == yes).astype("int8")).astype("int8")
        return _Column(name, kind, values, tuple(sp["levels"]))
    where = {level: i for i, level in enumerate(sp["levels"])}
    other = where.get(OTHER, -1)
    slots = text.map(where).fillna(other).to_numpy(dtype="int64").copy()
    slots[text.isna().to_numpy()] = where.get(MISSING, other)
    return _Column(name, kind, slots.astype("int32"), tuple(sp["levels"]))


def _skew(x: np.ndarray) -> float:
    x = x[:: max(1, len(x) // 100_000)]  # an even slice of 100k rows tells the shape as well as a million
    sd = x.std()
    return float(((x - x.mean()) ** 3).mean() / sd**3) if sd > 0 else 0.0


def default_cluster_features(frame: pd.DataFrame, feature_columns: list[str], target: str | None) -> list[str]:
    """Numbers, flags and categories with at most ``MAX_CATEGORY_LEVELS`` levels, without the target.

    Dates are left out: as "days ago" they repeat tenure or recency, which a customer table usually has
    already (a user can still add one). Categories with hundreds of levels (postcodes, product names)
    would split customers into tiny, unnameable groups.
    """
    chosen = []
    for c in feature_columns:
        if c == target or c not in frame.columns:
            continue
        s = frame[c]
        kind = feature_kind(s)
        if kind == "date":
            continue
        if kind == "category" and not 2 <= s.nunique(dropna=True) <= MAX_CATEGORY_LEVELS:
            continue
        chosen.append(c)
    return chosen or [c for c in feature_columns if c != target]


# --- choosing k -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KChoice:
    """The number of segments picked from the data, why, and the evidence for every k tried."""

    k: int
    reason: str
    table: pd.DataFrame  # k, silhouette, stability, weakest_segment, explained, smallest_share, usable, note
    silhouettes: dict[int, float]
    centers: np.ndarray  # the chosen k's centroids on the sample, to start the full fit from


def _fit_kmeans(
    x: np.ndarray, k: int, seed: int, n_init: int = 4, init: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """KMeans up to ``MINIBATCH_ABOVE`` rows; beyond, MiniBatchKMeans fitted on a fixed sample of at
    most ``FIT_SAMPLE`` rows (centroids settle long before that), then every row goes to its nearest
    centroid. ``init``: centroids found while choosing k on a sample, so a large table refines the
    segmentation that was judged instead of searching again."""
    with warnings.catch_warnings():
        # Fewer distinct customers than k: KMeans says so and returns fewer clusters, which callers check.
        warnings.simplefilter("ignore", ConvergenceWarning)
        if len(x) <= MINIBATCH_ABOVE:
            model = KMeans(n_clusters=k, random_state=seed, n_init=n_init)
            return model.fit_predict(x), model.cluster_centers_
        if init is not None:
            model = MiniBatchKMeans(n_clusters=k, random_state=seed, init=init.astype(x.dtype), n_init=1,
                                    batch_size=4096)
        else:
            model = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096)
        if len(x) > FIT_SAMPLE:
            idx = np.random.default_rng(seed).choice(len(x), FIT_SAMPLE, replace=False)
            model.fit(x[idx])
        else:
            model.fit(x)
        return model.predict(x), model.cluster_centers_


def _bootstrap_stability(sample: np.ndarray, labels: np.ndarray, k: int, seed: int, runs: int) -> tuple[float, float]:
    """Re-cluster ``runs`` bootstrap resamples and apply each back to the whole sample.

    Returns the mean adjusted Rand index with ``labels`` (near 1: the same segments come back) and the
    weakest segment's stability: for each segment, the Jaccard overlap with its best match in a re-run,
    averaged over runs, then the minimum over segments. The second catches what the average hides: one
    segment split at random while the others come back intact (Hennig 2007: below ~0.75, not a real
    group)."""
    rng = np.random.default_rng(seed + 1)
    aris, jaccards = [], []
    for r in range(runs):
        idx = rng.choice(len(sample), size=len(sample), replace=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = KMeans(n_clusters=k, random_state=seed + 100 + r, n_init=BOOTSTRAP_STARTS).fit(sample[idx])
        again = model.predict(sample)
        aris.append(adjusted_rand_score(labels, again))
        both = np.bincount(labels * k + again, minlength=k * k).reshape(k, k).astype("float64")
        union = both.sum(1)[:, None] + both.sum(0)[None, :] - both
        with np.errstate(invalid="ignore", divide="ignore"):
            jaccards.append(np.nan_to_num(both / union).max(axis=1))
    return float(np.mean(aris)), float(np.mean(jaccards, axis=0).min())


def choose_k(
    x: np.ndarray,
    seed: int,
    k_range: tuple[int, int] = DEFAULT_K_RANGE,
    runs: int = STABILITY_RUNS,
    min_share: float = MIN_SEGMENT_SHARE,
) -> KChoice:
    """Pick k in ``k_range`` (inclusive) on a sample of at most ``SILHOUETTE_SAMPLE`` rows.

    A k is usable when every segment holds at least ``min_share`` of customers and every segment comes
    back when customers are resampled (weakest-segment stability ≥ ``MIN_STABILITY``; not checked when
    ``runs`` is 0). Starting from the smallest usable k, a larger usable k replaces it only when it is
    clearly better: it explains at least ``MIN_GAIN`` more of the differences between customers per
    added segment, and its separation (silhouette) stays within ``SILHOUETTE_TOLERANCE`` of the best.
    Silhouette alone is not enough: it prefers merging two real groups that differ only in a category
    or two (measured in tests/test_segment_mixed.py), and it tends to favour 2 on real data.
    """
    rng = np.random.default_rng(seed)
    sample = x if len(x) <= SILHOUETTE_SAMPLE else x[np.sort(rng.choice(len(x), SILHOUETTE_SAMPLE, replace=False))]
    lo, hi = k_range
    hi = min(hi, len(sample) - 1)
    total_spread = float(((sample - sample.mean(axis=0)) ** 2).sum()) or 1.0
    # One distance matrix serves every k (computing it is most of a silhouette's cost).
    distances = pairwise_distances(sample)
    rows = []
    centers: dict[int, np.ndarray] = {}
    for k in range(lo, hi + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = KMeans(n_clusters=k, random_state=seed, n_init=REFERENCE_STARTS).fit(sample)
        labels = model.labels_
        centers[k] = model.cluster_centers_
        sizes = np.bincount(labels, minlength=k)
        if (sizes > 0).sum() < k:
            rows.append({"k": k, "silhouette": np.nan, "stability": np.nan, "weakest_segment": np.nan,
                         "explained": np.nan, "smallest_share": 0.0, "usable": False,
                         "note": t("only {n} distinct groups of customers", n=(sizes > 0).sum())})
            continue
        silhouette = float(silhouette_score(distances, labels, metric="precomputed"))
        stability, weakest = _bootstrap_stability(sample, labels, k, seed, runs) if runs else (np.nan, np.nan)
        smallest = float(sizes.min() / len(sample))
        notes = []
        if smallest < min_share:
            notes.append(t("a segment under {share} of customers", share=f"{min_share:.0%}"))
        if runs and weakest < MIN_STABILITY:
            notes.append(t("a segment that does not come back when customers are resampled ({weakest})",
                           weakest=_floor2(weakest)))
        rows.append({"k": k, "silhouette": silhouette, "stability": stability, "weakest_segment": weakest,
                     "explained": 1 - float(model.inertia_) / total_spread, "smallest_share": smallest,
                     "usable": not notes, "note": t("; ").join(notes)})
    table = pd.DataFrame(rows, columns=["k", "silhouette", "stability", "weakest_segment", "explained",
                                        "smallest_share", "usable", "note"])
    scored = table.dropna(subset=["silhouette"])
    if scored.empty:
        raise DataValidationError(t(
            "Too few distinct customers to form {lo} or more segments: the chosen features take too few "
            "different values. Add features or set the number of segments.", lo=lo
        ))
    silhouettes = {int(r.k): float(r.silhouette) for r in scored.itertuples()}
    usable = scored[scored["usable"]]
    if usable.empty:
        # Nothing meets every rule: keep the most reproducible k, then the best separated.
        best = scored.sort_values(["weakest_segment", "silhouette"], ascending=False, na_position="last").iloc[0]
        k = int(best["k"])
        return KChoice(k, _k_reason_fallback(table, k, lo, hi, min_share, runs), table, silhouettes, centers[k])
    best_silhouette = usable["silhouette"].max()
    chosen = usable.iloc[0]
    for _, r in usable.iloc[1:].iterrows():
        gain = (r["explained"] - chosen["explained"]) / (r["k"] - chosen["k"])
        if gain >= MIN_GAIN and r["silhouette"] >= SILHOUETTE_TOLERANCE * best_silhouette:
            chosen = r
    k = int(chosen["k"])
    return KChoice(k, _k_reason(table, k, lo, hi, min_share, runs), table, silhouettes, centers[k])


def _k_reason(table: pd.DataFrame, k: int, lo: int, hi: int, min_share: float, runs: int) -> str:
    """One plain-words account of why k segments: what k meets, what the next k up lacks."""
    tab = table.set_index("k")
    row = tab.loc[k]
    sep = t("; ")
    holds = t("every segment holds at least {share} of customers", share=f"{min_share:.0%}")
    if runs:
        holds += t(" and comes back when customers are resampled (weakest segment {weakest})",
                    weakest=_floor2(row['weakest_segment']))
    usable = tab[tab["usable"]]
    fewer = usable[usable.index < k]
    if fewer.empty and k == lo:
        why = t("the fewest segments in that range; {holds}", holds=holds)
    elif fewer.empty:
        failed = sep.join(t("{k} would give {note}", k=i, note=tab.loc[i, 'note']) for i in tab.index[tab.index < k])
        why = t("{holds}, while fewer segments fail ({failed})", holds=holds, failed=failed)
    else:
        prev = fewer.index.max()
        separation = t("separating them better") if row["silhouette"] >= tab.loc[prev, "silhouette"] else (
            t("while separating them about as well"))
        why = t("{holds}, and {k} explains clearly more of the differences between customers than {prev} "
                 "({explained} vs {prev_explained}), {separation} (silhouette {silhouette} vs {prev_silhouette})",
                 holds=holds, k=k, prev=prev, explained=f"{row['explained']:.0%}",
                 prev_explained=f"{tab.loc[prev, 'explained']:.0%}", separation=separation,
                 silhouette=f"{row['silhouette']:.2f}", prev_silhouette=f"{tab.loc[prev, 'silhouette']:.2f}")
        skipped = [i for i in tab.index if prev < i < k]
        if skipped:
            why += sep + sep.join(t("{k} would give {note}", k=i, note=tab.loc[i, 'note']) for i in skipped)
    nxt = tab[tab.index > k]
    tail = ""
    if not nxt.empty:
        up = nxt.index.min()
        r = nxt.loc[up]
        if not r["usable"]:
            # A k with a silhouette failed a rule ("a segment under 2%..."); one without had too few groups.
            tail = sep + (t("{k} would give {note}", k=up, note=r['note']) if pd.notna(r["silhouette"])
                          else t("{k}: {note}", k=up, note=r['note']))
        else:
            tail = sep + t("{k} adds little (explains {explained}, silhouette {silhouette})", k=up,
                            explained=f"{r['explained']:.0%}", silhouette=f"{r['silhouette']:.2f}")
    return t("{k} segments (tried {lo}–{hi}): {why}{tail}.", k=k, lo=lo, hi=hi, why=why, tail=tail)


def _floor2(v: float) -> str:
    """Two decimals rounded down, so 0.749 reads 0.74 next to a 0.75 threshold, not 0.75."""
    return f"{np.floor(v * 100) / 100:.2f}"


def _k_reason_fallback(table: pd.DataFrame, k: int, lo: int, hi: int, min_share: float, runs: int) -> str:
    rule = t("each segment at least {share} of customers", share=f"{min_share:.0%}") + (
        t(" and reproducible on resampled customers") if runs else "")
    row = table.set_index("k").loc[k]
    stable = t(" (weakest segment stability {weakest})", weakest=_floor2(row['weakest_segment'])) if runs else ""
    return t("{k} segments (tried {lo}–{hi}): no number of segments met every rule ({rule}); {k} came closest"
             "{stable}, so treat these segments as rough groupings rather than distinct types.",
             k=k, lo=lo, hi=hi, rule=rule, stable=stable)


# --- clustering -----------------------------------------------------------------------------------


def segment_clusters(
    frame: pd.DataFrame,
    features: list[str],
    k: int | None = None,
    seed: int = 42,
    target: pd.Series | None = None,
    previous: SegmentationResult | None = None,
    stability_runs: int = STABILITY_RUNS,
    k_range: tuple[int, int] = DEFAULT_K_RANGE,
    min_segment_share: float = MIN_SEGMENT_SHARE,
) -> SegmentationResult:
    """Cluster customers on ``features`` (numbers, flags, categories, dates), pick k from the data unless
    given, then profile and name the segments.

    Parameters
    ----------
    k_range
        Smallest and largest number of segments to consider when ``k`` is None (both included).
    previous
        An earlier result on the same features: segments are matched to it (Hungarian matching on
        centroids) so ids and names stay attached to the same kind of customer.
    stability_runs
        Bootstrap re-clusterings per k used to judge whether segments are reproducible (0: skip).
    """
    # One thread for the BLAS/OpenMP pools: the fits here are many and small (3,000-row samples), and
    # on a shared 2-core machine two spinning threads per fit made them up to 70 times slower (measured).
    with threadpool_limits(limits=1):
        return _segment_clusters(frame, features, k, seed, target, previous, stability_runs, k_range,
                                 min_segment_share)


def _segment_clusters(
    frame: pd.DataFrame,
    features: list[str],
    k: int | None,
    seed: int,
    target: pd.Series | None,
    previous: SegmentationResult | None,
    stability_runs: int,
    k_range: tuple[int, int],
    min_segment_share: float,
) -> SegmentationResult:
    if len(frame) < 3:
        raise DataValidationError(t("Only {rows} rows: at least 3 customers are needed to form segments.", rows=len(frame)))
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise DataValidationError(t("Feature column(s) not in the data: {columns}.", columns=", ".join(map(str, missing))))
    lo, hi = int(k_range[0]), int(k_range[1])
    if not 2 <= lo <= hi <= 20:
        raise DataValidationError(t("The range of segment counts must lie within 2-20, smallest first; got {lo}-{hi}.",
                                    lo=lo, hi=hi))
    columns = _read_columns(frame, features)
    prepared = _matrix(columns)
    x = prepared.matrix
    choice: KChoice | None = None
    if k is None:
        choice = choose_k(x, seed, (lo, hi), stability_runs, min_segment_share)
        k = choice.k
    if not 2 <= k <= min(20, len(frame) - 1):
        raise DataValidationError(t("Number of segments must be between 2 and {most}; got {k}.",
                                    most=min(20, len(frame) - 1), k=k))
    labels, centers = _fit_kmeans(x, k, seed, init=choice.centers if choice is not None else None)
    labels, centers = _canonical_order(labels, centers)
    if previous is not None and previous.centroids is not None and previous.centroids.shape[1] == centers.shape[1]:
        labels, centers = _match_to(previous.centroids, labels, centers)
    if choice is not None:
        row = choice.table.set_index("k").loc[k]
        stability = None if np.isnan(row["stability"]) else float(row["stability"])
        reason, table = choice.reason, choice.table
    else:
        stability = _stability_at(x, labels, k, seed, stability_runs)[0] if stability_runs else None
        reason, table = t("{k} segments, as chosen.", k=k), None
    profile, distinctive = _profile(columns, labels, k)
    kinds = {c.name: c.kind for c in columns}
    prev_names = {s.id: s.name for s in previous.segments} if previous is not None else {}
    sizes = np.bincount(labels, minlength=k)
    phrases = [_name_phrases(distinctive.loc[i], profile, i, kinds) for i in range(k)]
    names = _unique_names(phrases)
    segs = []
    for seg_id in range(k):
        name = prev_names.get(seg_id, names[seg_id])
        facts = distinguishing_facts_from(profile, distinctive, kinds, seg_id, n=3)
        share = sizes[seg_id] / len(labels)
        desc = (t("{share} of customers; {facts}.", share=_percent(share), facts=t("; ").join(facts)) if facts
                else t("{share} of customers, close to the average customer on every feature.", share=_percent(share)))
        segs.append(Segment(seg_id, name, desc, int(sizes[seg_id]), float(share), _rate(target, labels, seg_id)))
    segs = _dedupe(segs)
    return SegmentationResult(
        method="kmeans", k=k, labels=labels, segments=tuple(segs), profile=profile, distinctive=distinctive,
        features=tuple(features), centroids=centers, silhouette_by_k=choice.silhouettes if choice else {},
        stability=stability, rules=None, seed=seed, embedding=_pca_2d(x), k_reason=reason, k_table=table,
        feature_kinds=kinds, scaling=prepared.scaling,
    )


def _stability_at(x: np.ndarray, labels: np.ndarray, k: int, seed: int, runs: int) -> tuple[float, float]:
    """Bootstrap stability of a k the user fixed, on the same sample ``choose_k`` would use."""
    rng = np.random.default_rng(seed)
    idx = np.arange(len(x)) if len(x) <= SILHOUETTE_SAMPLE else np.sort(rng.choice(len(x), SILHOUETTE_SAMPLE, replace=False))
    return _bootstrap_stability(x[idx], labels[idx], k, seed, runs)


def _dedupe(segs: list[Segment]) -> list[Segment]:
    """Names kept from a previous run can collide with new ones: number the later copies."""
    from dataclasses import replace

    used: set[str] = set()
    out = []
    for s in segs:
        name, i = s.name, 2
        while name in used:
            name, i = f"{s.name} ({i})", i + 1
        used.add(name)
        out.append(replace(s, name=name))
    return out


def _canonical_order(labels: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number segments by size (largest = 0) so the same clustering always gets the same ids."""
    sizes = np.bincount(labels, minlength=len(centers))
    order = np.lexsort((centers[:, 0], -sizes))
    remap = np.empty_like(order)
    remap[order] = np.arange(len(order))
    return remap[labels], centers[order]


def _match_to(prev_centers: np.ndarray, labels: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Relabel so each new segment takes the id of the closest previous centroid (Hungarian)."""
    k_new, k_old = len(centers), len(prev_centers)
    cost = ((centers[:, None, :] - prev_centers[None, :, :]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    remap = np.full(k_new, -1)
    remap[rows] = cols
    free = iter(range(k_old, k_old + k_new))
    remap = np.array([r if r >= 0 else next(free) for r in remap])
    # Keep ids dense (0..k-1) when k shrank or grew.
    dense = {old: new for new, old in enumerate(sorted(remap))}
    remap = np.array([dense[r] for r in remap])
    new_centers = np.empty_like(centers)
    new_centers[remap] = centers
    return remap[labels], new_centers


# --- profiles -------------------------------------------------------------------------------------


def _profile(columns: list[_Column], labels: np.ndarray, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per segment: mean of each number, share of "yes" for each flag and share of each category level
    (columns "contract = Month-to-month"), plus the standardised difference from the whole base
    ((segment − base) / base sd). Sums by ``np.bincount``: one pass per column even at a million rows."""
    means: dict[str, np.ndarray] = {}
    base: dict[str, float] = {}
    sds: dict[str, float] = {}
    sizes = np.bincount(labels, minlength=k).astype("float64")
    for col in columns:
        if col.kind in ("number", "date"):
            v = col.values
            ok = np.isfinite(v)
            counts = np.bincount(labels[ok], minlength=k)
            with np.errstate(invalid="ignore", divide="ignore"):
                seg_mean = np.bincount(labels[ok], weights=v[ok], minlength=k) / counts
            name = col.name if col.kind == "number" else f"{col.name} (days ago)"
            means[name] = seg_mean
            base[name] = float(v[ok].mean()) if ok.any() else np.nan
            sds[name] = float(v[ok].std()) if ok.any() else np.nan
        elif col.kind == "flag":
            ok = col.values >= 0
            counts = np.bincount(labels[ok], minlength=k)
            with np.errstate(invalid="ignore", divide="ignore"):
                share = np.bincount(labels[ok], weights=(col.values[ok] == 1), minlength=k) / counts
            name = f"{col.name} = {col.levels[0]}"
            p = float((col.values[ok] == 1).mean()) if ok.any() else np.nan
            means[name], base[name], sds[name] = share, p, float(np.sqrt(p * (1 - p)))
        else:
            n_levels = len(col.levels)
            table = np.bincount(labels * n_levels + col.values, minlength=k * n_levels).reshape(k, n_levels)
            overall = table.sum(0) / len(labels)
            for j, level in enumerate(col.levels):
                name = f"{col.name} = {level}"
                with np.errstate(invalid="ignore", divide="ignore"):
                    means[name] = table[:, j] / sizes
                base[name], sds[name] = float(overall[j]), float(np.sqrt(overall[j] * (1 - overall[j])))
    profile = pd.DataFrame(means, index=pd.RangeIndex(k).astype(object))
    base_s, sd_s = pd.Series(base), pd.Series(sds).replace(0, np.nan)
    distinctive = ((profile - base_s) / sd_s).fillna(0.0)
    profile.loc["All customers"] = base_s
    return profile, distinctive


def _rate(target: pd.Series | None, labels: np.ndarray, seg_id: int) -> float | None:
    if target is None:
        return None
    t = pd.Series(target).reset_index(drop=True)[labels == seg_id]
    t = t.dropna()
    return float(t.mean()) if len(t) else None


# --- names and facts in words ---------------------------------------------------------------------


def column_words(column: str) -> str:
    """A column name as lower-case words: 'SeniorCitizen' -> 'senior citizen', 'days_between_orders'
    -> 'days between orders'."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", str(column))
    return re.sub(r"[\s_\-.]+", " ", spaced).strip().lower()


# Number columns with a known meaning: (words pattern, phrase when high, phrase when low). First match
# wins, so the specific patterns come before the general ones ("days between orders" before "orders").
_NUMBER_WORDS: tuple[tuple[str, str, str], ...] = (
    (r"days between|between (orders|purchases)|interpurchase", "slow repeaters", "fast repeaters"),
    (r"recency|days since|since last", "lapsed", "recent"),
    (r"order value|basket|aov\b", "big-basket", "small-basket"),
    (r"frequency|orders?\b|purchases\b|transactions\b", "frequent", "one-off"),
    (r"monetary|spend|revenue|sales\b|total charges", "big spenders", "low spenders"),
    (r"charges?\b|bill\b", "high-bill", "low-bill"),
    (r"tenure|customer for|months? active", "long-standing", "new"),
    (r"discount|coupon|promo", "bargain hunters", "full-price buyers"),
    (r"return", "frequent returners", "rarely returning"),
    (r"visit|session", "engaged browsers", "rare visitors"),
    (r"\bopen|click", "email-engaged", "email-quiet"),
    (r"product|items?\b|categories", "wide-range", "narrow-range"),
    (r"\bage\b|years old", "older", "younger"),
    (r"income|salary", "high-income", "lower-income"),
    (r"balance", "high-balance", "low-balance"),
    (r"campaign|contacts\b|calls\b", "often-contacted", "rarely-contacted"),
    (r"^day$|day of (the )?month", "late-month", "early-month"),
)
_NOUN_PHRASES = {"big spenders", "low spenders", "bargain hunters", "full-price buyers", "frequent returners",
                 "engaged browsers", "rare visitors", "slow repeaters", "fast repeaters"}
# A flag that says what the customer *is* names the segment as a noun ("Seniors"); others become
# "with ..." ("with paperless billing").
_PERSON_WORDS = ("citizen", "senior", "member", "student", "subscriber", "homeowner", "owner", "retiree", "veteran",
                 "employee", "vip", "smoker", "customer", "buyer", "affiliate")
_GEO_WORDS = re.compile(r"\b(country|countries|region|city|state|province|county|location|area|market|territory|zone)\b")
_PAY_WORDS = re.compile(r"\b(payment|pay|paid|paying)\b")
_PREFER_WORDS = re.compile(r"^(preferred|favourite|favorite|usual|main|primary)\b")
# Category columns whose levels describe the customer on their own ("married", "retired", "fiber
# optic"); levels of other columns read with the column's words ("two year contract", "tertiary
# education", "failure poutcome").
_SELF_DESCRIBING = re.compile(r"\b(job|occupation|profession|marital|gender|sex|persona|industry|sector|generation|"
                              r"life ?stage|household|internet service)\b")
_WHEN_WORDS = re.compile(r"(^|\s)(month|weekday|day of week|quarter|season)$")
_VAGUE_LEVELS = {"unknown", "other", "none", "not specified", "n/a", "na", "unspecified"}
NAME_MIN_Z = 0.3  # a difference smaller than this (in sd of the base) is not worth naming a segment by
# A level names a segment only when most of the segment has it and clearly more than the base does:
# "unknown outcome" at 99% vs 82% overall is true of nearly everyone, so it says nothing.
NAME_MIN_LIFT = 0.2


@dataclass(frozen=True)
class _Phrase:
    slot: str  # "adj" (before the noun), "noun" or "qual" (after: "in Portugal", "with paperless billing")
    text: str  # English: names are chosen on the English words, so both languages name the same facts
    weight: float  # how distinctive: |standardised difference|
    kind: str = "number"  # adjectives from numbers go first: "new fiber optic customers", not the reverse
    local: str = ""  # the same phrase in the current language ("" = as ``text``)
    clause: bool = False  # in Chinese, a phrase with its own verb or column name takes 的 before the noun

    @property
    def shown(self) -> str:
        return self.local or self.text


def _said(template: str, **fields: object) -> tuple[str, str]:
    """A phrase in English and in the current language, from one catalogue template."""
    return template.format(**fields), t(template, **fields)  # i18n: a fact template from this module's tables, in the catalogue


def _phrase(slot: str, said: tuple[str, str], weight: float, kind: str = "number", clause: bool = True) -> _Phrase:
    return _Phrase(slot, said[0], weight, kind, said[1], clause)


def _word(text: str) -> str:
    """A fixed word of the tables above (a name fragment) in the current language."""
    return t(text)  # i18n: a fact template from this module's tables, in the catalogue


def _number_phrase(column: str, z: float, date: bool = False) -> _Phrase:
    words = column_words(column)
    for pattern, high, low in _NUMBER_WORDS:
        if re.search(pattern, words):
            text = high if z > 0 else low
            return _Phrase("noun" if text in _NOUN_PHRASES else "adj", text, abs(z), local=_word(text))
    if date:  # days ago: high = long ago
        said = _said("with early {words}", words=words) if z > 0 else _said("with recent {words}", words=words)
        return _phrase("qual", said, abs(z))
    said = _said("with high {words}", words=words) if z > 0 else _said("with low {words}", words=words)
    return _phrase("qual", said, abs(z))


def _flag_words(column: str) -> tuple[str, str]:
    """("noun", "seniors") for a flag saying what the customer is, else ("with", "paperless billing")."""
    words = column_words(column).split()
    prefix = words[0] if len(words) > 1 and words[0] in ("is", "has", "have", "with", "flag") else ""
    words = words[1:] if prefix else words
    text = " ".join(words)
    if text in ("senior citizen", "senior"):
        return "noun", "seniors"  # translated where shown (see ``_flag_phrase``)
    if words[-1].rstrip("s") in _PERSON_WORDS:
        return "noun", text if text.endswith("s") else text + "s"
    if prefix == "is":
        return "adj", text
    return "with", text


def _flag_phrase(column: str, yes: bool, weight: float) -> _Phrase | None:
    form, text = _flag_words(column)
    if form == "with":
        return _phrase("qual", _said("with {text}", text=text) if yes else _said("without {text}", text=text), weight)
    # "Non-seniors" says little about a segment; only the "yes" side of a noun/adjective flag names one.
    local = t("seniors") if text == "seniors" else text
    return _Phrase("noun" if form == "noun" else "adj", text, weight, "category", local) if yes else None


def _flag_fact(column: str) -> str:
    form, text = _flag_words(column)
    if form == "with":
        return t("with {text}", text=text)
    return t("seniors") if text == "seniors" else text


def _level_words(column: str, level: str) -> str:
    """A level as it reads in a sentence: verbatim for places, otherwise a capitalised plain word is
    lowered ("Electronic check" -> "electronic check") and "(automatic)"-style asides are dropped."""
    words = column_words(column)
    text = re.sub(r"\s*\([^)]*\)", "", level).strip() or level
    if not _GEO_WORDS.search(words) and re.fullmatch(r"[A-Z][a-z][a-z0-9 \-/]*", text):
        text = text[0].lower() + text[1:]
    return text


def _level_phrase(column: str, level: str, weight: float, for_name: bool = True) -> _Phrase | None:
    """How a dominant category level reads: "in Portugal", "paying by electronic check", "month-to-month
    contract", "without internet service", "married"."""
    if level in (OTHER, MISSING):
        return None
    words = column_words(column)
    text = _level_words(column, level)
    low = text.lower()
    if _GEO_WORDS.search(words):
        return _phrase("qual", _said("in {place}", place=text), weight, "category")
    if _PAY_WORDS.search(words):
        said = _said("paying by {method}", method=text) if for_name else _said("pay by {method}", method=text)
        return _phrase("qual", said, weight)
    if _PREFER_WORDS.search(words):
        said = _said("preferring {choice}", choice=text) if for_name else _said("prefer {choice}", choice=text)
        return _phrase("qual", said, weight)
    if low in _NO:
        return _phrase("qual", _said("without {text}", text=words), weight)
    if low in _YES:
        return _phrase("qual", _said("with {text}", text=words), weight)
    if low.startswith("no "):
        return _phrase("qual", _said("without {text}", text=text[3:]), weight)
    if re.fullmatch(r"[\d.,\-]+", text) or len(text) <= 2:  # "2", "b": only readable with the column's words
        return _phrase("qual", _said("with {words} {level}", words=words, level=text), weight)
    if _WHEN_WORDS.search(words):
        return _phrase("qual", _said("in {when}", when=text[0].upper() + text[1:]), weight, "category")
    if low in _VAGUE_LEVELS or (not _SELF_DESCRIBING.search(words) and len(f"{text} {words}".split()) <= 3):
        return _phrase("adj", _said("{level} {words}", level=text, words=words), weight, "category")
    return _Phrase("adj", text, weight, "category")


def _sources(profile_columns: list[str], kinds: dict[str, str]) -> dict[str, list[tuple[str, str | None]]]:
    """Feature -> its profile columns with the level each stands for (None for numbers)."""
    out: dict[str, list[tuple[str, str | None]]] = {}
    for feature, kind in kinds.items():
        if kind == "number":
            out[feature] = [(feature, None)] if feature in profile_columns else []
        elif kind == "date":
            out[feature] = [(f"{feature} (days ago)", None)]
        else:
            prefix = f"{feature} = "
            out[feature] = [(c, c[len(prefix):]) for c in profile_columns if c.startswith(prefix)]
    return out


def _kinds_of(result: SegmentationResult) -> dict[str, str]:
    return result.feature_kinds or {f: "number" for f in result.features}


def _name_phrases(z: pd.Series, profile: pd.DataFrame, seg_id: int, kinds: dict[str, str]) -> list[_Phrase]:
    """Candidate name phrases for one segment, most distinctive first, at most one per feature."""
    phrases = []
    for feature, cols in _sources(list(profile.columns), kinds).items():
        kind = kinds[feature]
        if not cols:
            continue
        if kind in ("number", "date"):
            col = cols[0][0]
            if abs(z[col]) >= NAME_MIN_Z:
                phrases.append(_number_phrase(feature, float(z[col]), date=kind == "date"))
            continue
        if kind == "flag":
            col = cols[0][0]
            share, base = profile.loc[seg_id, col], profile.loc["All customers", col]
            if share >= 0.5 and z[col] >= NAME_MIN_Z and share - base >= NAME_MIN_LIFT:
                p = _flag_phrase(feature, True, float(z[col]))
            elif share < 0.5 <= base and z[col] <= -NAME_MIN_Z and base - share >= NAME_MIN_LIFT:
                p = _flag_phrase(feature, False, float(-z[col]))
            else:
                p = None
            if p is not None:
                phrases.append(p)
            continue
        best = max(cols, key=lambda c: z[c[0]])
        share, base = profile.loc[seg_id, best[0]], profile.loc["All customers", best[0]]
        if share >= 0.5 and z[best[0]] >= NAME_MIN_Z and share - base >= NAME_MIN_LIFT and best[1] is not None:
            p = _level_phrase(feature, best[1], float(z[best[0]]))
            if p is not None:
                phrases.append(p)
    return sorted(phrases, key=lambda p: -p.weight)


MAX_NAME_WORDS = 5


def _assemble(phrases: list[_Phrase]) -> str:
    """Up to three phrases as "<adj> <adj> <noun> <qualifier>" within ``MAX_NAME_WORDS`` words; the most
    distinctive phrase always gets in."""
    adjs: list[_Phrase] = []
    noun: str | None = None
    qual: str | None = None
    noun_phrase: _Phrase | None = None
    qual_phrase: _Phrase | None = None

    def words(a: list[_Phrase], n: str | None, q: str | None) -> int:
        return sum(len(t.split()) for t in [*(p.text for p in a), n or "customers", *([q] if q else [])])

    taken = 0
    for p in phrases:
        if taken == 3:
            break
        if p.slot == "adj" and len(adjs) < 2:
            trial = (adjs + [p], noun, qual)
        elif p.slot == "noun" and noun is None:
            trial = (adjs, p.text, qual)
        elif p.slot == "qual" and qual is None:
            trial = (adjs, noun, p.text)
        else:
            continue
        if taken and words(*trial) > MAX_NAME_WORDS:
            continue
        adjs, noun, qual = trial
        noun_phrase = p if p.slot == "noun" else noun_phrase
        qual_phrase = p if p.slot == "qual" else qual_phrase
        taken += 1
    if not taken:
        return t("Typical customers")
    ordered = sorted(adjs, key=lambda p: p.kind != "number")
    if language() == "zh":
        return _chinese_name(ordered, noun_phrase, qual_phrase)
    name = " ".join([*(p.text for p in ordered), noun or "customers", *([qual] if qual else [])])
    return name[0].upper() + name[1:]


def _chinese_name(adjs: list[_Phrase], noun: _Phrase | None, qual: _Phrase | None) -> str:
    """Chinese puts every modifier before the noun: clauses ("位于 Portugal", "tenure 高") joined by
    、 and closed by 的, then the short adjectives, then the noun: "位于 Portugal 的大单一次性全价买家"."""
    clauses = [p.shown for p in [*([qual] if qual else []), *adjs] if p.clause]
    words = [p.shown for p in adjs if not p.clause] + [noun.shown if noun is not None else t("customers")]
    head = _join_zh(["、".join(clauses), "的"]) if clauses else ""
    return _join_zh([head, *words])


def _join_zh(parts: list[str]) -> str:
    """Chinese words run together; a space only where two Latin words or numbers would touch."""
    out = ""
    for part in parts:
        if not part:
            continue
        if out and out[-1].isascii() and out[-1].isalnum() and part[0].isascii() and part[0].isalnum():
            out += " "
        elif out and (out[-1].isascii() and out[-1].isalnum()) != (part[0].isascii() and part[0].isalnum()):
            out += " "
        out += part
    return out


def _unique_names(phrase_lists: list[list[_Phrase]]) -> list[str]:
    """One name per segment, all different: when the best name is taken, try names built from the
    segment's other distinctive phrases before falling back to a number."""
    names: list[str] = []
    for phrases in phrase_lists:
        options = [_assemble(phrases)]
        options += [_assemble([phrases[0], p]) for p in phrases[2:]] if phrases else []
        options += [_assemble(phrases[i:]) for i in range(1, len(phrases))]
        name = next((o for o in options if o not in names), None)
        if name is None:
            i = 2
            while f"{options[0]} ({i})" in names:
                i += 1
            name = f"{options[0]} ({i})"
        names.append(name)
    return names


def _percent(p: float) -> str:
    if np.isnan(p):
        return "–"
    if 0 < p < 0.01:
        return "<1%"
    if 0.99 < p < 1:
        return ">99%"
    return f"{p:.0%}"


def human_number(v: float) -> str:
    """A number for people: 2 significant digits below 100, 3 above, thousands separators, at most 2
    decimals (0.16, 12, 1.5, 1,460, 77,200)."""
    if v is None or not np.isfinite(v):
        return "–"
    if v == 0:
        return "0"
    digits = 2 if abs(v) < 100 else 3
    magnitude = int(np.floor(np.log10(abs(v))))
    rounded = round(v, digits - 1 - magnitude)
    if rounded == 0:
        return "0"
    # At most 2 decimals: a mean of 0.00089 reads as 0 to a person, and "0.00089" only looks precise.
    decimals = min(2, max(0, digits - 1 - int(np.floor(np.log10(abs(rounded))))))
    text = f"{rounded:,.{decimals}f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text  # "4", not "4.0"
    return "0" if text in ("-0", "0") else text


_SHARE_WORDS = re.compile(r"\b(share|rate|ratio|pct|percent|percentage|proportion|fraction)\b")
_UNIT_WORDS = re.compile(r"\s(days|months|years|weeks)$")


def _number_text(feature: str, value: float, base: float, kind: str, is_share: bool) -> str:
    """'recency 12 days (vs 48 overall)', 'discount share 80% (vs 20% overall)'."""
    words = column_words(feature)
    unit = ""
    if kind == "date":
        unit = t(" days ago")
    else:
        m = _UNIT_WORDS.search(words)
        if m and len(words.split()) > 1:
            words, unit = words[: m.start()], _UNITS[m.group(1)]()
    fmt = _percent if is_share else human_number
    return t("{words} {value}{unit} (vs {base} overall)", words=words, value=fmt(value), unit=unit, base=fmt(base))


# The units a column name may end with, as they read after a number (looked up when used).
_UNITS = {"days": lambda: t(" days"), "months": lambda: t(" months"), "years": lambda: t(" years"),
          "weeks": lambda: t(" weeks")}


def _is_share(feature: str, profile: pd.DataFrame, col: str) -> bool:
    values = profile[col].dropna()
    return bool(_SHARE_WORDS.search(column_words(feature)) and len(values) and values.between(0, 1).all())


def distinguishing_facts_from(
    profile: pd.DataFrame, distinctive: pd.DataFrame, kinds: dict[str, str], seg_id: int, n: int = 5
) -> list[str]:
    """The ``n`` facts that most set a segment apart, one per feature, most distinctive first."""
    ranked: list[tuple[float, str]] = []
    base = profile.loc["All customers"]
    seg = profile.loc[seg_id]
    z = distinctive.loc[seg_id]
    for feature, cols in _sources(list(profile.columns), kinds).items():
        kind = kinds[feature]
        cols = [(c, lv) for c, lv in cols if lv not in (OTHER, MISSING)]
        if not cols:
            continue
        if kind in ("number", "date"):
            col = cols[0][0]
            text = _number_text(feature, seg[col], base[col], kind, _is_share(feature, profile, col))
            ranked.append((abs(z[col]), text))
        elif kind == "flag":
            col = cols[0][0]
            ranked.append((abs(z[col]), t("{share} {what} (vs {base} overall)", share=_percent(seg[col]),
                                          what=_flag_fact(feature), base=_percent(base[col]))))
        else:
            # The over-represented level when there is one ("82% month-to-month"), else the level the
            # segment lacks most ("5% month-to-month (vs 55% overall)").
            col, level = max(cols, key=lambda c: z[c[0]])
            if z[col] < NAME_MIN_Z:
                col, level = max(cols, key=lambda c: abs(z[c[0]]))
            phrase = _level_phrase(feature, level, 0.0, for_name=False)
            text = phrase.shown if phrase is not None else level
            ranked.append((abs(z[col]), t("{share} {what} (vs {base} overall)", share=_percent(seg[col]),
                                          what=text, base=_percent(base[col]))))
    ranked.sort(key=lambda t: -t[0])
    return [text for weight, text in ranked[:n] if weight > 0.1] or [text for _, text in ranked[:1]]


def distinguishing_facts(result: SegmentationResult, segment_id: int, n: int = 5) -> list[str]:
    """What sets one segment apart from all customers, as short phrases for people, most distinctive
    first: "82% month-to-month contract (vs 55% overall)", "recency 12 days (vs 48 overall)"."""
    if segment_id not in {s.id for s in result.segments}:
        raise DataValidationError(t("There is no segment {segment}; segments are {segments}.", segment=segment_id,
                                    segments=", ".join(str(s.id) for s in result.segments)))
    return distinguishing_facts_from(result.profile, result.distinctive, _kinds_of(result), segment_id, n)


def profile_for_people(result: SegmentationResult, top_levels: int = 3, min_size: int = SMALL_GROUP) -> pd.DataFrame:
    """Each segment next to all customers, formatted to read: one row per feature, one column per
    segment (by name) plus "All customers". Shares as percentages ("16%"), numbers with 2-3 significant
    digits and thousands separators, categories as their most common levels with shares
    ("Month-to-month 82%, One year 10%"). Segments under ``min_size`` customers are merged into one
    "Other (small segments)" column, or left out when even together they are under ``min_size``."""
    profile = result.profile
    kinds = _kinds_of(result)
    segments = list(result.segments)
    small = [s for s in segments if s.size < min_size]
    if small:
        # A profile of a handful of customers describes those people: such segments are shown only merged
        # (means and shares weighted by size), and not at all when even the merged group is too small.
        segments = [s for s in segments if s.size >= min_size]
        n_small = sum(s.size for s in small)
        if n_small >= min_size:
            w = np.array([s.size for s in small], dtype="float64")
            merged = profile.loc[[s.id for s in small]].mul(w, axis=0).sum() / w.sum()
            other = t(OTHER_SMALL)  # i18n: OTHER_SMALL is in the catalogue
            profile = pd.concat([profile, merged.to_frame(other).T])
            known = [(s.target_rate, s.size) for s in small if s.target_rate is not None]
            rate = sum(r * n for r, n in known) / sum(n for _, n in known) if known else None
            segments.append(Segment(other, other, "", n_small,  # type: ignore[arg-type]
                                    sum(s.share for s in small), rate))
    keys: list[object] = [s.id for s in segments] + ["All customers"]
    headers = [s.name for s in segments] + [t("All customers")]
    rows: dict[str, list[str]] = {
        t("Customers"): [f"{s.size:,}" for s in segments] + [f"{len(result.labels):,}"],
        t("Share of customers"): [_percent(s.share) for s in segments] + ["100%"],
    }
    rates = [s.target_rate for s in segments]
    all_rates = [(s.target_rate, s.size) for s in result.segments if s.target_rate is not None]
    if all_rates:
        overall = sum(r * n for r, n in all_rates) / sum(n for _, n in all_rates)
        rows[t("Target rate")] = [_percent(r) if r is not None else "–" for r in rates] + [_percent(overall)]
    for feature, cols in _sources(list(profile.columns), kinds).items():
        kind = kinds[feature]
        if not cols:
            continue
        label = column_words(feature).capitalize()
        unit = _UNIT_WORDS.search(label)
        if unit and kind == "number" and unit.start() > 0:
            label = f"{label[: unit.start()]} ({unit.group(1)})"  # "Recency (days)"
        if kind in ("number", "date"):
            col = cols[0][0]
            fmt = _percent if _is_share(feature, profile, col) else human_number
            rows[label + (t(" (days ago)") if kind == "date" else "")] = [fmt(profile.loc[key, col]) for key in keys]
        elif kind == "flag":
            col = cols[0][0]
            fact = _flag_fact(feature)
            rows[fact[0].upper() + fact[1:]] = [_percent(profile.loc[key, col]) for key in keys]
        else:
            cells = []
            for key in keys:
                shares = sorted(((profile.loc[key, c], lv) for c, lv in cols), key=lambda t: -t[0])[:top_levels]
                cells.append(", ".join(f"{lv} {_percent(p)}" for p, lv in shares if p > 0))
            rows[label] = cells
    return pd.DataFrame(rows, index=headers).T


def rename_segments(result: SegmentationResult, names: dict[int, str]) -> SegmentationResult:
    """A copy with user-chosen names (blank names keep the generated one)."""
    from dataclasses import replace

    segs = tuple(replace(s, name=names.get(s.id, s.name).strip() or s.name) for s in result.segments)
    return replace(result, segments=segs)


def _pca_2d(x: np.ndarray) -> np.ndarray:
    """Map coordinates: the first two principal components, learnt on an even slice of at most 100k rows
    (the axes are settled long before that) and applied to every row."""
    mean = x.mean(axis=0)
    if x.shape[1] < 2:
        return np.hstack([x - mean, np.zeros((len(x), 1), dtype=x.dtype)]).astype("float32")
    part = (x[:: max(1, len(x) // 100_000)] - mean).astype("float64")
    # Eigenvectors of the covariance: cheap (features × features) whatever the number of rows.
    vals, vecs = np.linalg.eigh(part.T @ part / max(len(part) - 1, 1))
    comps = vecs[:, np.argsort(vals)[::-1][:2]]
    comps *= np.sign(comps[np.abs(comps).argmax(axis=0), range(2)])  # deterministic sign
    return ((x @ comps.astype(x.dtype)) - (mean @ comps).astype(x.dtype)).astype("float32")
