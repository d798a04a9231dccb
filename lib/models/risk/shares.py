"""How many of a group are flagged as risky: per segment and per value band, for the pages that show
groups (Segments, Customer value)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lib.data.privacy import SMALL_GROUP, merge_small
from lib.text.i18n import t

# Value bands by predicted 12-month value, best first: (upper edge of the rank share, label).
VALUE_BANDS = ((0.10, "Top 10% by value"), (0.30, "Next 20%"), (0.70, "Middle 40%"), (1.0, "Bottom 30%"))


def value_bands(values: pd.Series) -> pd.Series:
    """Each customer's value band (``VALUE_BANDS``, in words) from their predicted value; ties share a band."""
    rank = values.rank(ascending=False, method="max", pct=True).to_numpy()
    edges = np.array([e for e, _ in VALUE_BANDS])
    which = np.minimum(np.searchsorted(edges, rank, side="left"), len(edges) - 1)
    words = np.array([t(label) for _, label in VALUE_BANDS], dtype=object)  # i18n: VALUE_BANDS labels
    return pd.Series(words[which], index=values.index)


def flagged_share(flags: pd.Series, groups: pd.Series, order: list | None = None) -> pd.DataFrame:
    """Per group: customers, how many are flagged and their share (``group``, ``customers``, ``flagged``,
    ``flagged_share``). ``flags`` (bool) and ``groups`` are indexed by customer id; a customer without a
    flag counts as not flagged. Groups under ``SMALL_GROUP`` customers are merged, as everywhere."""
    g = merge_small(groups.astype(object).reset_index(drop=True)).to_numpy()
    f = flags.reindex(groups.index).fillna(False).astype(bool).to_numpy()
    frame = pd.DataFrame({"group": g, "flagged": f}).dropna(subset=["group"])
    out = frame.groupby("group", sort=False).agg(customers=("flagged", "size"), flagged=("flagged", "sum"))
    out["flagged_share"] = (out["flagged"] / out["customers"]).round(4)
    if order is not None:
        out = out.reindex([o for o in order if o in out.index] + [o for o in out.index if o not in order])
    else:
        out = out.sort_values("flagged_share", ascending=False, kind="stable")
    out = out.reset_index()
    out["flagged"] = out["flagged"].astype(int)
    return out[out["customers"] >= SMALL_GROUP].reset_index(drop=True)


def flagged_by_group(result, ids, labels, order: list | None = None) -> pd.DataFrame:
    """``flagged_share`` of a risk check (``RiskResult``) over groups: ``labels[i]`` is the group of the
    customer ``ids[i]``."""
    flags = result.table.set_index("customer_id")["risk_flag"]
    flags = flags[~flags.index.duplicated()]
    groups = pd.Series(np.asarray(labels, dtype=object), index=pd.Index(np.asarray(ids).astype(str)))
    return flagged_share(flags, groups, order)


def value_band_order() -> list[str]:
    return [t(label) for _, label in VALUE_BANDS]  # i18n: VALUE_BANDS labels
