"""The clustering matrix: how the chosen columns become the numbers k-means measures distances on.

Each column is read once (``read_columns``) as the kind ``lib.models.columns.column_kind`` gives it, the
same rule the propensity model uses: numbers and dates (as days ago) are standardised, flags are one
column and categories one-hot, both scaled so that differing in them weighs like differing in one number
(``CATEGORY_DISTANCE``). The fitted scaling is plain data, saved with a model so new customers land in
the same space (``read_as`` + ``build_matrix``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from lib.errors import DataValidationError
from lib.models.columns import column_kind, means_yes
from lib.text.i18n import t

MAX_CATEGORY_LEVELS = 50  # default features skip categories with more levels (postcodes, product names)
ENCODED_LEVELS = 10  # most common levels kept per category; the rest are pooled as "(other)"
# Distance between two customers who differ in one category (or flag), in standard deviations of a
# number column. sqrt(2) is the typical distance between two customers on one standardised number, so a
# category weighs about like one number column, however rare its levels. Measured on the planted mixed
# types of tests/test_segment_mixed.py (adjusted Rand index at k = 5, two seeds): numbers only 0.68,
# distance 0.7: 0.69, 1: 0.93, sqrt(2): 0.93, 2: 0.92, 3: 0.80 (the noise category starts to split).
CATEGORY_DISTANCE = float(np.sqrt(2.0))
OTHER, MISSING = "(other)", "(missing)"


@dataclass(frozen=True)
class Column:
    """One feature column read once: its kind and its values, ready for encoding and profiling."""

    name: str
    kind: str  # "number", "date" (as days ago), "flag" or "category"
    values: np.ndarray  # number/date: float64 with NaN; flag: 1 yes / 0 no / -1 missing; category: level codes
    levels: tuple[str, ...] = ()  # flag: (the "yes" value,); category: level names, most common first


def _read_column(s: pd.Series, name: str) -> Column:
    kind = column_kind(s)
    if kind == "date":
        days = (s.max() - s).dt.days.to_numpy(dtype="float64", na_value=np.nan)
        return Column(name, "date", days)
    if kind == "number":
        return Column(name, "number", s.to_numpy(dtype="float64", na_value=np.nan))
    codes, uniques = pd.factorize(s)
    texts = [_level_text(v) for v in uniques]
    if kind == "flag":
        # A true/false column that is false throughout has no "yes" among its values: every row is a no.
        yes = next((i for i, text in enumerate(texts) if means_yes(text)), -1)
        flag = np.where(codes < 0, -1, (codes == yes).astype("int8")).astype("int8")
        return Column(name, "flag", flag, (texts[yes] if yes >= 0 else "True",))
    return _read_category(name, codes, texts)


def _read_category(name: str, codes: np.ndarray, texts: list[str]) -> Column:
    """The ``ENCODED_LEVELS`` most common levels, the rest pooled as ``OTHER``, gaps as ``MISSING``."""
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
    return Column(name, "category", lookup[codes].astype("int32"), tuple(levels))


def _level_text(v: object) -> str:
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def read_columns(frame: pd.DataFrame, features: list[str]) -> list[Column]:
    """The ``features`` of ``frame``, each read once as its kind."""
    return [_read_column(frame[c], str(c)) for c in features]


@dataclass(frozen=True)
class Matrix:
    """The clustering matrix (float32, one row per customer) and how it was made."""

    matrix: np.ndarray
    scaling: tuple[dict, ...] = ()  # per feature, what turns it into matrix columns (for new customers)


def build_matrix(columns: list[Column], scaling: tuple[dict, ...] | None = None) -> Matrix:
    """The clustering matrix; its parameters are fitted on ``columns`` unless ``scaling`` (fitted on the
    training customers) is given, which places new customers in the same space.

    Numbers (and dates, as days ago): log1p for right-skewed columns, standardised, clipped at ±5 sd.
    Flags: one column, yes = ``CATEGORY_DISTANCE``. Categories: one-hot, scaled so two customers in
    different levels are ``CATEGORY_DISTANCE`` apart. A fixed distance, not a standardised 0/1 column:
    standardising makes a rare flag (16% seniors) a 2.7 sd cliff, and the clustering then splits on that
    flag instead of on behaviour.
    """
    specs = [_fit_scaling(c) for c in columns] if scaling is None else list(scaling)
    widths = [len(sp["levels"]) if sp["kind"] == "category" else 1 for sp in specs]
    if not columns or sum(widths) == 0:
        raise DataValidationError(t("No usable features to cluster on: choose at least one number or category column."))
    x = np.zeros((len(columns[0].values), sum(widths)), dtype="float32")
    at = 0
    for col, sp, width in zip(columns, specs, widths):
        if sp["kind"] in ("number", "date"):
            x[:, at] = _apply_number(col.values, sp)
        elif sp["kind"] == "flag":
            yes = (col.values == 1).astype("float32")
            yes[col.values < 0] = sp["fill"]  # unknown counts as the average customer, not as "no"
            x[:, at] = yes * CATEGORY_DISTANCE
        else:
            known = col.values >= 0  # a level training never saw, with no "(other)" to join: all zeros
            x[np.flatnonzero(known), at + col.values[known]] = CATEGORY_DISTANCE / np.sqrt(2.0)
        at += width
    return Matrix(x, tuple(specs))


def _fit_scaling(col: Column) -> dict:
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


def with_new_level(col: Column) -> Column:
    """For profiles: values training never saw (slot -1) counted as one level of their own."""
    if col.kind != "category" or not (col.values < 0).any():
        return col
    return replace(col, values=np.where(col.values < 0, len(col.levels), col.values).astype("int32"),
                   levels=(*col.levels, "(new value)"))


def read_as(s: pd.Series, sp: dict) -> Column:
    """A new file's column read the way the training column was (its kind and levels), so new
    customers land in the training segments' space."""
    name, kind = sp["name"], sp["kind"]
    if kind == "date":
        dates = s if pd.api.types.is_datetime64_any_dtype(s) else pd.to_datetime(s, errors="coerce", format="mixed")
        # Days before the file's own latest date, as in training ("days ago" at each snapshot).
        return Column(name, kind, (dates.max() - dates).dt.days.to_numpy(dtype="float64", na_value=np.nan))
    if kind == "number":
        return Column(name, kind, pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan))
    codes, uniques = pd.factorize(s)  # each distinct value is turned into text once
    texts = np.array([_level_text(u) for u in uniques] + [None], dtype=object)
    text = pd.Series(texts[codes], index=s.index)
    if kind == "flag":
        yes = sp["levels"][0].strip().lower()
        lower = text.str.lower()
        values = np.where(text.isna(), -1, (lower == yes).astype("int8")).astype("int8")
        return Column(name, kind, values, tuple(sp["levels"]))
    where = {level: i for i, level in enumerate(sp["levels"])}
    other = where.get(OTHER, -1)
    slots = text.map(where).fillna(other).to_numpy(dtype="int64").copy()
    slots[text.isna().to_numpy()] = where.get(MISSING, other)
    return Column(name, kind, slots.astype("int32"), tuple(sp["levels"]))


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
        kind = column_kind(s)
        if kind == "date":
            continue
        if kind == "category" and not 2 <= s.nunique(dropna=True) <= MAX_CATEGORY_LEVELS:
            continue
        chosen.append(c)
    return chosen or [c for c in feature_columns if c != target]


def pca_2d(x: np.ndarray) -> np.ndarray:
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
