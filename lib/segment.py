"""Segmentation: RFM groups with their rules, and clusters that are profiled, named and kept stable.

A segment is only useful when a marketer can say what it *is*: every segment here comes with its size,
profile against the whole base, the features that set it apart, a short plain-words name and a one-line
description. Re-running with new data or a new seed matches segments to the previous run so names and
ids stay put.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import adjusted_rand_score, pairwise_distances, silhouette_score

from lib.errors import DataValidationError

log = logging.getLogger(__name__)

MINIBATCH_ABOVE = 50_000
SILHOUETTE_SAMPLE = 3_000

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
    profile: pd.DataFrame  # one row per segment id: mean of each feature
    distinctive: pd.DataFrame  # segment × feature standardised difference vs the base
    features: tuple[str, ...]
    centroids: np.ndarray | None  # in scaled space, for matching re-runs
    silhouette_by_k: dict[int, float]
    stability: float | None  # mean adjusted Rand index across bootstrap re-runs
    rules: pd.DataFrame | None  # RFM: group, rule, meaning
    seed: int
    embedding: np.ndarray | None = None  # 2-D map coordinates (PCA) for plots
    rfm_scores: pd.DataFrame | None = None

    def names(self) -> pd.Series:
        lookup = {s.id: s.name for s in self.segments}
        return pd.Series(self.labels).map(lookup)

    def to_report(self) -> list[dict]:
        return [
            {"id": s.id, "name": s.name, "size": s.size, "share": round(s.share, 4), "description": s.description,
             **({"target_rate": round(s.target_rate, 4)} if s.target_rate is not None else {})}
            for s in self.segments
        ]


# --- RFM ------------------------------------------------------------------------------------------


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
            raise DataValidationError(
                f"RFM needs recency, frequency and monetary columns; '{col}' is missing. Roll a transaction "
                "log up to customers first, or choose the three columns."
            )
    scores = rfm_scores(frame[recency_col], frame[frequency_col], frame[monetary_col])
    groups = rfm_group(scores)
    order = [r[0] for r in RFM_RULES if (groups == r[0]).any()]
    ids = {name: i for i, name in enumerate(order)}
    labels = groups.map(ids).to_numpy()
    feats = [recency_col, frequency_col, monetary_col]
    profile, distinctive = _profile(frame[feats], labels)
    meaning = {r[0]: r for r in RFM_RULES}
    segs = tuple(
        Segment(ids[name], name, meaning[name][2].capitalize() + ".", int((labels == ids[name]).sum()),
                float((labels == ids[name]).mean()), _rate(target, labels, ids[name]))
        for name in order
    )
    rules = pd.DataFrame([{"group": r[0], "rule": r[1], "meaning": r[2]} for r in RFM_RULES])
    return SegmentationResult(
        method="rfm", k=len(order), labels=labels, segments=segs, profile=profile, distinctive=distinctive,
        features=tuple(feats), centroids=None, silhouette_by_k={}, stability=None, rules=rules, seed=0,
        rfm_scores=scores,
    )


# --- clustering -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Prepared:
    matrix: np.ndarray
    columns: list[str]


def prepare_features(frame: pd.DataFrame, features: list[str]) -> _Prepared:
    """Numbers: log1p for skewed non-negative columns, then standardised and clipped at ±5 sd.
    Categories: one-hot, scaled down so a category weighs like one numeric column."""
    parts, names = [], []
    for col in features:
        s = frame[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            s = (s.max() - s).dt.days.astype("float64")
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            x = s.to_numpy(dtype="float64", na_value=np.nan)
            med = np.nanmedian(x) if np.isfinite(x).any() else 0.0
            x = np.where(np.isfinite(x), x, med)
            if x.min() >= 0 and _skew(x) > 1.0:
                x = np.log1p(x)
            # Standardise, then clip at ±5 sd: outliers cannot dominate the distances (robust), and
            # unlike median/IQR scaling a tightly bunched column is not blown up into a fake split.
            scale = x.std() or 1.0
            parts.append(np.clip((x - x.mean()) / scale, -5, 5)[:, None])
            names.append(col)
        else:
            text = s.astype("str").fillna("(missing)")
            top = text.value_counts().index[:12]
            text = text.where(text.isin(top), "(other)")
            dummies = pd.get_dummies(text, prefix=col, dtype="float64")
            parts.append(dummies.to_numpy() / np.sqrt(max(dummies.shape[1], 1)))
            names += list(dummies.columns)
    if not parts:
        raise DataValidationError("No usable features to cluster on: choose at least one number or category column.")
    return _Prepared(np.hstack(parts).astype("float64"), names)


def _skew(x: np.ndarray) -> float:
    sd = x.std()
    return float(((x - x.mean()) ** 3).mean() / sd**3) if sd > 0 else 0.0


FIT_SAMPLE = 200_000


def _fit_kmeans(x: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """KMeans up to ``MINIBATCH_ABOVE`` rows; beyond, MiniBatchKMeans fitted on a fixed sample of at
    most ``FIT_SAMPLE`` rows (centroids settle long before that), then every row goes to its nearest
    centroid."""
    if len(x) <= MINIBATCH_ABOVE:
        model = KMeans(n_clusters=k, random_state=seed, n_init=4)
        return model.fit_predict(x), model.cluster_centers_
    model = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096)
    if len(x) > FIT_SAMPLE:
        idx = np.random.default_rng(seed).choice(len(x), FIT_SAMPLE, replace=False)
        model.fit(x[idx])
    else:
        model.fit(x)
    return model.predict(x), model.cluster_centers_


def choose_k(x: np.ndarray, seed: int, k_range: range = range(2, 11)) -> tuple[int, dict[int, float]]:
    """k with the best silhouette on a sample of at most ``SILHOUETTE_SAMPLE`` rows."""
    rng = np.random.default_rng(seed)
    sample = x if len(x) <= SILHOUETTE_SAMPLE else x[rng.choice(len(x), SILHOUETTE_SAMPLE, replace=False)]
    scores: dict[int, float] = {}
    # One distance matrix serves every k (computing it is most of a silhouette's cost).
    distances = pairwise_distances(sample)
    for k in k_range:
        if k >= len(sample):
            break
        labels = KMeans(n_clusters=k, random_state=seed, n_init=1).fit_predict(sample)
        if len(np.unique(labels)) < 2:
            continue
        scores[k] = float(silhouette_score(distances, labels, metric="precomputed"))
    if not scores:
        raise DataValidationError("Too few distinct customers to form segments (need at least 3).")
    best = max(scores, key=lambda k: (round(scores[k], 3), -k))
    return best, scores


def segment_clusters(
    frame: pd.DataFrame,
    features: list[str],
    k: int | None = None,
    seed: int = 42,
    target: pd.Series | None = None,
    previous: SegmentationResult | None = None,
    stability_runs: int = 5,
) -> SegmentationResult:
    """Cluster customers on ``features``, pick k by silhouette unless given, then profile and name them.

    Parameters
    ----------
    previous
        An earlier result on the same features: segments are matched to it (Hungarian matching on
        centroids) so ids and names stay attached to the same kind of customer.
    """
    if len(frame) < 3:
        raise DataValidationError(f"Only {len(frame)} rows: at least 3 customers are needed to form segments.")
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise DataValidationError(f"Feature column(s) not in the data: {', '.join(missing)}.")
    prepared = prepare_features(frame, features)
    x = prepared.matrix
    silhouettes: dict[int, float] = {}
    if k is None:
        k, silhouettes = choose_k(x, seed)
    if not 2 <= k <= min(20, len(frame) - 1):
        raise DataValidationError(f"Number of segments must be between 2 and {min(20, len(frame) - 1)}; got {k}.")
    labels, centers = _fit_kmeans(x, k, seed)
    labels, centers = _canonical_order(labels, centers, x)
    if previous is not None and previous.centroids is not None and previous.centroids.shape[1] == centers.shape[1]:
        labels, centers = _match_to(previous.centroids, labels, centers)
    stability = _stability(x, k, seed, labels, stability_runs) if stability_runs else None
    profile, distinctive = _profile(frame[features], labels)
    prev_names = {s.id: s.name for s in previous.segments} if previous is not None else {}
    segs = []
    used_names: set[str] = set()
    for seg_id in range(k):
        mask = labels == seg_id
        name, desc = describe_segment(distinctive.loc[seg_id], profile, seg_id, int(mask.sum()), len(frame))
        name = prev_names.get(seg_id, name)
        base = name
        i = 2
        while name in used_names:
            name = f"{base} ({i})"
            i += 1
        used_names.add(name)
        segs.append(Segment(seg_id, name, desc, int(mask.sum()), float(mask.mean()), _rate(target, labels, seg_id)))
    return SegmentationResult(
        method="kmeans", k=k, labels=labels, segments=tuple(segs), profile=profile, distinctive=distinctive,
        features=tuple(features), centroids=centers, silhouette_by_k=silhouettes, stability=stability,
        rules=None, seed=seed, embedding=_pca_2d(x),
    )


def _canonical_order(labels: np.ndarray, centers: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _stability(x: np.ndarray, k: int, seed: int, labels: np.ndarray, runs: int) -> float:
    """Mean adjusted Rand index between the clustering and re-clusterings of bootstrap samples
    (compared on the rows each sample drew). Near 1: the segments are real; below ~0.6: fragile."""
    rng = np.random.default_rng(seed + 1)
    n = len(x)
    size = min(n, 10_000)
    scores = []
    for r in range(runs):
        idx = rng.choice(n, size=size, replace=True)
        boot_labels, _ = _fit_kmeans(x[idx], k, seed + 100 + r)
        scores.append(adjusted_rand_score(labels[idx], boot_labels))
    return float(np.mean(scores))


def _profile(features: pd.DataFrame, labels: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per segment: mean of each numeric feature (share for each category) and the standardised
    difference from the whole base ((segment mean − base mean) / base sd)."""
    cols: dict[str, pd.Series] = {}
    for col in features.columns:
        s = features[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            cols[col + " (days ago)"] = (s.max() - s).dt.days.astype("float64")
        elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            cols[col] = s.astype("float64")
        else:
            text = s.astype("str").fillna("(missing)")
            for v in text.value_counts().index[:6]:
                cols[f"{col} = {v}"] = (text == v).astype("float64")
    numeric = pd.DataFrame(cols, index=features.index)
    grouped = numeric.groupby(labels)
    profile = grouped.mean()
    sd = numeric.std(ddof=0).replace(0, np.nan)
    distinctive = ((profile - numeric.mean()) / sd).fillna(0.0)
    profile.loc["All customers"] = numeric.mean()
    return profile, distinctive


def _rate(target: pd.Series | None, labels: np.ndarray, seg_id: int) -> float | None:
    if target is None:
        return None
    t = pd.Series(target).reset_index(drop=True)[labels == seg_id]
    t = t.dropna()
    return float(t.mean()) if len(t) else None


_WORDS = {
    # feature keyword: (high phrase, low phrase)
    "days_between": ("slow repeaters", "fast repeaters"),
    "recency": ("lapsed", "recent"),
    "frequency": ("frequent", "one-off"),
    "orders": ("frequent", "one-off"),
    "monetary": ("big spenders", "low spenders"),
    "spend": ("big spenders", "low spenders"),
    "avg_order_value": ("big-basket", "small-basket"),
    "order_value": ("big-basket", "small-basket"),
    "tenure": ("long-standing", "new"),
    "discount": ("bargain hunters", "full-price buyers"),
    "return": ("frequent returners", "rarely return"),
    "visit": ("engaged browsers", "rare visitors"),
    "open": ("email-engaged", "email-quiet"),
    "product": ("wide-range", "narrow-range"),
    "age": ("older", "younger"),
    "income": ("high-income", "lower-income"),
    "balance": ("high-balance", "low-balance"),
}
_NOUN_WORDS = {"big spenders", "low spenders", "bargain hunters", "full-price buyers", "frequent returners",
               "engaged browsers", "rare visitors"}


def _phrase(feature: str, z: float) -> str:
    key = feature.lower()
    for kw, (hi, lo) in _WORDS.items():
        if kw in key:
            return hi if z > 0 else lo
    if " = " in feature:
        col, val = feature.split(" = ", 1)
        return f"mostly {val}" if z > 0 else f"few {val}"
    pretty = feature.replace("_", " ")
    return f"high {pretty}" if z > 0 else f"low {pretty}"


def describe_segment(z: pd.Series, profile: pd.DataFrame, seg_id: int, size: int, total: int) -> tuple[str, str]:
    """A short name and a one-sentence description from the segment's most distinctive features."""
    top = z.abs().sort_values(ascending=False)
    top = top[top > 0.25].index[:3]
    if len(top) == 0:
        return "Typical customers", f"Close to the average customer on every feature ({size / total:.0%} of the base)."
    phrases = []
    for f in top:
        p = _phrase(f, z[f])
        if p not in phrases:
            phrases.append(p)
    adjectives = [p for p in phrases if p not in _NOUN_WORDS]
    nouns = [p for p in phrases if p in _NOUN_WORDS]
    name_parts = adjectives[:2] + nouns[:1]
    if not nouns:
        name_parts = adjectives[:2] + ["customers"]
    name = " ".join(name_parts)
    name = name[0].upper() + name[1:]
    details = []
    base = profile.loc["All customers"]
    for f in top:
        seg_v, base_v = profile.loc[seg_id, f], base[f]
        if " = " in f:
            details.append(f"{seg_v:.0%} {f.split(' = ', 1)[1]} (vs {base_v:.0%} overall)")
        else:
            details.append(f"{f.replace('_', ' ')} {_num(seg_v)} vs {_num(base_v)} overall")
    desc = f"{size / total:.0%} of customers; " + "; ".join(details) + "."
    return name, desc[0].upper() + desc[1:]


def _num(v: float) -> str:
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:,.1f}"
    return f"{v:,.2f}"


def rename_segments(result: SegmentationResult, names: dict[int, str]) -> SegmentationResult:
    """A copy with user-chosen names (blank names keep the generated one)."""
    from dataclasses import replace

    segs = tuple(replace(s, name=names.get(s.id, s.name).strip() or s.name) for s in result.segments)
    return replace(result, segments=segs)


def _pca_2d(x: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=0)
    if xc.shape[1] < 2:
        return np.hstack([xc, np.zeros((len(xc), 1))])
    # SVD of the covariance is cheap (features × features) even for millions of rows.
    cov = xc.T @ xc / max(len(xc) - 1, 1)
    vals, vecs = np.linalg.eigh(cov)
    comps = vecs[:, np.argsort(vals)[::-1][:2]]
    comps *= np.sign(comps[np.abs(comps).argmax(axis=0), range(2)])  # deterministic sign
    return (xc @ comps).astype("float32")


def default_cluster_features(frame: pd.DataFrame, feature_columns: list[str], target: str | None) -> list[str]:
    """Behaviour columns (numbers) make the most readable segments; categories add little but noise."""
    nums = [c for c in feature_columns if c != target and pd.api.types.is_numeric_dtype(frame[c])]
    return nums or [c for c in feature_columns if c != target]
