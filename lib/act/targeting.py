"""Targeted lists: filters, top N / top % / budget, exclusions, a stratified control group, and exports
that are safe to open in Excel.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lib.errors import DataValidationError
from lib.text.i18n import t
from lib.text.words import NO_WORDS

# OWASP CSV injection: cells starting with these are formulas to a spreadsheet.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ListSpec:
    """What the marketer asked for. Every field is optional; an empty spec selects everyone."""

    segments: tuple[str, ...] = ()
    min_score: float | None = None
    max_score: float | None = None
    top_n: int | None = None
    top_pct: float | None = None
    budget: float | None = None
    cost_per_contact: float = 1.0
    value_per_conversion: float = 0.0
    value_col: str | None = None  # each customer's own value (e.g. predicted_value) instead of one flat value
    exclude_no_consent: str | None = None  # consent column: rows where it is "no"/false are dropped
    require_contact: tuple[str, ...] = ()  # rows missing any of these columns are dropped
    column_filters: dict = field(default_factory=dict)  # {column: [allowed values]} or {column: (lo, hi)}
    control_pct: float = 0.0
    seed: int = 42
    exclude_risky: bool = False  # leave off customers whose risk_flag is true (lib.models.risk)

    def describe(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class TargetList:
    table: pd.DataFrame  # selected rows (target + control) with group
    selected: int
    control: int
    excluded_counts: dict[str, int]
    expected_responders: float
    cost: float
    expected_profit: float | None
    spec: ListSpec

    @property
    def send(self) -> pd.DataFrame:
        return self.table[self.table["group"] == "target"]


_NO = {*NO_WORDS, "opt-out", "optout", "unsubscribed"}


def build_list(customers: pd.DataFrame, spec: ListSpec, score_col: str = "score",
               segment_col: str = "segment_name", rank_col: str | None = None) -> TargetList:
    """Apply filters and exclusions, then cut by top N / top % / budget (highest ``rank_col`` first,
    by default the score), then draw the control group. ``customers`` is not modified.

    ``score_col`` is what a contact is expected to bring (a response probability, or an uplift: then the
    expected responders are the extra ones); ``rank_col`` only orders the list (e.g. expected profit)."""
    df = customers
    has_score = score_col in df.columns
    keep, excluded = _eligible(df, spec, score_col, segment_col)
    idx = np.flatnonzero(keep)
    if has_score:
        idx = idx[np.argsort(-df[rank_col or score_col].to_numpy()[idx], kind="stable")]
    limit = _size(spec, len(idx))
    if limit < len(idx):
        excluded[t("below the cut-off (top N / % / budget)")] = len(idx) - limit
    table = df.iloc[idx[:limit]].copy()
    group = assign_control(
        table[score_col].to_numpy() if has_score else np.zeros(len(table)), spec.control_pct, spec.seed
    )
    table["group"] = group
    if spec.budget is not None:
        # Rounding the control group per decile can leave a few sends over budget: drop the lowest.
        max_sends = int(spec.budget // spec.cost_per_contact)
        targets = np.flatnonzero(group == "target")
        if len(targets) > max_sends:
            table = table.drop(table.index[targets[max_sends:]])
    table = table.reset_index(drop=True)
    sends = table[table["group"] == "target"]
    expected = float(sends[score_col].sum()) if has_score else float("nan")
    cost = len(sends) * spec.cost_per_contact
    return TargetList(
        table=table, selected=len(sends), control=int((table["group"] == "control").sum()),
        excluded_counts=excluded, expected_responders=expected, cost=cost,
        expected_profit=_expected_profit(sends, spec, score_col, expected, cost) if has_score else None, spec=spec,
    )


def _eligible(df: pd.DataFrame, spec: ListSpec, score_col: str, segment_col: str) -> tuple[np.ndarray, dict]:
    """Who passes the filters and exclusions, and how many each one left out (in words)."""
    keep = np.ones(len(df), dtype=bool)
    excluded: dict[str, int] = {}

    def drop(reason: str, mask: np.ndarray) -> None:
        nonlocal keep
        newly = keep & ~mask
        if newly.any():
            excluded[reason] = excluded.get(reason, 0) + int(newly.sum())
        keep &= mask

    if spec.segments:
        if segment_col not in df.columns:
            raise DataValidationError(t("Segment filter chosen but the customers have no segments yet: segment them first."))
        drop(t("not in the chosen segments"), df[segment_col].isin(spec.segments).to_numpy())
    if (spec.min_score is not None or spec.max_score is not None) and score_col not in df.columns:
        raise DataValidationError(t("Score filter chosen but there are no scores yet: train a propensity model first."))
    if spec.min_score is not None:
        drop(t("score below the minimum"), (df[score_col] >= spec.min_score).to_numpy())
    if spec.max_score is not None:
        drop(t("score above the maximum"), (df[score_col] <= spec.max_score).to_numpy())
    for col, rule in spec.column_filters.items():
        if col not in df.columns:
            raise DataValidationError(t("Filter column '{col}' is not in the data.", col=col))
        if isinstance(rule, (tuple, list)) and len(rule) == 2 and all(isinstance(v, (int, float)) for v in rule):
            v = pd.to_numeric(df[col], errors="coerce")
            drop(t("{col} outside {low}–{high}", col=col, low=rule[0], high=rule[1]), ((v >= rule[0]) & (v <= rule[1])).to_numpy())
        else:
            drop(t("{col} not in the chosen values", col=col), df[col].astype("str").isin([str(r) for r in rule]).to_numpy())
    if spec.exclude_risky:
        if "risk_flag" not in df.columns:
            raise DataValidationError(t("Leaving risky customers out needs the risk check: run it first (--risk)."))
        drop(t("flagged as risky"), ~df["risk_flag"].fillna(False).astype(bool).to_numpy())
    if spec.exclude_no_consent:
        col = spec.exclude_no_consent
        if col not in df.columns:
            raise DataValidationError(t("Consent column '{col}' is not in the data.", col=col))
        said_no = df[col].astype("str").str.strip().str.lower().isin(_NO).to_numpy()
        drop(t("no consent ({col})", col=col), ~said_no)
    for col in spec.require_contact:
        if col not in df.columns:
            raise DataValidationError(t("Contact column '{col}' is not in the data.", col=col))
        s = df[col]
        drop(t("missing {col}", col=col), (s.notna() & (s.astype("str").str.strip() != "")).to_numpy())
    return keep, excluded


def _size(spec: ListSpec, eligible: int) -> int:
    """How many of the eligible customers the list takes: top N, top %, or what the budget buys."""
    limit = eligible
    if spec.top_n is not None:
        if spec.top_n < 0:
            raise DataValidationError(t("Top N must be 0 or more."))
        limit = min(limit, int(spec.top_n))
    if spec.top_pct is not None:
        if not 0 < spec.top_pct <= 100:
            raise DataValidationError(t("Top % must be between 0 and 100."))
        limit = min(limit, int(np.ceil(eligible * spec.top_pct / 100)))
    if spec.budget is not None:
        if spec.cost_per_contact <= 0:
            raise DataValidationError(t("A budget needs a cost per contact above 0."))
        # The control group is not contacted, so it costs nothing: the budget buys the sends.
        sends = int(spec.budget // spec.cost_per_contact)
        limit = min(limit, int(np.floor(sends / max(1 - spec.control_pct / 100, 1e-9))))
    return limit


def _expected_profit(sends: pd.DataFrame, spec: ListSpec, score_col: str, expected: float, cost: float) -> float | None:
    if spec.value_col is not None:
        if spec.value_col not in sends.columns:
            raise DataValidationError(t("Value column '{value_col}' is not in the data: predict customer value first.", value_col=spec.value_col))
        # Expected profit = P(respond) × that customer's value − cost, customer by customer.
        return float((sends[score_col] * sends[spec.value_col].fillna(0.0)).sum()) - cost
    return expected * spec.value_per_conversion - cost if spec.value_per_conversion else None


def assign_control(scores: np.ndarray, control_pct: float, seed: int) -> np.ndarray:
    """Mark a random ``control_pct`` % of rows as "control", drawn within each score decile so target
    and control have the same score mix (and lift is measured like for like)."""
    n = len(scores)
    group = np.full(n, "target", dtype=object)
    if control_pct <= 0 or n == 0:
        return group
    if control_pct >= 100:
        raise DataValidationError(t("The control group must be less than 100% of the list."))
    rng = np.random.default_rng(seed)
    order = np.argsort(-np.asarray(scores, dtype="float64"), kind="stable")
    deciles = np.empty(n, dtype=int)
    deciles[order] = np.minimum(np.arange(n) * 10 // n, 9)
    for d in range(10):
        members = np.flatnonzero(deciles == d)
        k = int(round(len(members) * control_pct / 100))
        if k:
            group[rng.choice(members, size=k, replace=False)] = "control"
    return group


# --- safe exports ---------------------------------------------------------------------------------


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix ``'`` to text cells a spreadsheet would run as a formula (=, +, -, @, tab, CR), unless
    the cell is a plain number such as -12.5."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
            continue
        text = s.astype("str")
        risky = text.str.startswith(_FORMULA_START) & s.notna()
        plain_number = pd.to_numeric(text.where(risky), errors="coerce").notna()
        risky &= ~plain_number
        if risky.any():
            out[col] = text.where(~risky, "'" + text).where(s.notna(), None)
    out.columns = [("'" + c) if str(c).startswith(_FORMULA_START) else c for c in out.columns]
    return out


def to_csv_bytes(frame: pd.DataFrame, excel_friendly: bool = False) -> bytes:
    """UTF-8 CSV; ``excel_friendly`` adds a BOM so Excel shows Chinese and accented text correctly.

    Written by pyarrow (several times faster than pandas at 1M rows); text cells are quoted."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    safe = neutralise_formulas(frame)
    table = pa.Table.from_pandas(safe, preserve_index=False)
    buf = io.BytesIO()
    if excel_friendly:
        buf.write(b"\xef\xbb\xbf")
    pacsv.write_csv(table, buf, write_options=pacsv.WriteOptions(quoting_style="needed"))
    return buf.getvalue()


def to_xlsx_bytes(frame: pd.DataFrame, about: dict) -> bytes:
    """An .xlsx with the list on sheet "List" and what it is (date, filters, model, counts) on "About"."""
    buf = io.BytesIO()
    about_frame = pd.DataFrame({"item": list(about), "value": [str(v) for v in about.values()]})
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        neutralise_formulas(frame).to_excel(writer, sheet_name="List", index=False)
        neutralise_formulas(about_frame).to_excel(writer, sheet_name="About", index=False)
    return buf.getvalue()


def export_columns(table: pd.DataFrame, id_col: str, contact_cols: list[str]) -> pd.DataFrame:
    """The columns a send file carries, in a fixed order."""
    wanted = [id_col, *contact_cols, "segment_name", "score", "rank", "reason_1", "reason_2", "reason_3",
              "uplift", "predicted_value", "churn_risk", "recommended_1", "recommended_2", "recommended_3", "group"]
    cols = []
    for c in wanted:
        if c in table.columns and c not in cols:
            cols.append(c)
    return table[cols]
