"""The two arms of a campaign test: which value of the treatment column marks the customers who got the
campaign and which the control group (named by the user or guessed from words like sent/control), and
whether each arm has enough labelled customers of each outcome to learn from."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.errors import DataValidationError
from lib.text.i18n import t
from lib.text.words import NO_WORDS, YES_WORDS

MIN_ARM_ROWS = 200  # labelled customers needed in each arm
MIN_ARM_OUTCOMES = 20  # responders and non-responders needed in each arm

# Any no (yes) marks the control (treated) group, and so do these words of campaigns.
_CONTROL_WORDS = {*NO_WORDS, "control", "none", "holdout", "hold-out", "hold out", "untreated", "not sent", "off",
                  "baseline", "placebo", "unexposed", "not contacted", "not treated"}
_TREATED_WORDS = {*YES_WORDS, "treatment", "treated", "test", "sent", "email", "e-mail", "mail", "mailed", "contacted",
                  "called", "exposed", "offer", "promo", "campaign", "targeted", "variant", "on"}


def as_text(s: pd.Series) -> pd.Series:
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
    text = as_text(s)
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


@dataclass(frozen=True)
class Arms:
    """Who is in which arm, as boolean masks aligned with the input rows."""

    treated_value: str
    control_value: str
    treated: np.ndarray
    control: np.ndarray
    other: int  # rows with another non-blank value (a third arm): scored, not trained on


def find_arms(s: pd.Series, column: str, treated_value: str | None = None,
              control_value: str | None = None) -> Arms:
    """The arms of treatment column ``s`` (see ``resolve_arms``) and every row's membership."""
    treated_value, control_value = resolve_arms(s, column, treated_value, control_value)
    arm_text = as_text(s)
    treated = (arm_text == treated_value).fillna(False).to_numpy(dtype=bool)
    control = (arm_text == control_value).fillna(False).to_numpy(dtype=bool)
    other = int((~treated & ~control & arm_text.notna().to_numpy()).sum())
    return Arms(treated_value, control_value, treated, control, other)


def check_arm_counts(y: np.ndarray, treated: np.ndarray, control: np.ndarray, col: str, target: str,
                     treated_value: str, control_value: str) -> None:
    """Raise when an arm has too few labelled customers, or too few of either outcome, to learn from."""
    problems = []
    for what, value, rows in ((t("treated"), treated_value, treated), (t("control"), control_value, control)):
        n = int(rows.sum())
        pos = int(np.nansum(y[rows]))
        if n < MIN_ARM_ROWS or min(pos, n - pos) < MIN_ARM_OUTCOMES:
            problems.append(t("{n:,} {what} ('{col}' = '{value}') with {pos:,} positive and {others:,} other '{target}' outcomes", n=n, what=what, col=col, value=value, pos=pos, others=n - pos, target=target))
    if problems:
        raise DataValidationError(
            t("Too few customers to learn uplift: the file has {items}. Uplift needs at least {rows} labelled customers in each group, with at least {outcomes} of each outcome in each: add more of the campaign's customers, or a larger control group.", items=' and '.join(problems), rows=MIN_ARM_ROWS, outcomes=MIN_ARM_OUTCOMES))
