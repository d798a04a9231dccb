"""Segmentation: RFM groups with their rules, and clusters that are profiled, named and kept stable.

A segment is only useful when a marketer can say what it *is*: every segment here comes with its size,
profile against the whole base, the features that set it apart, a short plain-words name and a one-line
description. Clusters use numbers, yes/no flags and categories alike (a telecom file is mostly
categories); the number of segments is chosen from the data within a range a team can act on, and the
result says why. Re-running with new data or a new seed matches segments to the previous run so names
and ids stay put.

The modules, by concept:

- ``matrix``: how the chosen columns become the clustering matrix (kinds from ``lib.models.columns``)
- ``choose_k``: how many segments, and why
- ``clusters``: k-means, stable ids, the result of ``segment_clusters``
- ``rfm``: RFM scores and groups
- ``profiles``: each segment's means and shares against all customers
- ``naming``: names in plain words; ``describe``: facts, descriptions and the profile table for people
- ``assign``: what a model file keeps, and new customers put into the saved segments
- ``result``: ``Segment`` and ``SegmentationResult``
"""

from lib.models.columns import column_kind as feature_kind  # the segment-side name of the one kind rule
from lib.models.segment.assign import assign_segments, segmentation_state
from lib.models.segment.choose_k import DEFAULT_K_RANGE, MIN_SEGMENT_SHARE, STABILITY_RUNS, KChoice, choose_k
from lib.models.segment.clusters import segment_clusters
from lib.models.segment.describe import (
    _UNITS,
    distinguishing_facts,
    distinguishing_facts_from,
    human_number,
    profile_for_people,
)
from lib.models.segment.matrix import CATEGORY_DISTANCE, MAX_CATEGORY_LEVELS, default_cluster_features
from lib.models.segment.naming import _NUMBER_WORDS, _assemble, _Phrase, _phrase, _said, _word, column_words
from lib.models.segment.result import Segment, SegmentationResult, rename_segments
from lib.models.segment.rfm import RFM_RULES, guess_rfm_columns, rfm_group, rfm_scores, segment_rfm

__all__ = [
    "CATEGORY_DISTANCE", "DEFAULT_K_RANGE", "MAX_CATEGORY_LEVELS", "MIN_SEGMENT_SHARE", "RFM_RULES", "STABILITY_RUNS",
    "KChoice", "Segment", "SegmentationResult",
    "assign_segments", "choose_k", "column_words", "default_cluster_features", "distinguishing_facts",
    "distinguishing_facts_from", "feature_kind", "guess_rfm_columns", "human_number", "profile_for_people",
    "rename_segments", "rfm_group", "rfm_scores", "segment_clusters", "segment_rfm", "segmentation_state",
]
# Tables and helpers tests/test_i18n_lib.py checks for their Chinese, by these names.
__all__ += ["_NUMBER_WORDS", "_UNITS", "_Phrase", "_assemble", "_phrase", "_said", "_word"]
