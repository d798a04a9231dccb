"""Uplift: find the customers a campaign *changes*, learned from a randomised control group.

A propensity model ranks who will respond; some of them would have responded anyway, and some respond
*less* when contacted. With a control group that was kept out of the campaign at random, the effect of
the campaign itself can be learned: ``uplift(x) = P(respond | sent, x) - P(respond | not sent, x)``.

How it is learned (every learner is a ``lib.models.model.PropensityModel``: the same encoding, XGBoost settings
and Platt calibration as the propensity model, so each is calibrated, explainable and saved the same way):

- ``t-learner``: two models, one on the treated customers and one on the control group; the uplift is
  the difference of their calibrated probabilities.
- ``s-learner``: one model on everyone with the arm as an extra input; the uplift is its probability with
  the arm set to "sent" minus with it set to "not sent".

Labelled customers of both arms are split 70/30, stratified by arm x outcome. The learners are fitted on
the 70% and compared by the normalised Qini coefficient on the 30% holdout; the best one is kept.

Whether the uplift ranking is real or noise is decided by a permutation test on the holdout: the
treatment labels are shuffled 499 times and the best learner's Qini is compared with the best Qini the
learners reach on shuffled labels (taking the maximum over learners in each shuffle accounts for picking
the best learner on the same holdout). Only p < 1% counts as "beats random": on a weak signal (a rare
outcome, a tiny effect) the honest answer is that the data cannot tell who responds.

A randomisation check compares every feature between the arms: uplift is only causal when the control
group was chosen at random.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.model_selection import train_test_split

from lib.data.schema import Schema, binary_target
from lib.errors import DataValidationError
from lib.models.explain import Explanation, explain, reason_codes
from lib.models.model import FrameEncoder, PropensityModel
from lib.models.propensity import choose_features, score_ranks
from lib.text.i18n import t

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

LEARNERS = {"t": "t-learner", "s": "s-learner"}
HOLDOUT = 0.3  # the share of labelled customers kept out of training to judge the learners
VALIDATION_MAX_ROWS = 50_000  # early stopping / calibration fold, as for the propensity model
MIN_ARM_ROWS = 200  # labelled customers needed in each arm
MIN_ARM_OUTCOMES = 20  # responders and non-responders needed in each arm
PERMUTATIONS = 499
BOOTSTRAPS = 300
ALPHA = 0.01  # one-sided level of the permutation test: the claim "uplift beats random" must be solid
SMD_LIMIT = 0.1  # standardised mean difference above which arms differ noticeably (Austin, 2009)
BALANCE_P = 0.01  # ... and only when that difference is also beyond chance (Bonferroni over the columns)
TREATED_FEATURE = "__treated__"  # the arm as the S-learner's extra input (never a user column)

_CONTROL_WORDS = {"control", "no", "n", "false", "f", "0", "none", "holdout", "hold-out", "hold out", "untreated",
                  "not sent", "off", "baseline", "placebo", "unexposed", "not contacted", "not treated"}
_TREATED_WORDS = {"yes", "y", "true", "t", "1", "treatment", "treated", "test", "sent", "email", "e-mail", "mail",
                  "mailed", "contacted", "called", "exposed", "offer", "promo", "campaign", "targeted", "variant",
                  "on"}


@dataclass(frozen=True)
class UpliftSettings:
    """What to learn the uplift of.

    ``treatment``: the column saying who got the campaign; ``treated_value``: its value for them
    (default: guessed, e.g. yes/1/true/sent/email against control/no/0/none); ``control_value``: the
    control group's value when the column has more arms than two; ``learner``: "auto" (the better of
    both on the holdout), "t" (two models) or "s" (one model with the arm as input)."""

    treatment: str
    treated_value: str | None = None
    learner: str = "auto"
    seed: int = 42
    features: tuple[str, ...] | None = None
    allow: tuple[str, ...] = ()
    control_value: str | None = None


@dataclass(frozen=True)
class UpliftResult:
    """The uplift of every customer, how well it ranks on customers it never saw, and what to do."""

    table: pd.DataFrame  # aligned with the input: uplift, p_treated, p_control, uplift_rank/percentile/decile
    method: str  # "t-learner" or "s-learner"
    qini: float  # normalised Qini coefficient on the holdout (scikit-uplift's qini_auc_score)
    auuc: float  # normalised area under the uplift curve on the holdout (scikit-uplift's uplift_auc_score)
    qini_ci: tuple[float, float]  # bootstrap 95% interval of ``qini``
    p_value: float  # permutation test of the treatment labels (max over the learners tried)
    propensity_qini: float  # the Qini of ranking by p_treated (what a propensity model would do)
    beats_random: bool
    beats_propensity: bool
    ate: float  # average effect of the campaign on the outcome rate (treated minus control)
    ate_ci: tuple[float, float]  # its 95% interval
    response_treated: float
    response_control: float
    n_treated: int  # labelled customers in each arm
    n_control: int
    n_holdout: int
    verdict: str
    uplift_by_decile: pd.DataFrame  # holdout, by predicted-uplift decile (1 = highest)
    qini_curve: pd.DataFrame  # holdout: share targeted vs extra responders (model, random, perfect)
    balance: pd.DataFrame  # per feature: treated vs control, standardised difference, p-value
    randomised: bool
    warnings: tuple[str, ...]
    excluded_features: tuple[dict, ...]
    features: tuple[str, ...]
    learners: dict  # name -> PropensityModel: {"treated", "control"} (t) or {"single"} (s)
    per_learner: dict  # method -> {qini, auuc, seconds, trees}
    target: str
    positive: str
    treatment: str
    treated_value: str
    control_value: str
    holdout: np.ndarray  # boolean, aligned with the input: rows the learners were judged on
    train_seconds: float
    seed: int
    test: str = field(default="")  # how "beats random" was decided, in words

    @property
    def uplift(self) -> np.ndarray:
        return self.table["uplift"].to_numpy()

    def to_report(self) -> dict:
        deciles = self.uplift_by_decile.round(4)
        return {
            "method": self.method,
            "qini": round(self.qini, 4),
            "auuc": round(self.auuc, 4),
            "ate": round(self.ate, 4),
            "ate_ci": [round(self.ate_ci[0], 4), round(self.ate_ci[1], 4)],
            "n_treated": self.n_treated,
            "n_control": self.n_control,
            "verdict": self.verdict,
            "uplift_by_decile": deciles.to_dict(orient="records"),
            "qini_ci": [round(self.qini_ci[0], 4), round(self.qini_ci[1], 4)],
            "p_value": round(self.p_value, 4),
            "beats_random": self.beats_random,
            "beats_propensity": self.beats_propensity,
            "propensity_qini": round(self.propensity_qini, 4),
            "test": self.test,
            "per_learner": {k: {m: (round(v, 4) if isinstance(v, float) else v) for m, v in d.items()}
                            for k, d in self.per_learner.items()},
            "response_treated": round(self.response_treated, 4),
            "response_control": round(self.response_control, 4),
            "n_holdout": self.n_holdout,
            "randomised": self.randomised,
            "warnings": list(self.warnings),
            "target": self.target,
            "positive_class": self.positive,
            "treatment": self.treatment,
            "treated_value": self.treated_value,
            "control_value": self.control_value,
            "features": list(self.features),
            "train_seconds": round(self.train_seconds, 2),
        }


# --- Qini and AUUC, as scikit-uplift defines them --------------------------------------------------
#
# Reimplemented from scikit-uplift 0.5 (sklift/metrics/metrics.py: qini_curve, perfect_qini_curve with
# negative_effect=True, qini_auc_score, uplift_curve, perfect_uplift_curve, uplift_auc_score), because
# sklift's plotting module no longer imports with current scikit-learn. Customers are sorted by
# predicted uplift, best first, and the curves are read at the last row of each run of tied scores:
#   Qini(k)   = Y_T(k) - Y_C(k) * N_T(k) / N_C(k)           (extra responders among the top k)
#   uplift(k) = (Y_T(k) / N_T(k) - Y_C(k) / N_C(k)) * N(k)
# Normalised score = (area(model) - area(diagonal)) / (area(perfect) - area(diagonal)), where the
# diagonal runs from (0, 0) to the perfect curve's end. Optional weights (bootstrap counts) generalise
# every count to a weighted sum; with unit weights the numbers are scikit-uplift's.


def _ordering(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows best first (as sklift: a stable ascending sort, reversed) and the last index of each tie run."""
    order = np.argsort(score, kind="mergesort")[::-1]
    s = score[order]
    ends = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    return order, ends


