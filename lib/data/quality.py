"""Data-quality report: per column and per dataset, each problem a plain sentence with a suggested fix."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lib.data.io import FIXES_ATTR, CellFix, fix_sentences
from lib.data.schema import Schema, binary_target, role_label
from lib.text.i18n import t
from lib.text.words import column_words

if TYPE_CHECKING:
    from lib.data.orders import OrderLines, TransactionColumns

SENTINEL_TEXT = ("unknown", "n/a", "na", "none", "null", "-", "?", "missing", "not available", "other", "未知")
SENTINEL_NUMBERS = (-1, 999, 9999, 99999, -999, -9999)
MIN_ROWS_FOR_MODEL = 100
LEAKAGE_AUC = 0.95
# "Necessary condition" outcomes: a column set (non-zero, filled in, or one of a flag's two values) for
# at least 99% of the positives but at most half of the others is a step on the way to the outcome,
# like a site visit before a purchase. Its AUC can sit well below 0.95 (visit: 1.0 vs 0.15 gives
# 0.93), so the AUC rule alone misses it. An ordinary feature almost never reaches 99% of positives
# while staying under 50% of the rest; the minimum count of positives keeps chance out of it.
NECESSARY_POSITIVE_SHARE = 0.99
NECESSARY_NEGATIVE_SHARE = 0.5
NECESSARY_MIN_POSITIVES = 20
# Names of columns usually filled in only after the outcome (call length, refund date, spend after
# the campaign...), matched on the snake_case form of the name.
_POST_OUTCOME = re.compile(
    r"duration|call_?(length|time|minutes|seconds|secs)|talk_?time|"
    r"(after|post)_?(campaign|mailing|mail|offer|promo|promotion|contact|call|send|email|treatment|outcome|"
    r"response|period)|_(after|post)$|"
    r"refund|cancel(l)?ed_?(at|date|on)|churn(ed)?_?date|respon(se|ded)_?(date|time|at|on|channel)|"
    r"convert(ed)?_?(at|on|date)|conversion_?(date|time|value|amount)|outcome_?date|(call|contact)_?(result|outcome)",
    re.I,
)
# ...unless the name says it describes the past or an average (bank-full's 'poutcome' is the previous
# campaign's outcome; 'avg_session_duration' is behaviour before the campaign).
_PRE_OUTCOME = re.compile(
    r"prev|past|last_?campaign|history|historic|before|pre_?(campaign|period)|^p_?(outcome|days)|"
    r"tenure|membership|contract|account|avg|average|mean|typical",
    re.I,
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the data, in words, with what to do about it."""

    column: str | None
    severity: str  # "warning" or "info"
    message: str
    fix: str


@dataclass(frozen=True)
class QualityReport:
    rows: int
    columns: int
    column_table: pd.DataFrame  # column, role, type, missing_pct, distinct, examples, problems
    problems: tuple[Problem, ...]
    duplicate_rows: int
    duplicate_ids: int
    class_balance: dict[str, float] | None
    leakage_suspects: tuple[dict, ...]  # {column, kind, reason, auc}: see find_leakage

    def to_dict(self) -> dict:
        return {
            "rows": self.rows,
            "columns": self.columns,
            "duplicate_rows": self.duplicate_rows,
            "duplicate_ids": self.duplicate_ids,
            "class_balance": self.class_balance,
            "leakage_suspects": list(self.leakage_suspects),
            "problems": [asdict(p) for p in self.problems],
            "column_table": _records(self.column_table),
        }


