"""Column roles: what each column *is* (identifier, PII, date, numeric, categorical, binary flag, free
text, constant, mostly empty), which columns could be the target, and which value of it is "positive".

Roles decide what may become a model or clustering feature: identifiers, PII, constants and empty
columns never do by default, and the reason is kept so the report can say why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from lib.errors import DataValidationError
from lib.text.i18n import t
from lib.text.words import YES_WORDS

ROLES = ("identifier", "pii", "date", "numeric", "categorical", "binary", "text", "constant", "empty")
FEATURE_ROLES = ("numeric", "categorical", "binary", "date")
ROLE_LABELS = {
    "identifier": "Identifier",
    "pii": "Personal data (PII)",
    "date": "Date",
    "numeric": "Number",
    "categorical": "Category",
    "binary": "Yes/no flag",
    "text": "Free text",
    "constant": "Constant",
    "empty": "Mostly empty",
}


def role_label(role: str) -> str:
    """A role as people read it, in the current language ("Yes/no flag", "是/否标记")."""
    return t(ROLE_LABELS.get(role, role))


EXCLUDE_REASONS = {
    "identifier": "identifier: unique per customer, carries no pattern a model can reuse",
    "pii": "personal data (PII): never used as a feature",
    "constant": "constant: has one value, so it cannot explain anything",
    "empty": "mostly empty: 95% or more of its values are missing",
    "text": "free text: not used as a feature",
}

_ID_NAME = re.compile(r"(^|[_\s.-])(id|no|nr|number|num|code|key|uuid|guid)$|id$|^id|编号|编码|号$", re.I)
_PII_NAME = re.compile(
    r"e-?mail|phone|mobile|cell|tel(ephone)?$|^fax|first_?name|last_?name|full_?name|surname|^name$|"
    r"customer_?name|contact_?name|address|street|zip|post_?code|postal|ssn|passport|iban|"
    r"姓名|电话|手机|邮箱|地址|身份证",
    re.I,
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,20}$")
_TARGET_NAME = re.compile(
    r"respon|churn|convert|purchas|bought|buy|target|label|outcome|subscri|^y$|click|accepted|"
    r"default|attrit|renew|redeem|是否|购买|流失|响应|转化",
    re.I,
)
# Values that name the positive class of a target, in order of preference: any yes, then words only a
# target uses.
POSITIVE_TOKENS = (*YES_WORDS, "positive", "pos", "churned", "converted")


@dataclass(frozen=True)
class Schema:
    """The role of every column, why, and the target candidates with their positive class."""

    roles: dict[str, str]
    reasons: dict[str, str]
    target_candidates: tuple[str, ...] = ()
    positive_classes: dict[str, str] = field(default_factory=dict)

    def with_role(self, column: str, role: str) -> Schema:
        """A copy with one role overridden by the user."""
        if column not in self.roles:
            raise DataValidationError(t("There is no column '{column}' to change.", column=column))
        if role not in ROLES:
            raise DataValidationError(t("'{role}' is not a role; use one of: {items}.", role=role, items=', '.join(ROLES)))
        return replace(
            self,
            roles={**self.roles, column: role},
            reasons={**self.reasons, column: t("set by you")},
        )

    def feature_columns(self, exclude: tuple[str, ...] | list[str] = ()) -> list[str]:
        """Columns usable as model/cluster features, in file order."""
        return [c for c, r in self.roles.items() if r in FEATURE_ROLES and c not in exclude]

    def excluded(self) -> list[dict[str, str]]:
        """``[{column, reason}]`` for every column kept out of the features by its role."""
        return [
            {"column": c, "reason": t(EXCLUDE_REASONS[r])} for c, r in self.roles.items() if r in EXCLUDE_REASONS
        ]

    def columns_with_role(self, role: str) -> list[str]:
        return [c for c, r in self.roles.items() if r == role]


def infer_schema(frame: pd.DataFrame) -> Schema:
    """Infer the role of every column of ``frame`` (never modified)."""
    roles: dict[str, str] = {}
    reasons: dict[str, str] = {}
    n = len(frame)
    for col in frame.columns:
        role, reason = _infer_role(str(col), frame[col], n)
        roles[col], reasons[col] = role, reason
    candidates = _target_candidates(frame, roles)
    positives = {c: guess_positive_class(frame[c]) for c in candidates}
    return Schema(roles=roles, reasons=reasons, target_candidates=tuple(candidates), positive_classes=positives)


def _infer_role(name: str, s: pd.Series, n: int) -> tuple[str, str]:
    non_null = s.dropna()
    if pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s):
        non_null = non_null[non_null.astype(str).str.strip() != ""]
    if n == 0 or len(non_null) <= 0.05 * n:
        missing = 1 - len(non_null) / max(n, 1)
        return "empty", t("{missing:.0%} of values are missing", missing=missing)
    nunique = int(non_null.nunique())
    if nunique <= 1:
        return "constant", t("every value is {value!r}", value=non_null.iloc[0])
    is_text = pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s)
    sample = non_null.iloc[:2000].astype(str).str.strip() if is_text else None
    # A PII-looking name only counts when the values could identify a person: mostly distinct
    # (email_opens_90d or email_consent are behaviour, not personal data).
    if _PII_NAME.search(name) and (
        (is_text and nunique > 20)
        or (nunique > 50 and re.search(r"phone|mobile|tel|zip|post|电话|手机", name, re.I))
    ):
        return "pii", t("the name looks like personal data (email, phone, name or address)")
    if is_text and sample is not None:
        if sample.str.match(_EMAIL).mean() > 0.8:
            return "pii", t("values look like email addresses")
        if sample.str.match(_PHONE).mean() > 0.8 and sample.str.count(r"\d").mean() >= 7:
            return "pii", t("values look like phone numbers")
    unique_ratio = nunique / len(non_null)
    if nunique == 2:
        if _ID_NAME.search(name) and unique_ratio > 0.5:
            pass
        else:
            return "binary", t("two distinct values")
    if pd.api.types.is_datetime64_any_dtype(s):
        return "date", t("values are dates")
    if _ID_NAME.search(name) and (unique_ratio > 0.5 or (is_text and nunique > 1000)):
        return "identifier", t("the name looks like an identifier and {nunique:,} values are distinct", nunique=nunique)
    if is_text and unique_ratio > 0.98 and len(non_null) > 50 and sample is not None and sample.str.len().mean() < 40:
        return "identifier", t("almost every value is distinct")
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        if (
            unique_ratio == 1.0 and len(non_null) > 50 and _is_integer(non_null)
            and non_null.is_monotonic_increasing and _ID_NAME.search(name)
        ):
            return "identifier", t("a unique increasing integer")
        if _is_id_number(name, non_null, nunique):
            return "identifier", t("the name looks like an identifier and {nunique:,} values are distinct whole "
                                   "numbers", nunique=nunique)
        return "numeric", t("values are numbers")
    if pd.api.types.is_bool_dtype(s):
        return "binary", t("true/false values")
    if sample is not None and sample.str.len().mean() > 40 and unique_ratio > 0.5:
        return "text", t("long, mostly distinct text")
    return "categorical", t("{nunique:,} distinct text values", nunique=nunique)


# Numeric ids repeat in a log ("Customer ID" on every line of a customer's orders), so a name that ends
# in id/no/number/key with many distinct whole numbers is an id however often each repeats. Stricter
# than _ID_NAME: "paid" or "valid" end in "id" too.
_NUMERIC_ID_NAME = re.compile(r"(^|[_\s.-])(id|no|nr|number|key)$|^id([_\s.-]|$)", re.I)
_CAMEL_ID = re.compile(r"[a-z]I[Dd]$")
ID_MIN_DISTINCT = 50


def _is_id_number(name: str, values: pd.Series, nunique: int) -> bool:
    named = bool(_NUMERIC_ID_NAME.search(name) or _CAMEL_ID.search(name))
    return named and nunique > ID_MIN_DISTINCT and _is_integer(values)


def _is_integer(s: pd.Series) -> bool:
    vals = s.to_numpy(dtype="float64", na_value=np.nan)
    return bool(np.all(np.isfinite(vals)) and np.all(np.mod(vals, 1) == 0))


def _target_candidates(frame: pd.DataFrame, roles: dict[str, str]) -> list[str]:
    binary = [c for c, r in roles.items() if r == "binary"]
    named = [c for c in binary if _TARGET_NAME.search(str(c))]
    # Named candidates first, the best-named last column first (targets usually sit at the end).
    named.sort(key=lambda c: (0 if re.search(r"respon|churn|convert|^y$|target|label", str(c), re.I) else 1,
                              -list(frame.columns).index(c)))
    return named + [c for c in binary if c not in named]


def guess_positive_class(s: pd.Series) -> str:
    """The value meaning "yes" (yes/y/true/1/是...), else the rarer value. Returned as text."""
    values = s.dropna()
    counts = values.astype(str).str.strip().value_counts()
    counts = counts[counts.index != ""]
    if counts.empty:
        return ""
    for token in POSITIVE_TOKENS:
        for v in counts.index:
            if v.lower() == token:
                return v
    return str(counts.index[-1])


def binary_target(s: pd.Series, positive: str | None = None, column: str = "target") -> pd.Series:
    """Turn a target column into 1.0 (positive) / 0.0 / NaN (no value), checking it is a real binary target.

    Accepts any spelling (yes/no, Y/N, 是/否, True/False, 1.0/0.0 with blanks). Raises
    ``DataValidationError`` when the column has one class or more than two values.
    """
    text = s.astype("str").str.strip()
    text = text.where(s.notna() & (text != "") & (text.str.lower() != "nan"))
    values = text.dropna().unique().tolist()
    if len(values) == 0:
        raise DataValidationError(t("Target column '{column}' has no values. Choose a column that records the outcome.", column=column))
    chosen = positive is not None
    if positive is None:
        positive = guess_positive_class(text)
    positive = str(positive).strip()
    # "1" and "1.0" are the same answer when the column was read as numbers.
    canon = {v: _canon(v) for v in values}
    pos_canon = _canon(positive)
    if pos_canon not in set(canon.values()):
        shown = ", ".join(sorted(map(str, values))[:10])
        raise DataValidationError(
            t("The positive class '{positive}' does not occur in target column '{column}' (its values: {shown}). Pick one of those values.", positive=positive, column=column, shown=shown)
        )
    if len(set(canon.values())) > 2 and not chosen:
        shown = ", ".join(sorted(map(str, values))[:10])
        raise DataValidationError(
            t("Target column '{column}' has {n_values} different values ({shown}{choice}); a response/churn target needs two (e.g. yes/no). Name the positive class to model that value against all the others, choose another column, or recode it.", column=column, n_values=len(values), shown=shown, choice='...' if len(values) > 10 else '')
        )
    if len(set(canon.values())) < 2:
        raise DataValidationError(
            t("Target column '{column}' has only one class ('{value}'): a model needs both responders and non-responders. Choose another column or add the missing outcomes.", column=column, value=values[0])
        )
    # Map each distinct value once (a dict lookup per row, not a Python call per row).
    lookup = {v: float(c == pos_canon) for v, c in canon.items()}
    return text.map(lookup).astype("float64")


def target_note(s: pd.Series, positive: str | None, column: str) -> str | None:
    """A warning when a target with more than two values is modelled as one value against the rest."""
    text = s.dropna().astype("str").str.strip()
    canon = {_canon(v) for v in text.unique() if v != "" and v.lower() != "nan"}
    if len(canon) <= 2 or positive is None:
        return None
    others = sorted(v for v in text.unique() if _canon(v) != _canon(positive) and v)
    shown = ", ".join(others[:5]) + ("..." if len(others) > 5 else "")
    return (t("Target '{column}' has {n_canon} values: modelling '{positive}' against all the others ({shown}) counted as negatives. Recode the column if some of them should not count.", column=column, n_canon=len(canon), positive=positive, shown=shown))


def ids_as_text(ids: pd.Series) -> pd.Series:
    """Customer ids as text, the same way everywhere (exports, campaign history, results matching):
    whole numbers read as floats because of blanks print as 12345, not 12345.0."""
    if pd.api.types.is_float_dtype(ids) and ids.dropna().mod(1).eq(0).all():
        return ids.astype("Int64").astype("str")
    return ids.astype("str").str.strip()


def _canon(value: str) -> str:
    v = str(value).strip().lower()
    try:
        f = float(v)
        return repr(f)
    except ValueError:
        return v
