"""Has the data moved since the model was trained? A profile of every model column at training time,
kept in the model file, and a check of a new file against it.

Per column: for numbers and dates, the share of rows in each training decile (edges kept) and the
share missing; for categories, the share of each level. The population stability index (PSI) compares
the shares: below 0.1 nothing moved, 0.1-0.25 a little, above 0.25 the column has shifted enough that
scores may be off. New categories, a missing share up by 20 points or more, and columns the model does
not know are reported too. None of these stops scoring: they are warnings a marketer should read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.models.model import MISSING_LEVEL, ColumnSpec, as_level_text
from lib.text.i18n import t

PSI_LIMIT = 0.25
MISSING_JUMP = 0.20
_EPS = 1e-4


@dataclass(frozen=True)
class DriftItem:
    column: str
    kind: str  # "shifted", "missing_up", "new_categories", "extra_column"
    message: str
    psi: float | None = None

    def to_dict(self) -> dict:
        return {"column": self.column, "kind": self.kind, "message": self.message,
                "psi": None if self.psi is None else round(self.psi, 4)}


@dataclass(frozen=True)
class DriftReport:
    items: tuple[DriftItem, ...]
    psi: dict[str, float]  # every model column's PSI

    @property
    def warnings(self) -> list[str]:
        return [i.message for i in self.items]

    def to_dict(self) -> dict:
        return {"columns_checked": len(self.psi), "psi": {k: round(v, 4) for k, v in self.psi.items()},
                "warnings": [i.to_dict() for i in self.items]}


def _as_number(s: pd.Series, spec: ColumnSpec, latest: pd.Timestamp | None = None) -> np.ndarray:
    if spec.kind == "date":
        dates = s if pd.api.types.is_datetime64_any_dtype(s) else pd.to_datetime(s, errors="coerce")
        # Days before the file's own latest date (``latest`` when the file is read in parts): a new
        # month's file is compared like for like.
        ref = dates.max() if latest is None else latest
        return (ref - dates).dt.days.to_numpy(dtype="float64", na_value=np.nan)
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _bin_shares(x: np.ndarray, edges: list[float]) -> list[float]:
    ok = x[np.isfinite(x)]
    if not len(ok):
        return [0.0] * (len(edges) + 1)
    counts = np.bincount(np.searchsorted(np.asarray(edges), ok, side="right"), minlength=len(edges) + 1)
    return (counts / len(ok)).tolist()


def reference_profile(frame: pd.DataFrame, specs: tuple[ColumnSpec, ...]) -> dict:
    """What every model column looked like in training (JSON-ready; kept in the model file)."""
    out = {}
    for spec in specs:
        s = frame[spec.name]
        missing = float(s.isna().mean()) if len(s) else 0.0
        if spec.text:  # text (one-hot or rated): shares of its levels
            shares = as_level_text(s).value_counts(normalize=True)
            out[spec.name] = {"kind": "category", "missing": missing,
                              "shares": {str(k): float(v) for k, v in shares.items()}}
        else:
            x = _as_number(s, spec)
            ok = x[np.isfinite(x)]
            edges = sorted(set(np.quantile(ok, np.linspace(0.1, 0.9, 9)).tolist())) if len(ok) else []
            out[spec.name] = {"kind": "number", "missing": missing, "edges": edges, "shares": _bin_shares(x, edges)}
    return out


def psi(expected: list[float] | np.ndarray, actual: list[float] | np.ndarray) -> float:
    e = np.clip(np.asarray(expected, dtype="float64"), _EPS, None)
    a = np.clip(np.asarray(actual, dtype="float64"), _EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class DriftTally:
    """What the drift check needs from a file, as counts that add up: a file read in parts (streamed,
    or on a cluster) is checked exactly like one read whole. Per model column: rows, missing cells,
    and counts per category level or per training decile bin."""

    rows: dict[str, int]
    missing: dict[str, int]
    counts: dict[str, dict]  # column -> {level: n} (categories) or {bin index: n} (numbers, finite only)
    columns: tuple[str, ...]  # every column of the file, for "extra column" warnings

    def __add__(self, other: DriftTally) -> DriftTally:
        def add(a: dict, b: dict) -> dict:
            return {k: a.get(k, 0) + b.get(k, 0) for k in dict.fromkeys([*a, *b])}

        return DriftTally(add(self.rows, other.rows), add(self.missing, other.missing),
                          {c: add(self.counts.get(c, {}), other.counts.get(c, {}))
                           for c in dict.fromkeys([*self.counts, *other.counts])},
                          tuple(dict.fromkeys([*self.columns, *other.columns])))


def tally(reference: dict, frame: pd.DataFrame, specs: tuple[ColumnSpec, ...],
          latest: dict[str, pd.Timestamp] | None = None) -> DriftTally:
    """Count what ``frame`` holds, column by column, against the training profile's levels and bins.
    ``latest``: each date column's latest date in the whole file (when ``frame`` is one part of it)."""
    rows, missing, counts = {}, {}, {}
    for spec in specs:
        ref = reference.get(spec.name)
        if ref is None:
            continue
        s = frame[spec.name]
        rows[spec.name] = len(s)
        missing[spec.name] = int(s.isna().sum())
        if ref["kind"] == "category":
            counts[spec.name] = {str(k): int(v) for k, v in as_level_text(s).value_counts().items()}
        else:
            x = _as_number(s, spec, (latest or {}).get(spec.name))
            ok = x[np.isfinite(x)]
            bins = np.bincount(np.searchsorted(np.asarray(ref["edges"]), ok, side="right"),
                               minlength=len(ref["edges"]) + 1)
            counts[spec.name] = {i: int(n) for i, n in enumerate(bins)}
    return DriftTally(rows, missing, counts, tuple(str(c) for c in frame.columns))