def _records(frame: pd.DataFrame) -> list[dict]:
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def assess_quality(
    frame: pd.DataFrame,
    schema: Schema,
    target: str | None = None,
    positive: str | None = None,
    fixes: Sequence[CellFix] | None = None,
    built: bool = False,
    source_problems: Sequence[Problem] = (),
    log: TransactionColumns | None = None,
) -> QualityReport:
    """Check every column and the dataset as a whole. ``frame`` is not modified.

    ``built``: ``frame`` is a table Bullseye made (the roll-up of a log), so nothing is said about its
    rows as if they came from a source; ``source_problems`` are the source's own (``log_problems``),
    reported once, first. ``log``: ``frame`` is an order-line log read as it is (not rolled up), with
    these columns: it is reported in log terms (``log_problems``), and its invoice and product codes are
    codes, not categories or numbers gone wrong.

    ``fixes``: the cells the loader read as missing (``LoadResult.fixes``); by default those the
    loader left on ``frame.attrs``, so a frame straight from ``load_table`` reports them either way.
    """
    n = len(frame)
    problems: list[Problem] = list(source_problems)
    codes: set = set()
    if log is not None:
        from lib.data.orders import classify_lines

        problems += log_problems(frame, classify_lines(frame, log))
        codes = {log.customer, log.order, log.product, log.description}
    rows = []
    if fixes is None:
        fixes = frame.attrs.get(FIXES_ATTR, ())
    said = _fix_problems([f for f in fixes if f.column in frame.columns])
    for col in frame.columns:
        role = schema.roles.get(col, "categorical")
        # A roll-up's columns are Bullseye's own arithmetic on the log (a one-order customer has no gap
        # between orders, a big spender is a long tail, not a typo): only unusable columns are said.
        judged = not built or role in ("empty", "constant")
        col_problems = said.get(col, []) + (
            _column_problems(col, frame[col], "identifier" if col in codes else role, n) if judged else [])
        problems += col_problems
        non_null = frame[col].dropna()
        rows.append(
            {
                "column": col,
                "role": role,
                "role_label": role_label(role),
                "type": t(_type_name(frame[col])),  # i18n: one of _type_name's few type words, in the catalogue
                "missing_pct": round(100 * (1 - len(non_null) / n), 1) if n else 100.0,
                "distinct": int(non_null.nunique()),
                "examples": ", ".join(str(v) for v in non_null.drop_duplicates().iloc[:3]),
                "problems": " ".join(p.message for p in col_problems),
                "why": schema.reasons.get(col, ""),
            }
        )
    # A roll-up's rows are Bullseye's own; a log's copied lines are in log_problems.
    duplicate_rows = int(frame.duplicated().sum()) if n and not built and log is None else 0
    if duplicate_rows:
        problems.append(Problem(None, "warning", t("{duplicate_rows:,} rows are exact duplicates of another row.", duplicate_rows=duplicate_rows),
                                t("Remove duplicate rows in the source, or confirm they are real repeat records.")))
    duplicate_ids = 0
    for col in schema.columns_with_role("identifier"):
        d = int(frame[col].dropna().duplicated().sum())
        # Order ids repeat in a transaction log by design; only flag ids that are almost unique.
        if d and d < 0.05 * n:
            duplicate_ids += d
            problems.append(Problem(col, "warning", t("{d:,} values of identifier '{col}' appear more than once.", d=d, col=col),
                                    t("Check for duplicated customers; keep one row per customer.")))
    if n < MIN_ROWS_FOR_MODEL:
        problems.append(Problem(None, "warning", t("Only {n:,} rows: too few for reliable segments or models.", n=n),
                                t("Use at least {least} customers, ideally thousands.", least=MIN_ROWS_FOR_MODEL)))
    class_balance, leakage = None, ()
    if target is not None and target in frame.columns:
        y = binary_target(frame[target], positive, column=target)
        known = y.dropna()
        class_balance = {
            "positive": int(known.sum()),
            "negative": int(len(known) - known.sum()),
            "unlabelled": int(y.isna().sum()),
            "positive_rate": float(known.mean()) if len(known) else 0.0,
        }
        if class_balance["positive"] < 50:
            problems.append(Problem(target, "warning", t("Only {positive} positive outcomes in '{target}'.", positive=class_balance['positive'], target=target),
                                    t("A model needs at least 50 positives to be trusted; add more history.")))
        leakage = tuple(find_leakage(frame, schema, target, y))
        for item in leakage:
            problems.append(Problem(item["column"], "warning", item["reason"],
                                    t("It is left out of the model; re-include it only if its value is known "
                                    "before the campaign is sent.")))
    return QualityReport(
        rows=n,
        columns=len(frame.columns),
        column_table=pd.DataFrame(rows),
        problems=tuple(problems),
        duplicate_rows=duplicate_rows,
        duplicate_ids=duplicate_ids,
        class_balance=class_balance,
        leakage_suspects=leakage,
    )


