"""RFM segmentation: customers scored 1-5 on recency, frequency and money, grouped by standard rules
("Champions", "At risk", "Lost"), each group with its rule and meaning.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lib.errors import DataValidationError
from lib.models.segment.matrix import Column
from lib.models.segment.naming import column_words
from lib.models.segment.profiles import profile_of, target_rate
from lib.models.segment.result import Segment, SegmentationResult
from lib.text.i18n import LANGUAGES, catalogue, t

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
    columns = [Column(c, "number", frame[c].to_numpy(dtype="float64", na_value=np.nan)) for c in feats]
    profile, distinctive = profile_of(columns, labels, len(order))
    meaning = {r[0]: r for r in RFM_RULES}
    segs = tuple(
        Segment(ids[name], t(name), rfm_meaning(meaning[name][2]), int((labels == ids[name]).sum()),  # i18n: an RFM group name (RFM_RULES), in the catalogue
                float((labels == ids[name]).mean()), target_rate(target, labels, ids[name]))
        for name in order
    )
    rules = pd.DataFrame([{"group": t(r[0]), "rule": t(r[1]), "meaning": t(r[2])} for r in RFM_RULES])  # i18n: RFM_RULES entries, in the catalogue
    return SegmentationResult(
        method="rfm", k=len(order), labels=labels, segments=segs, profile=profile, distinctive=distinctive,
        features=tuple(feats), centroids=None, silhouette_by_k={}, stability=None, rules=rules, seed=0,
        rfm_scores=scores, feature_kinds={c: "number" for c in feats}, rfm_edges=_quintile_edges(frame, feats),
    )


def _quintile_edges(frame: pd.DataFrame, feats: list[str]) -> dict[str, list[float]]:
    """The training quintile edges of R, F and M, kept so new customers are scored on the same scale."""
    edges = {}
    for key, col in zip("RFM", feats):
        v = frame[col].to_numpy(dtype="float64", na_value=np.nan)
        edges[key] = np.nanquantile(v, [0.2, 0.4, 0.6, 0.8]).tolist() if np.isfinite(v).any() else [0.0] * 4
    return edges


def rfm_scores_on_edges(values: list[np.ndarray], edges: dict[str, list[float]]) -> pd.DataFrame:
    """R/F/M scores 1-5 of new customers on the training quintile ``edges`` (``rfm_edges``): the same
    customer gets the same score whatever else is in the new file. A gap scores lowest."""
    r = np.clip(5 - np.searchsorted(edges["R"], np.nan_to_num(values[0], nan=np.inf), side="left"), 1, 5)
    f = np.clip(1 + np.searchsorted(edges["F"], np.nan_to_num(values[1], nan=-np.inf), side="right"), 1, 5)
    m = np.clip(1 + np.searchsorted(edges["M"], np.nan_to_num(values[2], nan=-np.inf), side="right"), 1, 5)
    return pd.DataFrame({"R": r, "F": f, "M": m})


def rfm_meaning(meaning: str) -> str:
    """An RFM group's meaning as a segment description: "Bought recently, ... the most." """
    text = t(meaning)  # i18n: an RFM_RULES meaning, in the catalogue
    return text.capitalize() + "." if text == meaning else text + "。"


def rfm_group_of(name: str) -> str | None:
    """The RFM group (English, as ``rfm_group`` returns it) a saved segment name stands for, in either
    language: a model file keeps the names in the language it was trained in."""
    for rule in RFM_RULES:
        if name in (rule[0], *(catalogue(lang).get(rule[0]) for lang in LANGUAGES)):
            return rule[0]
    return None
