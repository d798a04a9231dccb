"""Profiles: each segment's mean of every number and share of every flag and category level, next to
all customers, and how far it stands from them (the standardised difference names and facts are built on).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lib.models.segment.matrix import Column

if TYPE_CHECKING:
    from lib.models.segment.result import SegmentationResult


def profile_of(columns: list[Column], labels: np.ndarray, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
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


def target_rate(target: pd.Series | None, labels: np.ndarray, seg_id: int) -> float | None:
    """The mean of the target among one segment's customers (None without a target)."""
    if target is None:
        return None
    t = pd.Series(target).reset_index(drop=True)[labels == seg_id]
    t = t.dropna()
    return float(t.mean()) if len(t) else None


def profile_sources(profile_columns: list[str], kinds: dict[str, str]) -> dict[str, list[tuple[str, str | None]]]:
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


def kinds_of(result: SegmentationResult) -> dict[str, str]:
    """Feature -> kind (a result without kinds is an RFM one: numbers)."""
    return result.feature_kinds or {f: "number" for f in result.features}