def _fix_problems(fixes: list[CellFix]) -> dict[str, list[Problem]]:
    """The loader's fixes as problems, per column: codes read as missing are information, impossible
    numbers set to missing are warnings (a typo or a broken export upstream)."""
    out: dict[str, list[Problem]] = {}
    for col, what, sentence in fix_sentences(fixes):
        if what == "codes":
            problem = Problem(col, "info", sentence,
                              t("Nothing to do if they mean \"no value\"; if one stands for something real "
                              "(e.g. 'NA' for North America), recode it in the source."))
        else:
            problem = Problem(col, "warning", sentence,
                              t("Fix the source if these are typos; until then models treat them as unknown."))
        out.setdefault(col, []).append(problem)
    return out


def _type_name(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s):
        return "true/false"
    if pd.api.types.is_integer_dtype(s):
        return "whole number"
    if pd.api.types.is_numeric_dtype(s):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "date"
    return "text"


def _column_problems(col: str, s: pd.Series, role: str, n: int) -> list[Problem]:
    out: list[Problem] = []
    missing = s.isna().mean() if n else 1.0
    if role == "empty":
        out.append(Problem(col, "info", t("'{col}' is {missing:.0%} empty and is not used.", col=col, missing=missing),
                           t("Drop it, or fill it in the source if it matters.")))
        return out
    if role == "constant":
        out.append(Problem(col, "info", t("'{col}' has the same value in every row and is not used.", col=col),
                           t("Nothing to do; it carries no information.")))
        return out
    if 0.2 <= missing < 0.95:
        out.append(Problem(col, "warning", t("'{col}' is missing in {missing:.0%} of rows.", col=col, missing=missing),
                           t("Bullseye treats missing as its own value; fill it in the source if you can.")))
    is_text = pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s)
    if is_text and role in ("categorical", "text", "binary"):
        # Shares and examples from a fixed sample: exact to a fraction of a percent, fast at 1M rows.
        text = s.dropna()
        text = (text.sample(50_000, random_state=0) if len(text) > 50_000 else text).astype(str).str.strip()
        if len(text):
            # Each distinct value read as a number once: a category has a few hundred, and reading
            # 50,000 strings as numbers was most of this step on a file with many text columns.
            codes, distinct = pd.factorize(text)
            is_number = pd.to_numeric(pd.Series(distinct, dtype=object), errors="coerce").notna().to_numpy()[codes]
            numeric_share = is_number.mean()
            not_numbers = text[~is_number]
            # Codes ("C536379", "85123A": letters around digits) are ids, not numbers gone wrong.
            if 0.5 <= numeric_share < 1.0 and not not_numbers.str.fullmatch(_CODE).mean() >= 0.8:
                bad = not_numbers.iloc[:3].tolist()
                out.append(Problem(col, "warning",
                                   t("'{col}' mixes numbers with text ({not_numbers:.0%} are not numbers, e.g. {bad}).", col=col, not_numbers=1 - numeric_share, bad=bad),
                                   t("Clean the non-numeric values so the column can be used as a number.")))
            lower = text.str.lower()
            for token in SENTINEL_TEXT:
                share = (lower == token).mean()
                if share >= 0.01 and token in ("unknown", "n/a", "na", "none", "null", "-", "?", "missing", "未知"):
                    out.append(Problem(col, "info",
                                       t('\'{col}\' uses \'{value}\' for {share:.0%} of rows, a code for "no value".', col=col, value=text[lower == token].iloc[0], share=share),
                                       t("Bullseye keeps it as its own category; recode it as empty if it means missing.")))
            nunique = text.nunique()
            if role == "categorical" and nunique > 100:
                out.append(Problem(col, "warning", t("'{col}' has {nunique:,} distinct values (very high cardinality).", col=col, nunique=nunique),
                                   t("Group rare values, or mark it as an identifier/text if it is not a category.")))
    if pd.api.types.is_numeric_dtype(s) and role == "numeric":
        vals = s.dropna().astype("float64")
        if len(vals) >= 20:
            for code in SENTINEL_NUMBERS:
                share = (vals == code).mean()
                rest = vals[vals != code]
                if share >= 0.01 and len(rest) and (
                    (code < 0 and rest.min() >= 0) or (code > 0 and code > 5 * rest.quantile(0.99))
                ):
                    out.append(Problem(col, "info",
                                       t('\'{col}\' uses {code:g} in {share:.0%} of rows, which looks like a code (e.g. "never"), not a quantity.', col=col, code=code, share=share),
                                       t("Keep it if the model should learn it as a flag; otherwise recode it as empty.")))
            outliers = _extreme_count(col, vals)
            if outliers and outliers / len(vals) >= 0.005:
                out.append(Problem(col, "info",
                                   t("'{col}' has {outliers:,} extreme values (beyond 3× the interquartile range, max {max:,.6g}).", col=col, outliers=outliers, max=vals.max()),
                                   t("Check them for typos; Bullseye's models are robust to them.")))
    return out