def _area(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.trapezoid(y, x))


def _normalised(actual: float, x_end: float, y_end: float, perfect: float) -> float:
    baseline = x_end * y_end / 2
    denom = perfect - baseline
    return float((actual - baseline) / denom) if denom != 0 else 0.0


def _curve_counts(y, t, w, order, ends):
    w = np.ones(len(y)) if w is None else w
    ys, ts, ws = y[order], t[order], w[order]
    n_t = np.cumsum(ws * ts)[ends]
    y_t = np.cumsum(ws * ys * ts)[ends]
    n_all = np.cumsum(ws)[ends]
    y_c = np.cumsum(ws * ys * (1 - ts))[ends]
    return n_t, y_t, n_all - n_t, y_c, n_all


def _qini_points(y, t, w, order, ends) -> tuple[np.ndarray, np.ndarray]:
    n_t, y_t, n_c, y_c, n_all = _curve_counts(y, t, w, order, ends)
    ratio = np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c != 0)
    return np.r_[0.0, n_all], np.r_[0.0, y_t - y_c * ratio]


def _uplift_points(y, t, w, order, ends) -> tuple[np.ndarray, np.ndarray]:
    n_t, y_t, n_c, y_c, n_all = _curve_counts(y, t, w, order, ends)
    rate_t = np.divide(y_t, n_t, out=np.zeros_like(y_t), where=n_t != 0)
    rate_c = np.divide(y_c, n_c, out=np.zeros_like(y_c), where=n_c != 0)
    return np.r_[0.0, n_all], np.r_[0.0, (rate_t - rate_c) * n_all]


