"""The randomisation check: every feature compared between the arms. Uplift is only causal when the
control group was chosen at random; a feature that differs between the arms beyond chance says the
campaign's effect is mixed with how customers were chosen."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from lib.models.model import FrameEncoder
from lib.text.i18n import t

SMD_LIMIT = 0.1  # standardised mean difference above which arms differ noticeably (Austin, 2009)
BALANCE_P = 0.01  # ... and only when that difference is also beyond chance (Bonferroni over the columns)


def balance_table(frame: pd.DataFrame, features: list[str], treated: np.ndarray, control: np.ndarray) -> pd.DataFrame:
    """Each feature compared between the arms: mean (numbers, flags, dates as days) or the level whose
    share differs most (categories), the standardised difference and a test of it (Welch's t-test,
    chi-square for categories). In a randomised test every difference is chance."""
    enc = FrameEncoder(tuple(features)).fit(frame[features])
    x = enc.transform(frame[features])
    rows = []
    for spec in enc.specs_:
        v = x[spec.name].to_numpy()
        if spec.one_hot:  # text: the level whose share differs most
            labels = [*spec.levels, "(other)"] if spec.has_other else list(spec.levels)
            codes = v.astype(int)
            k = len(labels)
            ct = np.bincount(codes[treated].clip(0), minlength=k)[:k].astype(float)
            cc = np.bincount(codes[control].clip(0), minlength=k)[:k].astype(float)
            pt, pc = ct / max(ct.sum(), 1), cc / max(cc.sum(), 1)
            pooled = np.sqrt((pt * (1 - pt) + pc * (1 - pc)) / 2)
            smd_all = np.divide(pt - pc, pooled, out=np.zeros(k), where=pooled > 0)
            j = int(np.argmax(np.abs(smd_all)))
            keep = (ct + cc) > 0
            p = float(stats.chi2_contingency(np.vstack([ct[keep], cc[keep]]))[1]) if keep.sum() > 1 else 1.0
            rows.append({"feature": spec.name, "kind": "category", "treated": float(pt[j]), "control": float(pc[j]),
                         "smd": float(smd_all[j]), "p_value": p,
                         "detail": t("'{level}': {treated:.0%} of treated vs {control:.0%} of control", level=labels[j], treated=pt[j], control=pc[j])})
            continue
        vt, vc = v[treated].astype("float64"), v[control].astype("float64")
        vt, vc = vt[np.isfinite(vt)], vc[np.isfinite(vc)]
        if len(vt) < 2 or len(vc) < 2:
            continue
        sd = np.sqrt((vt.var(ddof=1) + vc.var(ddof=1)) / 2)
        smd = float((vt.mean() - vc.mean()) / sd) if sd > 0 else 0.0
        p = float(stats.ttest_ind(vt, vc, equal_var=False).pvalue) if sd > 0 else 1.0
        unit = t(" days ago") if spec.kind == "date" else ""
        rows.append({"feature": spec.name, "kind": spec.kind, "treated": float(vt.mean()), "control": float(vc.mean()),
                     "smd": smd, "p_value": p if np.isfinite(p) else 1.0,
                     "detail": t("mean {treated:,.3g}{unit} for treated vs {control:,.3g}{unit} for control", treated=vt.mean(), unit=unit, control=vc.mean())})
    table = pd.DataFrame(rows, columns=["feature", "kind", "treated", "control", "smd", "p_value", "detail"])
    limit = BALANCE_P / max(len(table), 1)
    table["imbalanced"] = (table["smd"].abs() >= SMD_LIMIT) & (table["p_value"] < limit)
    return table.sort_values("smd", key=np.abs, ascending=False, kind="stable").reset_index(drop=True)


def randomisation_warning(balance: pd.DataFrame) -> str | None:
    bad = balance[balance["imbalanced"]]
    if bad.empty:
        return None
    named = t(", ").join(t("{feature} ({detail}, standardised difference {smd:+.2f})", feature=r.feature, detail=r.detail, smd=r.smd) for r in bad.head(5).itertuples())
    more = t(" and {more} more", more=len(bad) - 5) if len(bad) > 5 else ""
    return (t("uplift needs a randomised control group: treatment depends on {named}{more}. The uplift mixes the campaign's effect with how customers were chosen; use a control group drawn at random. If these columns were recorded after the campaign (opens, clicks, purchases), leave them out instead.", named=named, more=more))
