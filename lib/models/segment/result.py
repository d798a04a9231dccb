"""What a segmentation returns: every customer's segment, and each segment's name, size and profile."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from lib.data.privacy import SMALL_GROUP, segments_report


@dataclass(frozen=True)
class Segment:
    """One segment: its id (stable across re-runs), plain-words name and description, and its size."""

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
    scaling: tuple[dict, ...] = ()  # clustering: how each feature became matrix columns (see ``matrix.fit_scaling``)
    rfm_edges: dict[str, list[float]] | None = None  # RFM: the quintile edges of R, F and M

    def names(self) -> pd.Series:
        lookup = {s.id: s.name for s in self.segments}
        return pd.Series(self.labels).map(lookup)

    def to_report(self, min_size: int = SMALL_GROUP) -> list[dict]:
        """Each segment's id, name, size, share and description (``segments`` of report.json), with
        the small-group rule of ``lib.data.privacy.segments_report`` applied."""
        return segments_report([{"id": s.id, "name": s.name, "size": s.size, "share": s.share,
                                 "description": s.description, "target_rate": s.target_rate}
                                for s in self.segments], min_size)


def rename_segments(result: SegmentationResult, names: dict[int, str]) -> SegmentationResult:
    """A copy with user-chosen names (blank names keep the generated one)."""
    segs = tuple(replace(s, name=names.get(s.id, s.name).strip() or s.name) for s in result.segments)
    return replace(result, segments=segs)