def _perfect_qini_area(y, t, w=None) -> tuple[float, float, float]:
    """(area, end x, end y) of sklift's perfect Qini curve (negative_effect=True), without sorting: its
    score y*t - y*(1-t) puts treated responders first, then every non-responder, then control
    responders, so the curve has four points."""
    w = np.ones(len(y)) if w is None else w
    a = float(np.sum(w * y * t))  # treated responders
    m = float(np.sum(w * (1 - y)))  # non-responders
    c = float(np.sum(w * y * (1 - t)))  # control responders
    n_t, n_c = float(np.sum(w * t)), float(np.sum(w * (1 - t)))
    end = a - (c * n_t / n_c if n_c else 0.0)
    x = np.array([0.0, a, a + m, a + m + c])
    v = np.array([0.0, a, a, end])
    return _area(x, v), float(x[-1]), end


def qini_score(y, uplift, t, w=None, order=None) -> float:
    """Normalised Qini coefficient (scikit-uplift's ``qini_auc_score``, negative_effect=True): 0 for a
    random ranking, 1 for the perfect one."""
    y, t = np.asarray(y, dtype="float64"), np.asarray(t, dtype="float64")
    order, ends = order if order is not None else _ordering(np.asarray(uplift, dtype="float64"))
    x, q = _qini_points(y, t, w, order, ends)
    perfect, x_end, y_end = _perfect_qini_area(y, t, w)
    return _normalised(_area(x, q), x_end, y_end, perfect)


def auuc_score(y, uplift, t) -> float:
    """Normalised area under the uplift curve (scikit-uplift's ``uplift_auc_score``)."""
    y, t = np.asarray(y, dtype="float64"), np.asarray(t, dtype="float64")
    x, u = _uplift_points(y, t, None, *_ordering(np.asarray(uplift, dtype="float64")))
    # sklift's perfect uplift ranking: the summand breaks ties in favour of the larger mistake group.
    control_responders = np.sum((y == 1) & (t == 0))
    treated_non_responders = np.sum((y == 0) & (t == 1))
    summand = y if control_responders > treated_non_responders else t
    px, pu = _uplift_points(y, t, None, *_ordering(2.0 * (y == t) + summand))
    return _normalised(_area(x, u), px[-1], pu[-1], _area(px, pu))


# --- the input: arms, outcome, features ------------------------------------------------------------


def _text(s: pd.Series) -> pd.Series:
    """Values as stripped text, whole-number floats as integers (1.0 -> "1"), blanks as NaN."""
    if pd.api.types.is_float_dtype(s):
        v = s.to_numpy(dtype="float64", na_value=np.nan)
        whole = np.isfinite(v) & (np.mod(np.where(np.isfinite(v), v, 0), 1) == 0)
        text = np.where(whole, np.where(whole, v, 0).astype("int64").astype(str), s.astype(str).to_numpy())
        out = pd.Series(text, index=s.index, dtype=object)
    else:
        out = s.astype("str").str.strip()
    return out.where(s.notna() & (out != "") & (out.str.lower() != "nan"))


def _canon(v: str) -> str:
    v = str(v).strip().lower()
    try:
        return repr(float(v))
    except ValueError:
        return v


def _is_control_word(v: str) -> bool:
    v = v.strip().lower()
    return (v in _CONTROL_WORDS or bool(re.match(r"^(no|not|non)[\s_-]", v)) or "control" in v
            or "holdout" in v or "hold out" in v or "hold-out" in v)


def _is_treated_word(v: str) -> bool:
    v = v.strip().lower()
    return v in _TREATED_WORDS or "treat" in v or "mail" in v or "sent" in v or "campaign" in v


def resolve_arms(s: pd.Series, column: str, treated_value: str | None = None,
                 control_value: str | None = None) -> tuple[str, str]:
    """(treated value, control value) of the treatment column ``s``, named or guessed."""
    text = _text(s)
    values = sorted(text.dropna().unique().tolist(), key=str)
    shown = ", ".join(f"'{v}'" for v in values[:10]) + ("..." if len(values) > 10 else "")
    if not values:
        raise DataValidationError(t("Treatment column '{column}' is empty: it must say who got the campaign and who was kept out as the control group.", column=column))
    if len(values) == 1:
        raise DataValidationError(
            t("Treatment column '{column}' has one value ('{value}'): uplift compares customers who got the campaign with a control group who did not. Add the control group's rows (or choose the column that says who was sent the campaign).", column=column, value=values[0]))

    def find(wanted: str, what: str) -> str:
        for v in values:
            if _canon(v) == _canon(wanted):
                return v
        raise DataValidationError(t("The {what} '{wanted}' does not occur in treatment column '{column}' (its values: {shown}). Pick one of those values.", what=what, wanted=wanted, column=column, shown=shown))

    treated = find(treated_value, t("treated value")) if treated_value is not None else None
    control = find(control_value, t("control value")) if control_value is not None else None
    if treated is not None and control is not None:
        if treated == control:
            raise DataValidationError(t("The treated and control values of '{column}' are the same ('{treated}').", column=column, treated=treated))
        return treated, control
    if len(values) > 2:
        if treated is None:
            raise DataValidationError(
                t("Treatment column '{column}' has {n_values} values ({shown}): uplift compares two groups. Name the campaign to study (treated value) and, if it cannot be guessed, the control group's value; rows of other groups are left out of training.", column=column, n_values=len(values), shown=shown))
        others = [v for v in values if v != treated and _is_control_word(v)]
        if len(others) != 1:
            raise DataValidationError(
                t("Treatment column '{column}' has {n_values} values ({shown}): name the control group's value too (control value), the customers who were not sent any campaign.", column=column, n_values=len(values), shown=shown))
        return treated, others[0]
    if treated is not None:
        return treated, next(v for v in values if v != treated)
    if control is not None:
        return next(v for v in values if v != control), control
    controls = [v for v in values if _is_control_word(v)]
    if len(controls) == 1:
        return next(v for v in values if v != controls[0]), controls[0]
    treats = [v for v in values if _is_treated_word(v) and not _is_control_word(v)]
    if len(treats) == 1:
        return treats[0], next(v for v in values if v != treats[0])
    raise DataValidationError(
        t("Cannot tell which value of treatment column '{column}' ({shown}) marks the customers who got the campaign. Name it as the treated value.", column=column, shown=shown))


