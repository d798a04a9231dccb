"""Saved segments for new customers: what a model file keeps of a segmentation, and how the customers
of a new file are put into those segments (same ids, names and descriptions; the new file's sizes).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from lib.errors import DataValidationError
from lib.models.segment.matrix import Column, build_matrix, pca_2d, read_as, with_new_level
from lib.models.segment.profiles import profile_of
from lib.models.segment.result import Segment, SegmentationResult
from lib.models.segment.rfm import RFM_RULES, rfm_group, rfm_group_of, rfm_meaning, rfm_scores_on_edges
from lib.text.i18n import t

CHUNK_ROWS = 20_000  # customers measured against the centroids at once: keeps memory flat on big files


def segmentation_state(result: SegmentationResult) -> dict:
    """What a model file keeps of a segmentation so new customers get a segment: plain JSON."""
    segments = [{"id": s.id, "name": s.name, "description": s.description} for s in result.segments]
    if result.method == "rfm":
        return {"method": "rfm", "features": list(result.features), "edges": result.rfm_edges, "segments": segments}
    return {"method": "kmeans", "features": list(result.features), "scaling": list(result.scaling),
            "centroids": np.asarray(result.centroids, dtype="float64").tolist(), "segments": segments}


@dataclass(frozen=True)
class _Placed:
    """New customers put into the saved segments, before sizes and profiles are counted."""

    labels: np.ndarray
    columns: list[Column]
    segments: list[Segment]
    kinds: dict[str, str]
    centroids: np.ndarray | None = None
    embedding: np.ndarray | None = None
    scores: pd.DataFrame | None = None


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
        placed = _place_rfm(frame, feats, state["edges"], saved)
    else:
        placed = _place_clusters(frame, tuple(state["scaling"]), state["centroids"], saved, describe)
    labels, k = placed.labels, len(placed.segments)
    if describe:
        profile, distinctive = profile_of([with_new_level(c) for c in placed.columns], labels, k)
    else:
        profile, distinctive = pd.DataFrame(), pd.DataFrame()
    sizes = np.bincount(labels, minlength=k)
    segs = tuple(replace(s, size=int(sizes[s.id]), share=float(sizes[s.id] / max(len(labels), 1)))
                 for s in placed.segments)
    return SegmentationResult(
        method=state["method"], k=k, labels=labels, segments=segs, profile=profile, distinctive=distinctive,
        features=tuple(feats), centroids=placed.centroids, silhouette_by_k={}, stability=None, rules=None, seed=0,
        embedding=placed.embedding, rfm_scores=placed.scores, feature_kinds=placed.kinds,
        scaling=tuple(state.get("scaling") or ()), rfm_edges=state.get("edges"),
    )


def _place_rfm(frame: pd.DataFrame, feats: list[str], edges: dict, saved: list[Segment]) -> _Placed:
    """RFM groups on the training edges; a group no training customer was in gets a new id."""
    values = [frame[c].to_numpy(dtype="float64", na_value=np.nan) for c in feats]
    scores = rfm_scores_on_edges(values, edges)
    groups = rfm_group(scores).to_numpy()
    segments = list(saved)
    ids = {(rfm_group_of(s.name) or s.name): s.id for s in segments}
    for name in dict.fromkeys(groups):
        if name not in ids:
            ids[name] = len(ids)
            meaning = next(r[2] for r in RFM_RULES if r[0] == name)
            segments.append(Segment(ids[name], t(name), rfm_meaning(meaning), 0, 0.0, None))  # i18n: an RFM group name (RFM_RULES), in the catalogue
    labels = np.array([ids[g] for g in groups], dtype="int64")
    columns = [Column(c, "number", v) for c, v in zip(feats, values)]
    return _Placed(labels, columns, segments, {c: "number" for c in feats}, scores=scores)


def _place_clusters(frame: pd.DataFrame, scaling: tuple[dict, ...], centroids: list, saved: list[Segment],
                    describe: bool) -> _Placed:
    """Each customer to the nearest training centroid, in the training customers' scaled space."""
    columns = [read_as(frame[sp["name"]], sp) for sp in scaling]
    x = build_matrix(columns, scaling).matrix.astype("float64")
    centers = np.asarray(centroids, dtype="float64")
    labels = np.concatenate([((x[i:i + CHUNK_ROWS, None, :] - centers[None]) ** 2).sum(-1).argmin(1)
                             for i in range(0, len(x), CHUNK_ROWS)] or [np.zeros(0, dtype="int64")])
    return _Placed(labels, columns, saved, {c.name: c.kind for c in columns}, centers,
                   pca_2d(x) if describe else None)