def check_drift(reference: dict, frame: pd.DataFrame, specs: tuple[ColumnSpec, ...],
                known_columns: tuple[str, ...] = ()) -> DriftReport:
    """Compare ``frame`` with the training profile, column by column (``frame`` must hold every model
    column; the caller checks that first). ``known_columns``: every column the training file had, so only
    truly new columns are reported as extra."""
    return drift_from_tally(reference, tally(reference, frame, specs), specs, known_columns)


def drift_from_tally(reference: dict, counted: DriftTally, specs: tuple[ColumnSpec, ...],
                     known_columns: tuple[str, ...] = ()) -> DriftReport:
    """The drift report from counts (one file's, or the sum of its parts')."""
    items: list[DriftItem] = []
    psis: dict[str, float] = {}
    for spec in specs:
        ref = reference.get(spec.name)
        if ref is None or spec.name not in counted.rows:
            continue
        n = counted.rows[spec.name]
        missing = counted.missing[spec.name] / n if n else 0.0
        found = counted.counts[spec.name]
        if ref["kind"] == "category":
            # Most frequent first, ties by the text itself: the same order however the file was split.
            ordered = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))
            shares = {k: v / n for k, v in ordered} if n else {}
            levels = sorted(set(ref["shares"]) | set(shares))
            value = psi([ref["shares"].get(v, 0.0) for v in levels], [float(shares.get(v, 0.0)) for v in levels])
            new = [v for v in shares if v not in ref["shares"] and v != MISSING_LEVEL]
            if new:
                share = float(sum(shares[v] for v in new))
                shown = ", ".join(f"'{v}'" for v in new[:5]) + (t(" and {more} more", more=len(new) - 5) if len(new) > 5 else "")
                items.append(DriftItem(spec.name, "new_categories",
                                       t("'{name}' has values the model never saw in training ({shown}; {share:.1%} of rows): they are scored like the rarest known values.", name=spec.name, shown=shown, share=share), value))
        else:
            bins = np.array([found.get(i, 0) for i in range(len(ref["edges"]) + 1)], dtype="float64")
            total = bins.sum()
            actual = (bins / total).tolist() if total else [0.0] * len(bins)
            value = psi(ref["shares"], actual)
        psis[spec.name] = value
        if value > PSI_LIMIT:
            items.append(DriftItem(spec.name, "shifted",
                                   t("'{name}' is distributed differently from the training file (population stability index {value:.2f}, above {limit}): scores that lean on it may be off. Retrain when you can.", name=spec.name, value=value, limit=PSI_LIMIT), value))
        if missing - ref["missing"] >= MISSING_JUMP:
            items.append(DriftItem(spec.name, "missing_up",
                                   t("'{name}' is missing in {missing:.0%} of rows, against {before:.0%} in training: check the export.", name=spec.name, missing=missing, before=ref["missing"]), value))
    known = set(known_columns) | set(reference)
    for col in counted.columns:
        if col not in known:
            items.append(DriftItem(str(col), "extra_column",
                                   t("'{col}' was not in the training file; the model ignores it.", col=col)))
    return DriftReport(items=tuple(items), psi=psis)