def _is_set(s: pd.Series) -> list[tuple[str, np.ndarray]]:
    """Ways a column can be "set" for a customer: non-zero for numbers, true for flags, each value for a
    two-valued text column. Other text columns are not judged (every customer has some value)."""
    if pd.api.types.is_bool_dtype(s):
        return [(t("true"), s.fillna(False).to_numpy(dtype=bool))]
    if pd.api.types.is_numeric_dtype(s):
        x = s.to_numpy(dtype="float64", na_value=np.nan)
        return [(t("non-zero"), ~np.isnan(x) & (x != 0))]
    text = _text(s)
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


# --- randomisation check ---------------------------------------------------------------------------


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


# --- the learners ----------------------------------------------------------------------------------


def _spw(y: np.ndarray) -> float:
    """Rare positives are up-weighted by the square root of the imbalance, as in the propensity model
    (calibration on the validation fold restores the probabilities)."""
    rate = float(np.mean(y)) if len(y) else 0.0
    return float(np.sqrt((1 - rate) / rate)) if 0 < rate < 0.2 else 1.0


def _with_arm(x: pd.DataFrame, arm: int | np.ndarray) -> pd.DataFrame:
    return x.assign(**{TREATED_FEATURE: arm})


def score_uplift(method: str, learners: dict, frame: pd.DataFrame) -> pd.DataFrame:
    """p_treated, p_control and uplift for every row of ``frame`` from fitted (or loaded) learners:
    ``{"treated", "control"}`` for the t-learner, ``{"single"}`` for the s-learner."""
    if method == "t-learner":
        p1 = learners["treated"].predict_proba(frame)[:, 1]
        p0 = learners["control"].predict_proba(frame)[:, 1]
    elif method == "s-learner":
        p1 = learners["single"].predict_proba(_with_arm(frame, 1))[:, 1]
        p0 = learners["single"].predict_proba(_with_arm(frame, 0))[:, 1]
    else:
        raise DataValidationError(t("Unknown uplift method '{method}': use one of {items}.", method=method, items=', '.join(LEARNERS.values())))
    return pd.DataFrame({"uplift": p1 - p0, "p_treated": p1, "p_control": p0}, index=frame.index)


def _fit_learner(method: str, x: pd.DataFrame, y: np.ndarray, t: np.ndarray, fit_idx: np.ndarray,
                 val_idx: np.ndarray, feats: tuple[str, ...], seed: int, reference: pd.DataFrame) -> dict:
    if method == "t-learner":
        out = {}
        for name, arm in (("treated", 1), ("control", 0)):
            f, v = fit_idx[t[fit_idx] == arm], val_idx[t[val_idx] == arm]
            out[name] = PropensityModel(feats, seed, _spw(y[f])).fit(
                x.iloc[f], y[f], eval_set=(x.iloc[v], y[v]), reference=reference)
        return out
    xs = _with_arm(x, t)
    model = PropensityModel((*feats, TREATED_FEATURE), seed, _spw(y[fit_idx])).fit(
        xs.iloc[fit_idx], y[fit_idx], eval_set=(xs.iloc[val_idx], y[val_idx]), reference=reference)
    return {"single": model}


# --- the test against random -----------------------------------------------------------------------


def _permutation_p(y: np.ndarray, t: np.ndarray, orderings: list, observed: float, seed: int) -> float:
    """P-value of the best observed Qini against shuffled treatment labels. Each shuffle keeps the
    arm sizes and outcomes, breaks any link between the treatment and the scores, and records the best
    Qini over every learner tried, so choosing the best learner on this holdout is accounted for.
    (Shuffling also removes the average effect; the normalised Qini subtracts that effect's diagonal, so
    a ranking unrelated to who responds to the campaign scores about 0 either way.)"""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(PERMUTATIONS):
        tp = t[rng.permutation(len(t))]
        best = max(qini_score(y, None, tp, order=o) for o in orderings)
        hits += best >= observed
    return (hits + 1) / (PERMUTATIONS + 1)