_CODE = r"[^\W\d_]*\d+[^\W\d_]*"
_SHARE_NAME = re.compile(r"share|rate|ratio|pct|percent|proportion|fraction|prob", re.I)


def _extreme_count(col: str, vals: pd.Series) -> int:
    """Values beyond 3× the interquartile range, judged where that means "odd".

    A share or rate (within 0..1, or 0..100 with a share-like name) is never extreme at its bounds, so
    it has none. Long-tailed money and counts (|skew| over 2 or kurtosis over 10) are judged on a log scale: a customer who
    spends 100× the median is a good customer, not a typo; one who spends 10^6× is worth a look."""
    lo, hi = float(vals.min()), float(vals.max())
    if lo >= 0 and (hi <= 1 or (hi <= 100 and _SHARE_NAME.search(str(col)))):
        return 0
    x = vals.to_numpy(dtype="float64")
    # Skew finds one long tail; kurtosis finds two (a log's quantities: big orders and their cancellations).
    if abs(float(vals.skew())) > 2 or float(vals.kurt()) > 10:
        # Judged by size on a log scale: a negative balance or a refund is not odd, a 10^9 one is.
        x = np.log1p(np.abs(x))
    q1, q3 = np.percentile(x, [25, 75])
    iqr = q3 - q1
    return int(((x < q1 - 3 * iqr) | (x > q3 + 3 * iqr)).sum()) if iqr > 0 else 0


