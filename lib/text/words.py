"""Words shared by every step: how a yes/no answer can be written, and a column name in words.

One vocabulary, so a flag reads the same wherever it is used: the target's positive class
(lib.data.schema), a flag in segmentation (lib.models.segment), who said no in a consent column
(lib.act.targeting) and the arms of a campaign (lib.models.uplift). Each of those may add words of its
own ("churned" is a positive target, "opt-out" a refusal), never take any away.
"""

from __future__ import annotations

import re

# Compared stripped and lower-cased. In order of preference: when a column holds two yes words, the first
# one here is its "yes" (lib.data.schema.guess_positive_class). "1.0"/"0.0": a 0/1 column read as floats
# because of blanks; True/False read as text are "true"/"false".
# Chinese exports write 是/否 (is / is not) and 有/无 (has / has not) where English ones write Yes/No.
YES_WORDS: tuple[str, ...] = ("yes", "y", "true", "t", "1", "1.0", "是", "有")
NO_WORDS: tuple[str, ...] = ("no", "n", "false", "f", "0", "0.0", "否", "无", "無")
_YES, _NO = frozenset(YES_WORDS), frozenset(NO_WORDS)


def is_yes(value: object) -> bool | None:
    """True when ``value`` is written as a yes (yes, Y, True, 1, 1.0, 是), False when as a no (no, N,
    False, 0, 0.0, 否), None for anything else, missing values included."""
    word = str(value).strip().lower()
    if word in _YES:
        return True
    if word in _NO:
        return False
    return None


def column_words(name: str) -> str:
    """A column name as lower-case words: 'SeniorCitizen' -> 'senior citizen', 'days_between_orders'
    -> 'days between orders', 'HTTPStatus' -> 'http status'. Names in Chinese stay as they are."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", str(name))
    return re.sub(r"[\s_\-.]+", " ", spaced).strip().lower()
