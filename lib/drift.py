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

from lib.i18n import t
from lib.model import MISSING_LEVEL, ColumnSpec, as_level_text

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


def _as_number(s: pd.Series, spec: ColumnSpec) -> np.ndarray:
    if spec.kind == "date":
        dates = s if pd.api.types.is_datetime64_any_dtype(s) else pd.to_datetime(s, errors="coerce")
        # Days before the column's own latest date: a new month's file is compared like for like.
        return (dates.max() - dates).dt.days.to_numpy(dtype="float64", na_value=np.nan)
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
        if spec.kind == "category":
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


def check_drift(reference: dict, frame: pd.DataFrame, specs: tuple[ColumnSpec, ...],
                known_columns: tuple[str, ...] = ()) -> DriftReport:
    """Compare ``frame`` with the training profile, column by column (``frame`` must hold every model
    column; the caller checks that first). ``known_columns``: every column the training file had, so only
    truly new columns are reported as extra."""
    items: list[DriftItem] = []
    psis: dict[str, float] = {}
    for spec in specs:
        ref = reference.get(spec.name)
        if ref is None:
            continue
        s = frame[spec.name]
        missing = float(s.isna().mean()) if len(s) else 0.0
        if ref["kind"] == "category":
            text = as_level_text(s)
            shares = text.value_counts(normalize=True)
            levels = sorted(set(ref["shares"]) | set(shares.index))
            value = psi([ref["shares"].get(v, 0.0) for v in levels], [float(shares.get(v, 0.0)) for v in levels])
            new = [v for v in shares.index if v not in ref["shares"] and v != MISSING_LEVEL]
            if new:
                share = float(shares[new].sum())
                shown = ", ".join(f"'{v}'" for v in new[:5]) + (t(" and {more} more", more=len(new) - 5) if len(new) > 5 else "")
                items.append(DriftItem(spec.name, "new_categories",
                                       t("'{name}' has values the model never saw in training ({shown}; {share:.1%} of rows): they are scored like the rarest known values.", name=spec.name, shown=shown, share=share), value))
        else:
            x = _as_number(s, spec)
            value = psi(ref["shares"], _bin_shares(x, ref["edges"]))
        psis[spec.name] = value
        if value > PSI_LIMIT:
            items.append(DriftItem(spec.name, "shifted",
                                   t("'{name}' is distributed differently from the training file (population stability index {value:.2f}, above {limit}): scores that lean on it may be off. Retrain when you can.", name=spec.name, value=value, limit=PSI_LIMIT), value))
        if missing - ref["missing"] >= MISSING_JUMP:
            items.append(DriftItem(spec.name, "missing_up",
                                   t("'{name}' is missing in {missing:.0%} of rows, against {before:.0%} in training: check the export.", name=spec.name, missing=missing, before=ref["missing"]), value))
    known = set(known_columns) | set(reference)
    for col in frame.columns:
        if col not in known:
            items.append(DriftItem(str(col), "extra_column",
                                   t("'{col}' was not in the training file; the model ignores it.", col=col)))
    return DriftReport(items=tuple(items), psi=psis)