def _bootstrap(y: np.ndarray, t: np.ndarray, model_order, propensity_order, seed: int):
    """95% intervals of the chosen learner's Qini and of its gain over ranking by propensity, from
    holdouts resampled within each arm (the same resample for both, so the gain is paired)."""
    rng = np.random.default_rng(seed + 1)
    arms = [np.flatnonzero(t == 1), np.flatnonzero(t == 0)]
    q, gain = [], []
    for _ in range(BOOTSTRAPS):
        w = np.zeros(len(y))
        for rows in arms:  # how many times each customer is drawn, with replacement, within the arm
            w[rows] = np.bincount(rng.integers(0, len(rows), len(rows)), minlength=len(rows))
        qm = qini_score(y, None, t, w, order=model_order)
        qp = qini_score(y, None, t, w, order=propensity_order)
        q.append(qm)
        gain.append(qm - qp)
    return tuple(np.percentile(q, [2.5, 97.5]).tolist()), tuple(np.percentile(gain, [2.5, 97.5]).tolist())


def uplift_deciles(y: np.ndarray, t: np.ndarray, uplift: np.ndarray) -> pd.DataFrame:
    """Per decile of predicted uplift (1 = highest): the response of treated and control customers in
    it and their difference, the uplift actually observed there."""
    decile = score_ranks(uplift)["decile"].to_numpy()
    df = pd.DataFrame({"decile": decile, "y": y, "t": t, "u": uplift})
    rows = []
    for d, g in df.groupby("decile", sort=True):
        yt, yc = g.loc[g["t"] == 1, "y"], g.loc[g["t"] == 0, "y"]
        rt = float(yt.mean()) if len(yt) else np.nan
        rc = float(yc.mean()) if len(yc) else np.nan
        rows.append({"decile": int(d), "customers": len(g), "treated": len(yt), "control": len(yc),
                     "response_treated": rt, "response_control": rc, "uplift": rt - rc,
                     "predicted_uplift": float(g["u"].mean())})
    return pd.DataFrame(rows)


def _curve_table(y: np.ndarray, t: np.ndarray, uplift: np.ndarray, points: int = 101) -> pd.DataFrame:
    """The holdout's Qini curve for a chart: extra responders from targeting the top share by uplift,
    against random targeting (the diagonal) and the perfect ranking."""
    x, q = _qini_points(y.astype(float), t.astype(float), None, *_ordering(uplift))
    share = np.linspace(0, 1, points)
    n = len(y)
    model = np.interp(share * n, x, q)
    a = float(np.sum(y * t))
    m = float(np.sum(1 - y))
    c = float(np.sum(y * (1 - t)))
    end = a - (c * t.sum() / (n - t.sum()) if n > t.sum() else 0.0)
    perfect = np.interp(share * n, [0.0, a, a + m, n], [0.0, a, a, end])
    return pd.DataFrame({"share_targeted": share, "model": model, "random": share * q[-1], "perfect": perfect})


# --- training ----------------------------------------------------------------------------------------