def log_problems(raw: pd.DataFrame, lines: OrderLines, after_end: int = 0) -> tuple[Problem, ...]:
    """What is worth knowing about an order-line log (``raw``, classified by ``lib.data.orders``), in
    log terms. Cancellations, returns and fees are how logs are written, so they are information with
    nothing to clean; only copies of whole lines and stray dates may be mistakes of the export."""
    c, cols, out = lines.counts, lines.columns, []
    cancelled, returned = c.get("cancellation", 0), c.get("return", 0)
    if cancelled or returned:
        out.append(Problem(cols.order, "info",
                           t("{c:,} cancellation lines and {r:,} return lines: they reduce what each customer spent "
                             "and never count as purchases.", c=cancelled, r=returned),
                           t("Nothing to do: this is how a log records money given back.")))
    if c.get("no customer id"):
        out.append(Problem(cols.customer, "info",
                           t("{n:,} lines have no customer id (guest orders): they are left out of the customer "
                             "table.", n=c["no customer id"]),
                           t("Nothing to do, unless those buyers are known under an id elsewhere.")))
    if c.get("free"):
        out.append(Problem(cols.unit_price or cols.amount, "info",
                           t("{n:,} lines have a price or amount of zero (free items, samples): kept, counted as "
                             "no money.", n=c["free"]), t("Nothing to do.")))
    if lines.columns.unit_price is not None:
        negative = int((pd.to_numeric(raw[cols.unit_price], errors="coerce") < 0).sum())
        if negative:
            out.append(Problem(cols.unit_price, "info",
                               t("{n:,} lines have a negative unit price (bookkeeping adjustments such as bad "
                                 "debt): never counted as sales.", n=negative), t("Nothing to do.")))
    if c.get("non_product"):
        items = ", ".join(lines.rules.non_product_items["item"].astype(str).head(5))
        out.append(Problem(cols.product, "info",
                           t("{n:,} lines are fees, postage or adjustments ({items}): they count neither as buying "
                             "nor as spending.", n=c["non_product"], items=items), t("Nothing to do.")))
    bad_dates = c.get("unreadable date", 0)
    if after_end or bad_dates:
        out.append(Problem(cols.date, "warning",
                           t("{late:,} lines are dated after the export's plausible end and {bad:,} have an "
                             "unreadable date: both are left out.", late=after_end, bad=bad_dates),
                           t("Check them for typos in the export (e.g. a wrong year); give an as-of date to "
                             "choose the end yourself.")))
    copies = int(raw.duplicated().sum())
    if copies:
        out.append(Problem(None, "info",
                           t("{n:,} lines are exact copies of another line (same order, product, quantity and "
                             "time): each is counted.", n=copies),
                           t("Often the same item scanned twice; if the export repeats lines by mistake, "
                             "export again.")))
    return tuple(out)


def find_leakage(frame: pd.DataFrame, schema: Schema, target: str, y: pd.Series | None = None) -> list[dict]:
    """Feature columns that would leak the outcome into a model, each ``{column, kind, reason, auc}``.

    Kinds: "predicts_target" (on its own it separates the outcomes almost perfectly, AUC ≥ 0.95),
    "necessary_condition" (nearly every positive has it, most others do not: a step on the way to the
    outcome, e.g. a visit before a purchase) and "after_outcome" (the name says it is recorded after
    the outcome, e.g. call duration). Callers leave every one of them out of the model unless the
    user re-includes it, so only real suspects are returned, each with a reason a marketer can judge.
    """
    if y is None:
        y = binary_target(frame[target], column=target)
    mask = y.notna().to_numpy()
    yk = y.to_numpy()[mask]
    out = []
    if len(np.unique(yk)) < 2:
        return out
    positives = yk == 1
    n_pos = int(positives.sum())
    for col in schema.feature_columns():
        if col == target:
            continue
        s = frame[col][mask]
        auc = single_column_auc(s, yk)
        rounded = None if auc is None else round(auc, 4)
        necessary = (
            _necessary_condition(s, positives, schema.roles.get(col))
            if n_pos >= NECESSARY_MIN_POSITIVES and len(yk) - n_pos >= NECESSARY_MIN_POSITIVES else None
        )
        name = column_words(col).replace(" ", "_")  # 'CallDuration', 'call-duration' -> 'call_duration'
        if auc is not None and auc >= LEAKAGE_AUC:
            out.append({"column": col, "auc": rounded, "kind": "predicts_target",
                        "reason": t("'{col}' on its own separates positive from negative '{target}' almost perfectly (AUC {auc:.3f}, where 0.5 is guessing and 1 is perfect): it is probably a copy of the outcome or recorded after it.", col=col, target=target, auc=auc)})
        elif necessary is not None:
            what, pos_share, neg_share = necessary
            out.append({"column": col, "auc": rounded, "kind": "necessary_condition",
                        "reason": t("'{col}' is {what} for {pos_share:.0%} of the {n_pos:,} positive '{target}' rows but only {neg_share:.0%} of the others: almost no one reaches the outcome without it, so it is probably a step on the way there (like a site visit before a purchase) and only known after the campaign.", col=col, what=what, pos_share=pos_share, n_pos=n_pos, target=target, neg_share=neg_share)})
        elif _POST_OUTCOME.search(name) and not _PRE_OUTCOME.search(name):
            word = _POST_OUTCOME.search(name).group(0).strip("_")
            out.append({"column": col, "auc": rounded, "kind": "after_outcome",
                        "reason": t("'{col}' sounds like something recorded after the outcome (its name mentions '{word}', e.g. the length of the sales call); a model using it would look better in testing than it can be when scoring customers before a campaign.", col=col, word=word)})
    return out


