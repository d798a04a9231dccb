"""Clustering: customers grouped by k-means on the clustering matrix, the segments numbered by size,
matched to a previous run so ids and names stay put, then profiled, named and described.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits  # installed with scikit-learn, which depends on it

from lib.compute import default_workers
from lib.errors import DataValidationError
from lib.models.segment.choose_k import (
    DEFAULT_K_RANGE,
    MIN_SEGMENT_SHARE,
    STABILITY_RUNS,
    KChoice,
    choose_k,
    stability_at,
)
from lib.models.segment.describe import segment_description
from lib.models.segment.matrix import build_matrix, pca_2d, read_columns
from lib.models.segment.naming import name_phrases, unique_names
from lib.models.segment.profiles import profile_of, target_rate
from lib.models.segment.result import Segment, SegmentationResult
from lib.text.i18n import t

MINIBATCH_ABOVE = 50_000
FIT_SAMPLE = 200_000


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
    lo, hi = _checked(frame, features, k_range)
    columns = read_columns(frame, features)
    prepared = build_matrix(columns)
    x = prepared.matrix
    choice: KChoice | None = None
    if k is None:
        choice = choose_k(x, seed, (lo, hi), stability_runs, min_segment_share, default_workers(len(x)))
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
        stability = stability_at(x, labels, k, seed, stability_runs)[0] if stability_runs else None
        reason, table = t("{k} segments, as chosen.", k=k), None
    profile, distinctive = profile_of(columns, labels, k)
    kinds = {c.name: c.kind for c in columns}
    segs = _named_segments(profile, distinctive, kinds, labels, k, target, previous)
    return SegmentationResult(
        method="kmeans", k=k, labels=labels, segments=tuple(segs), profile=profile, distinctive=distinctive,
        features=tuple(features), centroids=centers, silhouette_by_k=choice.silhouettes if choice else {},
        stability=stability, rules=None, seed=seed, embedding=pca_2d(x), k_reason=reason, k_table=table,
        feature_kinds=kinds, scaling=prepared.scaling,
    )


def _checked(frame: pd.DataFrame, features: list[str], k_range: tuple[int, int]) -> tuple[int, int]:
    """The range of k to try, after checking the frame and features can be clustered at all."""
    if len(frame) < 3:
        raise DataValidationError(t("Only {rows} rows: at least 3 customers are needed to form segments.", rows=len(frame)))
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise DataValidationError(t("Feature column(s) not in the data: {columns}.", columns=", ".join(map(str, missing))))
    lo, hi = int(k_range[0]), int(k_range[1])
    if not 2 <= lo <= hi <= 20:
        raise DataValidationError(t("The range of segment counts must lie within 2-20, smallest first; got {lo}-{hi}.",
                                    lo=lo, hi=hi))
    return lo, hi


def _named_segments(profile: pd.DataFrame, distinctive: pd.DataFrame, kinds: dict[str, str], labels: np.ndarray,
                    k: int, target: pd.Series | None, previous: SegmentationResult | None) -> list[Segment]:
    """Each segment with its name (kept from ``previous`` for a matched id), description, size and rate."""
    prev_names = {s.id: s.name for s in previous.segments} if previous is not None else {}
    sizes = np.bincount(labels, minlength=k)
    names = unique_names([name_phrases(distinctive.loc[i], profile, i, kinds) for i in range(k)])
    segs = []
    for seg_id in range(k):
        share = sizes[seg_id] / len(labels)
        desc = segment_description(profile, distinctive, kinds, seg_id, share)
        segs.append(Segment(seg_id, prev_names.get(seg_id, names[seg_id]), desc, int(sizes[seg_id]), float(share),
                            target_rate(target, labels, seg_id)))
    return _dedupe(segs)


def _dedupe(segs: list[Segment]) -> list[Segment]:
    """Names kept from a previous run can collide with new ones: number the later copies."""
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