def train_uplift(
    frame: pd.DataFrame,
    schema: Schema,
    target: str,
    positive: str | None,
    settings: UpliftSettings,
    progress: Progress | None = None,
    leakage: list[dict] | None = None,
) -> UpliftResult:
    """Learn the uplift of the campaign in ``settings.treatment`` on ``target`` and score every row.

    Rows with a blank outcome, a blank treatment or another arm are scored but not trained on.
    ``leakage``: the quality report's leakage suspects for this frame and target, when known.
    """
    say = progress or (lambda msg: log.info(msg))
    t0 = time.perf_counter()
    col = settings.treatment
    for name, what in ((col, t("Treatment")), (target, t("Target"))):
        if name not in frame.columns:
            raise DataValidationError(
                t("{what} column '{name}' is not in the file. Columns: {items}.", what=what, name=name, items=', '.join(map(str, frame.columns))))
    if col == target:
        raise DataValidationError(t("'{col}' cannot be both the treatment and the outcome: choose the column that records the response as the target.", col=col))
    wanted = settings.learner.strip().lower()
    if wanted not in ("auto", *LEARNERS):
        raise DataValidationError(t("Unknown uplift learner '{learner}': use auto, t (two models) or s (one model with the arm as input).", learner=settings.learner))
    treated_value, control_value = resolve_arms(frame[col], col, settings.treated_value, settings.control_value)
    arm_text = _text(frame[col])
    treated = (arm_text == treated_value).fillna(False).to_numpy(dtype=bool)
    control = (arm_text == control_value).fillna(False).to_numpy(dtype=bool)
    y_all = binary_target(frame[target], positive, column=target)
    positive_label = positive if positive is not None else _positive_of(frame[target], y_all)
    has_y = y_all.notna().to_numpy()
    _check_counts(y_all.to_numpy(), treated & has_y, control & has_y, col, target, treated_value, control_value)

    # Features: never the treatment itself; the usual hygiene (ids, PII, leaks of the target); then the
    # two leaks only uplift data has: other outcomes of the response, and results of the campaign.
    requested = settings.features
    base = list(requested) if requested is not None else [c for c in schema.feature_columns() if c != target]
    excluded_extra = [{"column": col, "kind": "treatment",
                       "reason": t("the treatment: uplift compares the two groups, so it is never a feature")}]
    base = [c for c in base if c != col]
    feats, excluded, warnings = choose_features(frame, schema, target, y_all, base, (), settings.allow, leakage)
    excluded = [e for e in excluded if e["column"] != col]
    suspects = _outcomes_of_the_target(frame, feats, target, y_all)
    suspects += _results_of_the_campaign(frame, [f for f in feats if f not in {s["column"] for s in suspects}],
                                         treated, control)
    for item in suspects:
        if item["column"] in settings.allow:
            warnings.append(t("'{column}' was allowed back in by you although: {reason}", column=item['column'], reason=item['reason']))
            continue
        feats = [f for f in feats if f != item["column"]]
        excluded_extra.append(item)
    if not feats:
        raise DataValidationError(t("No usable feature columns remain after excluding the treatment, identifiers, "
                                  "personal data and leaks. Add behaviour or profile columns to the file."))

    say(t("Checking that '{col}' was assigned at random", col=col))
    balance = balance_table(frame, feats, treated, control)
    note = randomisation_warning(balance)
    if note:
        warnings.append(note)
    other = int((~treated & ~control & arm_text.notna().to_numpy()).sum())
    if other:
        warnings.append(t("{other:,} rows of '{col}' are neither '{treated_value}' nor '{control_value}': they are scored but not trained on.", other=other, col=col, treated_value=treated_value, control_value=control_value))

    # The split: labelled customers of both arms, 70/30 stratified by arm x outcome; inside the 70%, a
    # validation fold (stratified the same way) stops the boosting early and calibrates each learner.
    labelled = np.flatnonzero(has_y & (treated | control))
    y = y_all.to_numpy()[labelled].astype(int)
    arm = treated[labelled].astype(int)
    strata = 2 * arm + y
    idx = np.arange(len(labelled))
    tr, te = train_test_split(idx, test_size=HOLDOUT, stratify=strata, random_state=settings.seed)
    val_size = min(0.15, VALIDATION_MAX_ROWS / len(tr))
    fit_idx, val_idx = train_test_split(tr, test_size=val_size, stratify=strata[tr], random_state=settings.seed)
    x_all = frame[feats]
    x = x_all.iloc[labelled]
    methods = list(LEARNERS.values()) if wanted == "auto" else [LEARNERS[wanted]]

    fitted, per_learner, scores_te, orderings = {}, {}, {}, []
    for method in methods:
        say(t("Training the {method} on {rows:,} customers (early stopping on {stop_rows:,})", method=method, rows=len(fit_idx), stop_rows=len(val_idx)))
        t1 = time.perf_counter()
        learners = _fit_learner(method, x, y, arm, fit_idx, val_idx, tuple(feats), settings.seed, x_all)
        s = score_uplift(method, learners, x.iloc[te])
        u = s["uplift"].to_numpy()
        fitted[method] = learners
        scores_te[method] = s
        orderings.append(_ordering(u))
        per_learner[method] = {
            "qini": qini_score(y[te], u, arm[te], order=orderings[-1]), "auuc": auuc_score(y[te], u, arm[te]),
            "trees": sum(m.best_iteration_ + 1 for m in learners.values()),
            "seconds": round(time.perf_counter() - t1, 2),
        }
    # The better Qini wins; a tie goes to the simpler two-model learner (listed first).
    method = max(methods, key=lambda m: per_learner[m]["qini"])
    learners = fitted[method]
    qini = per_learner[method]["qini"]

    say(t("Testing the uplift ranking against random (permutation test)"))
    y_te, t_te = y[te], arm[te]
    u_te = scores_te[method]["uplift"].to_numpy()
    p_value = _permutation_p(y_te, t_te, orderings, qini, settings.seed)
    propensity_order = _ordering(scores_te[method]["p_treated"].to_numpy())
    propensity_qini = qini_score(y_te, None, t_te, order=propensity_order)
    qini_ci, gain_ci = _bootstrap(y_te, t_te, orderings[methods.index(method)], propensity_order, settings.seed)
    beats_random = bool(p_value < ALPHA and qini > 0)
    beats_propensity = bool(beats_random and gain_ci[0] > 0)

    say(t("Scoring every customer"))
    table = score_uplift(method, learners, x_all)
    ranks = score_ranks(table["uplift"].to_numpy())
    table["uplift_rank"] = ranks["rank"].to_numpy()
    table["uplift_percentile"] = ranks["percentile"].to_numpy()
    table["uplift_decile"] = ranks["decile"].to_numpy()

    # The campaign's average effect, on every labelled customer: difference in means, normal interval.
    y_lab = y_all.to_numpy()
    yt, yc = y_lab[treated & has_y], y_lab[control & has_y]
    rt, rc = float(yt.mean()), float(yc.mean())
    ate = rt - rc
    se = float(np.sqrt(rt * (1 - rt) / len(yt) + rc * (1 - rc) / len(yc)))
    ate_ci = (ate - 1.96 * se, ate + 1.96 * se)
    deciles = uplift_deciles(y_te, t_te, u_te)
    holdout = np.zeros(len(frame), dtype=bool)
    holdout[labelled[te]] = True
    test = (t("permutation test: the holdout's treatment labels shuffled {times} times, best Qini of the {n_methods} learner(s) each time; beats random when p < {alpha:g}", times=PERMUTATIONS, n_methods=len(methods), alpha=ALPHA))
    verdict = _verdict(beats_random, beats_propensity, qini, qini_ci, p_value, propensity_qini, ate, ate_ci,
                       deciles, note is not None)
    return UpliftResult(
        table=table, method=method, qini=qini, auuc=per_learner[method]["auuc"], qini_ci=qini_ci, p_value=p_value,
        propensity_qini=propensity_qini, beats_random=beats_random, beats_propensity=beats_propensity, ate=ate,
        ate_ci=ate_ci, response_treated=rt, response_control=rc, n_treated=len(yt), n_control=len(yc),
        n_holdout=len(te), verdict=verdict, uplift_by_decile=deciles,
        qini_curve=_curve_table(y_te, t_te, u_te), balance=balance, randomised=note is None,
        warnings=tuple(warnings), excluded_features=tuple(excluded + excluded_extra), features=tuple(feats),
        learners=learners, per_learner=per_learner, target=target, positive=str(positive_label), treatment=col,
        treated_value=treated_value, control_value=control_value, holdout=holdout,
        train_seconds=time.perf_counter() - t0, seed=settings.seed, test=test,
    )