def _necessary_condition(s: pd.Series, positives: np.ndarray, role: str | None) -> tuple[str, float, float] | None:
    """``(what, share of positives, share of others)`` when the column is set for nearly every positive
    and at most half of the others; else None. "Set" is non-zero for numbers, each of the two values
    for a text flag, filled in for dates and other text."""
    if pd.api.types.is_bool_dtype(s):
        candidates = [(t("true"), s.fillna(False).to_numpy(dtype=bool))]
    elif pd.api.types.is_numeric_dtype(s):
        x = s.to_numpy(dtype="float64", na_value=np.nan)
        candidates = [(t("non-zero"), ~np.isnan(x) & (x != 0))]
    elif role == "binary":
        values = s.dropna().unique()[:2]
        candidates = [(f"'{v}'", (s == v).fillna(False).to_numpy(dtype=bool)) for v in values]
    else:
        candidates = [(t("filled in"), s.notna().to_numpy(dtype=bool))]
    for what, is_set in candidates:
        pos_share = float(is_set[positives].mean())
        neg_share = float(is_set[~positives].mean())
        if pos_share >= NECESSARY_POSITIVE_SHARE and neg_share <= NECESSARY_NEGATIVE_SHARE:
            return what, pos_share, neg_share
    return None


def fast_auc(y: np.ndarray, x: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties averaged: the same number as sklearn's,
    without its per-call validation overhead (called once per column)."""
    y = np.asarray(y, dtype=bool)
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return 0.5
    # Average rank of each distinct value (ties share their mean rank).
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = ((ends - counts + 1 + ends) / 2.0)[inverse.ravel()]
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


LEAKAGE_SAMPLE = 200_000


def single_column_auc(s: pd.Series, y: np.ndarray) -> float | None:
    """AUC of the best ordering of one column, in-sample: numbers by value, categories by target rate.
    Large tables are judged on a fixed sample: a leak is a gross effect that a sample shows too."""
    if len(s) > LEAKAGE_SAMPLE:
        idx = np.random.default_rng(0).choice(len(s), LEAKAGE_SAMPLE, replace=False)
        s, y = s.iloc[idx], np.asarray(y)[idx]
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        x = s.to_numpy(dtype="float64", na_value=np.nan)
        if np.all(np.isnan(x)):
            return None
        x = np.where(np.isnan(x), np.nanmedian(x), x)
    elif pd.api.types.is_datetime64_any_dtype(s):
        return None
    else:
        codes, uniques = pd.factorize(s.astype("str"), use_na_sentinel=False)
        if len(uniques) > 0.5 * len(codes):
            return None
        sums = np.bincount(codes, weights=np.asarray(y, dtype="float64"), minlength=len(uniques))
        counts = np.bincount(codes, minlength=len(uniques))
        x = (sums / np.maximum(counts, 1))[codes]
    if np.all(x == x[0]):
        return 0.5
    auc = fast_auc(y, x)
    return float(max(auc, 1 - auc))
