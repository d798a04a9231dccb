"""A general outlier score for what the named patterns miss: ECOD (Li et al. 2022, as in PyOD), written in
numpy rather than adding PyOD as a dependency. ECOD is chosen over Isolation Forest because its score is
a sum of one term per feature (how far into that feature's own tail the customer sits, -log of the
empirical tail probability), so every score splits exactly into per-feature contributions a marketer can
read; it has no randomness and no parameters to tune.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _tail(x: np.ndarray, sorted_x: np.ndarray, side: str) -> np.ndarray:
    n = len(sorted_x)
    if side == "left":  # share of customers at or below x
        return np.searchsorted(sorted_x, x, side="right") / n
    return (n - np.searchsorted(sorted_x, x, side="left")) / n


def ecod(features: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """(score, contributions) per row of ``features`` (numeric, no NaN). Each feature contributes
    -log(tail probability) on the side its skew points to (both sides' larger for a symmetric one), as
    ECOD does; the score is the sum of the contributions."""
    contrib = {}
    for col in features.columns:
        x = features[col].to_numpy(dtype="float64")
        s = np.sort(x)
        left, right = -np.log(_tail(x, s, "left")), -np.log(_tail(x, s, "right"))
        sd = x.std()
        skew = 0.0 if sd == 0 else float(np.mean((x - x.mean()) ** 3) / sd ** 3)
        contrib[col] = right if skew > 0 else left if skew < 0 else np.maximum(left, right)
    out = pd.DataFrame(contrib, index=features.index)
    return out.sum(axis=1), out