def _positive_of(s: pd.Series, y: pd.Series) -> str:
    vals = s[y == 1].dropna()
    return str(vals.iloc[0]) if len(vals) else "1"


def _check_counts(y: np.ndarray, treated: np.ndarray, control: np.ndarray, col: str, target: str,
                  treated_value: str, control_value: str) -> None:
    problems = []
    for what, value, rows in ((t("treated"), treated_value, treated), (t("control"), control_value, control)):
        n = int(rows.sum())
        pos = int(np.nansum(y[rows]))
        if n < MIN_ARM_ROWS or min(pos, n - pos) < MIN_ARM_OUTCOMES:
            problems.append(t("{n:,} {what} ('{col}' = '{value}') with {pos:,} positive and {others:,} other '{target}' outcomes", n=n, what=what, col=col, value=value, pos=pos, others=n - pos, target=target))
    if problems:
        raise DataValidationError(
            t("Too few customers to learn uplift: the file has {items}. Uplift needs at least {rows} labelled customers in each group, with at least {outcomes} of each outcome in each: add more of the campaign's customers, or a larger control group.", items=' and '.join(problems), rows=MIN_ARM_ROWS, outcomes=MIN_ARM_OUTCOMES))


def _pts(v: float) -> str:
    return t("{points:+.1f} pts", points=100 * v)


def _verdict(beats_random: bool, beats_propensity: bool, qini: float, qini_ci: tuple, p_value: float,
             propensity_qini: float, ate: float, ate_ci: tuple, deciles: pd.DataFrame, skewed: bool) -> str:
    significant = ate_ci[0] > 0 or ate_ci[1] < 0
    average = (t("On average the campaign changes the response rate by {pts} (95% interval {low} to {high})", pts=_pts(ate), low=_pts(ate_ci[0]), high=_pts(ate_ci[1])))
    caveat = t(" Treatment was not assigned at random, so treat these numbers with caution.") if skewed else ""
    if not beats_random:
        if significant and ate > 0:
            act = t("send to all (it works on average) or target by propensity")
        elif significant:
            act = t("it lowers responses on average: reconsider sending it at all")
        else:
            act = t("no effect on average either: target by propensity or test a stronger campaign")
        return (t("The data cannot tell who responds to the campaign: target by propensity or send to all. The best uplift ranking's Qini on customers it never saw ({qini:.3f}) is within what random scores reach (permutation p = {p_value:.3f}). {average}: {act}.{caveat}", qini=qini, p_value=p_value, average=average, act=act, caveat=caveat))
    top = deciles.iloc[0]
    top_txt = (t("the top 10% by uplift respond {pts} more when sent the campaign", pts=_pts(top['uplift']))
               if np.isfinite(top["uplift"]) else t("the top 10% by uplift respond more when sent it"))
    if beats_propensity:
        head = (t("Targeting by uplift beats targeting everyone and targeting by propensity (whose Qini is {propensity_qini:.3f})", propensity_qini=propensity_qini))
    else:
        head = (t("Targeting by uplift beats targeting everyone, but not targeting by propensity (whose Qini is {propensity_qini:.3f}): either ranking works", propensity_qini=propensity_qini))
    return (t("{head}: {top_txt}. Qini {qini:.3f} (95% interval {low:.3f} to {high:.3f}, permutation p = {p_value:.3f}). {average}.{caveat}", head=head, top_txt=top_txt, qini=qini, low=qini_ci[0], high=qini_ci[1], p_value=p_value, average=average, caveat=caveat))


