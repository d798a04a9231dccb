"""What kind a column is: number, flag (yes/no), category or date, decided once for every model.

The propensity model's encoder (``lib.models.model``) and the segment matrix
(``lib.models.segment.matrix``) both ask ``column_kind``, so a column a segment calls a yes/no flag is a
flag in the model file too. How each then *reads* the column is its own business (the trees read a
yes/no text column as its two levels, the segment matrix as one 0/1 column); what the column is, is
decided here.
"""

from __future__ import annotations

import pandas as pd

from lib.text.words import NO_WORDS as _NO_WORDS
from lib.text.words import YES_WORDS as _YES_WORDS
from lib.text.words import is_yes

KINDS = ("number", "flag", "category", "date")
# A two-valued column whose values are one of each (case and spaces ignored) is a yes/no flag, in the
# one yes/no vocabulary of lib.text.words.
YES_WORDS, NO_WORDS = frozenset(_YES_WORDS), frozenset(_NO_WORDS)
SETTLED_ON = 10_000  # rows: a slice with more than two distinct values settles the kind of most columns


def column_kind(s: pd.Series) -> str:
    """What a column is, one of ``KINDS``.

    - "date": a date/time column (text dates are read into dates when the file is loaded).
    - "flag": true/false; numbers that are only 0 and 1; text with two values, one meaning yes and one
      no (Yes/No, Y/N, 是/否: ``YES_WORDS``, ``NO_WORDS``).
    - "number": numbers with more than two distinct values (an id-like number column too: the roles
      step, not the kind, keeps ids out of models).
    - "category": text, and numbers with at most two values that are not 0/1 (1/2 codes, a constant):
      two groups, not a scale.
    """
    if pd.api.types.is_datetime64_any_dtype(s):
        return "date"
    if pd.api.types.is_bool_dtype(s):
        return "flag"
    numeric = pd.api.types.is_numeric_dtype(s)
    if len(pd.unique(s.iloc[:SETTLED_ON].dropna())) > 2:
        return "number" if numeric else "category"
    uniques = pd.unique(s.dropna())
    if numeric:
        if len(uniques) == 2 and {float(v) for v in uniques} == {0.0, 1.0}:
            return "flag"
        return "number" if len(uniques) > 2 else "category"
    if len(uniques) == 2:
        canon = {str(v).strip().lower() for v in uniques}
        if len(canon & YES_WORDS) == 1 and len(canon & NO_WORDS) == 1:
            return "flag"
    return "category"


def means_yes(value: object) -> bool:
    """Whether one value of a flag column is its "yes" (lib.text.words, case and spaces ignored)."""
    return is_yes(value) is True


def means_no(value: object) -> bool:
    """Whether one value of a flag column is its "no" (lib.text.words, case and spaces ignored)."""
    return is_yes(value) is False
