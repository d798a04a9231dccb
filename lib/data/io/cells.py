"""Cells that mean "no value", the limits of a believable number, and what the loader did to cells.

Every cell the loader reads as missing is recorded as a ``CellFix`` (column, why, value as written, how
many, first data rows), so the quality report and the load warnings can say so in words
(``fix_sentences``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.text.i18n import t

# Cells that mean "no value" in any column, text or number, exactly as written. "unknown", "-" and "?"
# are deliberately NOT here: they are real categories in many files (bank-full's job = 'unknown'), so
# in a text column they stay values and the quality report points them out instead.
NA_TOKENS = ["", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "#N/A",
             "#VALUE!", "#DIV/0!", "#REF!", "#NAME?", "#NUM!", "#NULL!"]
# In a column that is otherwise numbers (or dates) these can only mean "no value"; compared stripped
# and case-insensitively.
MISSING_TOKENS = frozenset({
    "na", "n/a", "n.a.", "n.a", "nan", "-nan", "null", "none", "nil", "#n/a", "#n/a n/a", "#na", "#value!",
    "#div/0!", "#ref!", "#name?", "#num!", "#null!", "-", "--", "---", "?", "??", ".", "unknown", "unk",
    "missing", "not available", "(blank)", "blank", "empty", "未知", "无",
})

# Numbers larger than this are absurd for anything a customer table measures (money, counts, days)
# when the column's 99th percentile is below ABSURD_P99; beyond float32's range no model can use them.
ABSURD = 1e15
ABSURD_P99 = 1e12
FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_AGE = 120
# How many row numbers a message names before it says "and N more".
SHOW_ROWS = 5


@dataclass(frozen=True)
class CellFix:
    """Cells of one column the loader read as missing, and why, so the quality report can say so.

    ``kind`` is "missing_token" (a code such as 'N/A' in a column of numbers or dates), "not_a_number"
    (a stray word in a column of numbers), "non_finite" (inf, -inf, 1e309), "absurd" (a magnitude no
    customer measure has) or "impossible_age" (below 0 or above 120). ``value`` is the cell as written
    for the first two kinds. ``rows`` are the first few data rows affected (1 = first row under the
    header), for the kinds where a user will want to look them up.
    """

    column: str
    kind: str
    value: str
    cells: int
    rows: tuple[int, ...] = ()


#: Key of ``LoadResult.fixes`` in ``frame.attrs``, so the quality report finds them on the frame too.
FIXES_ATTR = "bullseye_load_fixes"


def _token_fixes(col: str, cells: pd.Series, kind: str) -> list[CellFix]:
    """One CellFix per distinct value in ``cells``, most frequent first."""
    if cells.empty:
        return []
    counts = cells.astype("str").value_counts()
    return [CellFix(col, kind, str(value), int(n)) for value, n in counts.items()]


_VALUE_KINDS = ("non_finite", "absurd", "impossible_age")


def fix_sentences(fixes: list[CellFix] | tuple[CellFix, ...]) -> list[tuple[str, str, str]]:
    """``(column, what, sentence)`` saying, per column, which cells were read as missing and why. ``what``
    is "codes" ("'income': 37 cells held 'N/A' and 4 held '-'; read as missing.") or "numbers"
    (infinite, absurd or impossible values set to missing, with the data rows)."""
    out = []
    for col in dict.fromkeys(f.column for f in fixes):
        mine = [f for f in fixes if f.column == col]
        tokens = sorted((f for f in mine if f.kind in ("missing_token", "not_a_number")), key=lambda f: -f.cells)
        if tokens:
            shown = [t("{cells:,} cell{plural} held '{value}'", cells=tokens[0].cells, plural='s' if tokens[0].cells != 1 else '', value=tokens[0].value)]
            shown += [t("{cells:,} held '{value}'", cells=f.cells, value=f.value) for f in tokens[1:4]]
            rest = sum(f.cells for f in tokens[4:])
            if rest:
                shown.append(t("{rest:,} held {others} other value{plural}", rest=rest, others=len(tokens) - 4, plural='s' if len(tokens) > 5 else ''))
            out.append((col, "codes", t("'{col}': {cells}; read as missing.", col=col, cells=_and(shown))))
        parts = []
        for f in mine:
            if f.kind in _VALUE_KINDS:
                one = f.cells == 1
                what = {"non_finite": t("infinite value") if one else t("infinite values"),
                        "absurd": t("absurdly large value") if one else t("absurdly large values"),
                        "impossible_age": t("impossible age") if one else t("impossible ages")}[f.kind]
                why = {"non_finite": "",
                       "absurd": t("beyond {limit}, far outside the rest of the column; ",
                                   limit=f"{ABSURD:.0e}".replace("e+", "e")),
                       "impossible_age": t("below 0 or above {most}; ", most=MAX_AGE)}[f.kind]
                parts.append(t("{cells:,} {what} ({why}{rows})", cells=f.cells, what=what, why=why, rows=_rows_text(f)))
        if parts:
            total = sum(f.cells for f in mine if f.kind in _VALUE_KINDS)
            out.append((col, "numbers", t("'{col}': {values} were set to missing.", col=col, values=_and(parts))
                        if total != 1 else t("'{col}': {values} was set to missing.", col=col, values=_and(parts))))
    return out


def _rows_text(fix: CellFix) -> str:
    rows = ", ".join(f"{r:,}" for r in fix.rows)
    more = fix.cells - len(fix.rows)
    text = t("data row {rows}", rows=rows) if fix.cells == 1 else t("data rows {rows}", rows=rows)
    return text + (t(" and {more:,} more", more=more) if more > 0 else "")


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else t(", ").join(parts[:-1]) + t(" and ") + parts[-1]