# --- why: uplift explanations ------------------------------------------------------------------------


@dataclass(frozen=True)
class UpliftExplanation:
    """Per customer and feature, the feature's share of the customer's uplift in probability points
    (x100). Each row adds up to the customer's uplift minus ``base_points`` (the uplift of a customer
    whose every feature contributes nothing)."""

    points: np.ndarray  # (rows, features)
    features: tuple[str, ...]
    base_points: float
    seconds: float


def _secant_points(e: Explanation, model: PropensityModel) -> tuple[np.ndarray, float]:
    """A model's exact log-odds SHAP values as probability points that add up exactly to
    ``score - score at the base value``. Each customer's values are multiplied by one factor, the slope of
    the calibrated score between the base value and the customer's own log-odds (a secant, not the
    tangent ``lib.models.explain`` uses for display), so the proportions between features stay SHAP's and the
    points add up."""
    total = e.values.astype("float64").sum(axis=1)
    p = model.calibrate(e.base_value + total)
    p_base = float(model.calibrate(np.array([e.base_value]))[0])
    a = model.platt_[0]
    tangent = a * p * (1 - p)
    slope = np.where(np.abs(total) > 1e-9, (p - p_base) / np.where(np.abs(total) > 1e-9, total, 1.0), tangent)
    return e.values.astype("float64") * slope[:, None] * 100, 100 * p_base


def explain_uplift(result: UpliftResult, frame: pd.DataFrame) -> UpliftExplanation:
    """Exact TreeSHAP of each learner, turned into points of uplift per customer and feature.

    t-learner: each model's SHAP values become probability points (see ``_secant_points``); a feature's
    points of uplift are its points in the treated model minus its points in the control model, so a
    customer's points add up to (p_treated - p_control) minus the base uplift. s-learner: the one model is
    explained with the arm set to "sent" and to "not sent" and the points subtracted the same way; the
    arm's own points are the campaign's common effect and are not a customer reason.
    """
    t0 = time.perf_counter()
    feats = list(result.features)
    x = frame[feats]
    if result.method == "t-learner":
        m1, m0 = result.learners["treated"], result.learners["control"]
        pts1, b1 = _secant_points(explain(m1, x), m1)
        pts0, b0 = _secant_points(explain(m0, x), m0)
    else:
        m = result.learners["single"]
        pts1, b1 = _secant_points(explain(m, _with_arm(x, 1)), m)
        pts0, b0 = _secant_points(explain(m, _with_arm(x, 0)), m)
        keep = [i for i, f in enumerate(m.features) if f != TREATED_FEATURE]
        pts1, pts0 = pts1[:, keep], pts0[:, keep]
    return UpliftExplanation(points=(pts1 - pts0).astype(np.float32), features=tuple(feats), base_points=b1 - b0,
                             seconds=time.perf_counter() - t0)


def uplift_reasons(result: UpliftResult, frame: pd.DataFrame, top: int = 3,
                   explanation: UpliftExplanation | None = None) -> pd.DataFrame:
    """reason_1..3 per customer, in the propensity reasons' words: "age: 27 (+3.1 pts of uplift)".

    For a customer with more uplift than the base, the features raising it most; with less, the ones
    lowering it most (why contacting them does little or harm)."""
    ex = explanation if explanation is not None else explain_uplift(result, frame)
    pts = ex.points
    direction = np.where(pts.sum(axis=1) >= 0, 1.0, -1.0).astype(np.float32)
    # Effects that round to 0.0 pts are no reason to show.
    ranked_values = np.where(np.abs(pts) >= 0.05, pts * direction[:, None], 0.0).astype(np.float32)
    ranked = Explanation(values=ranked_values, features=ex.features, base_value=0.0, method="uplift",
                         seconds=ex.seconds, points=pts)
    reasons = reason_codes(ranked, frame[list(ex.features)], top=top)
    # The end of a reason ("(+3.1 pts)") says what the points are of, in the reasons' language.
    ending, of_uplift = re.escape(t(" pts)")) + "$", t(" pts of uplift)")
    for c in reasons.columns:
        reasons[c] = reasons[c].str.replace(ending, of_uplift, regex=True)
    reasons.index = frame.index
    return reasons


def persuadable_importance(result: UpliftResult, frame: pd.DataFrame,
                           explanation: UpliftExplanation | None = None) -> pd.DataFrame:
    """Who is persuadable: mean |points of uplift| per feature over ``frame``, largest first, and the mean
    signed points (near 0: the feature raises uplift for some customers and lowers it for others)."""
    ex = explanation if explanation is not None else explain_uplift(result, frame)
    return (
        pd.DataFrame({"feature": ex.features, "mean_abs_uplift_pts": np.abs(ex.points).mean(axis=0),
                      "mean_uplift_pts": ex.points.mean(axis=0)})
        .sort_values("mean_abs_uplift_pts", ascending=False, kind="stable")
        .reset_index(drop=True)
    )
