"""Which columns the uplift learners may use: never the treatment itself; the propensity model's hygiene
(identifiers, personal data, leaks of the target, ``choose_features``); then the two leaks only uplift
data has: other outcomes of the response (spend, recorded only for responders) and results of the
campaign (opens, clicks, recorded only for those sent it)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lib.data.schema import Schema
from lib.errors import DataValidationError
from lib.models.propensity import choose_features
from lib.models.uplift.arms import Arms, as_text
from lib.text.i18n import t


def uplift_features(frame: pd.DataFrame, schema: Schema, target: str, y: pd.Series, treatment: str, arms: Arms,
                    features: tuple[str, ...] | None = None, allow: tuple[str, ...] = (),
                    leakage: list[dict] | None = None) -> tuple[list[str], list[dict], list[str]]:
    """(features, excluded, warnings), as ``choose_features`` returns them, for learning the uplift of
    ``treatment`` on ``target``. ``features``: the user's choice (default: every feature-role column);
    ``allow``: suspects the user lets back in (with a warning); ``leakage``: the quality report's
    suspects for this frame and target, when known."""
    base = list(features) if features is not None else [c for c in schema.feature_columns() if c != target]
    excluded_extra = [{"column": treatment, "kind": "treatment",
                       "reason": t("the treatment: uplift compares the two groups, so it is never a feature")}]
    base = [c for c in base if c != treatment]
    feats, excluded, warnings = choose_features(frame, schema, target, y, base, (), allow, leakage)
    excluded = [e for e in excluded if e["column"] != treatment]
    suspects = _outcomes_of_the_target(frame, feats, target, y)
    suspects += _results_of_the_campaign(frame, [f for f in feats if f not in {s["column"] for s in suspects}],
                                         arms.treated, arms.control)
    for item in suspects:
        if item["column"] in allow:
            warnings.append(t("'{column}' was allowed back in by you although: {reason}", column=item['column'], reason=item['reason']))
            continue
        feats = [f for f in feats if f != item["column"]]
        excluded_extra.append(item)
    if not feats:
        raise DataValidationError(t("No usable feature columns remain after excluding the treatment, identifiers, "
                                  "personal data and leaks. Add behaviour or profile columns to the file."))
    return feats, excluded + excluded_extra, warnings


def _is_set(s: pd.Series) -> list[tuple[str, np.ndarray]]:
    """Ways a column can be "set" for a customer: non-zero for numbers, true for flags, each value for a
    two-valued text column. Other text columns are not judged (every customer has some value)."""
    if pd.api.types.is_bool_dtype(s):
        return [(t("true"), s.fillna(False).to_numpy(dtype=bool))]
    if pd.api.types.is_numeric_dtype(s):
        x = s.to_numpy(dtype="float64", na_value=np.nan)
        return [(t("non-zero"), ~np.isnan(x) & (x != 0))]
    text = as_text(s)
    values = text.dropna().unique()
    if len(values) == 2:
        return [(f"'{v}'", (text == v).fillna(False).to_numpy(dtype=bool)) for v in values]
    return []


def _outcomes_of_the_target(frame: pd.DataFrame, features: list[str], target: str, y: pd.Series) -> list[dict]:
    """Columns that are only ever set for customers with a positive outcome (spend > 0 only for buyers when
    the target is a visit): results of the same response, recorded after it. ``find_leakage`` looks for
    the reverse (a step every responder takes) and for near-perfect predictors; a rarer consequence of
    the outcome (few visitors buy) passes both, yet tells the model "this one responded"."""
    mask = y.notna().to_numpy()
    yk = y.to_numpy()[mask] == 1
    base = yk.mean() if len(yk) else 0.0
    out = []
    if base > 0.8:  # nearly everyone responded: "set implies responded" says nothing
        return out
    for col in features:
        for what, is_set in _is_set(frame[col][mask]):
            n_set = int(is_set.sum())
            if n_set < 20 or n_set > 0.95 * len(yk):
                continue
            share = float(yk[is_set].mean())
            # 99%+ responders, and far beyond what the base rate could give by chance.
            if share >= 0.99 and n_set * np.log(max(base, 1e-12)) < np.log(1e-6):
                out.append({"column": col, "kind": "outcome_of_target",
                            "reason": t("leakage: '{col}' is {what} for {n_set:,} customers and {share:.0%} of them have a positive '{target}' (against {base:.0%} overall): it is recorded after the response, like spend after a visit. Allow it back in only if it is known before the campaign.", col=col, what=what, n_set=n_set, share=share, target=target, base=base)})
                break
    return out


def _results_of_the_campaign(frame: pd.DataFrame, features: list[str], treated: np.ndarray,
                             control: np.ndarray) -> list[dict]:
    """Columns set only in one arm (opens or clicks exist only for customers who were sent the e-mail):
    results of the campaign, unknown before it, and a copy of the arm for the model."""
    out = []
    n_t, n_c = int(treated.sum()), int(control.sum())
    for col in features:
        for what, is_set in _is_set(frame[col]):
            in_t, in_c = int(is_set[treated].sum()), int(is_set[control].sum())
            # Judged only when chance could not explain it: at least 10 expected in the empty group
            # (seeing none then has a probability below e^-10).
            if not ((in_t and not in_c and in_t * n_c / n_t >= 10) or (in_c and not in_t and in_c * n_t / n_c >= 10)):
                continue
            arm = t("treated") if in_t else t("control")
            out.append({"column": col, "kind": "result_of_campaign",
                        "reason": t("leakage: '{col}' is {what} only for {arm} customers ({max:,} of them, none in the other group): it is a result of the campaign (like opens or clicks), unknown before it is sent.", col=col, what=what, arm=arm, max=max(in_t, in_c))})
            break
    return out
