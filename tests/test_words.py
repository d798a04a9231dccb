"""One yes/no vocabulary and one way to put a column name in words (lib/text/words.py), read the same by
every step that uses them."""

from __future__ import annotations

import pandas as pd
import pytest

from lib.act.targeting import ListSpec, build_list
from lib.data.schema import binary_target, guess_positive_class, infer_schema
from lib.models import segment
from lib.models.explain import pretty_name
from lib.models.segment.matrix import _read_column
from lib.models.uplift import resolve_arms
from lib.text.i18n import using
from lib.text.words import column_words, is_yes

SPELLINGS = [("是", "否"), ("Y", "N"), ("yes", "no"), ("True", "False"), (True, False), ("1", "0"), (1, 0),
             (1.0, 0.0)]


def _answers(yes, no) -> pd.Series:
    """A yes/no column with a blank, as a file or a form would hold it (1/0 with a blank reads as 1.0/0.0)."""
    return pd.Series([yes, no, no, yes, None, no, yes, no] * 10, name="answer")


@pytest.mark.parametrize("yes,no", SPELLINGS, ids=[f"{y!r}/{n!r}" for y, n in SPELLINGS])
def test_every_step_reads_a_yes_no_column_the_same_way(yes, no):
    s = _answers(yes, no)
    said_yes = s.map(is_yes)
    assert said_yes[s.notna()].isin([True, False]).all() and said_yes[s.isna()].isna().all()
    # The target: a two-valued column whose positive class is the yes.
    frame = pd.DataFrame({"answer": s, "spend": range(len(s))})
    assert infer_schema(frame).roles["answer"] == "binary"
    assert is_yes(guess_positive_class(s)) is True
    assert (binary_target(s, column="answer").dropna() == said_yes.dropna().astype(float)).all()
    # Segmentation: a flag whose 1 is the yes.
    assert segment.feature_kind(s) == "flag"
    flag = _read_column(s, "answer").values
    assert ((flag == 1) == said_yes.eq(True).to_numpy()).all()
    # Targeting: a consent column drops exactly the customers who said no (a blank is not a no).
    customers = pd.DataFrame({"id": range(len(s)), "consent": s})
    kept = build_list(customers, ListSpec(exclude_no_consent="consent")).table["id"]
    assert sorted(kept) == [i for i in range(len(s)) if said_yes[i] is not False]
    # Uplift: the yes marks the customers who got the campaign, the no the control group.
    treated, control = resolve_arms(s, "answer")
    assert is_yes(treated) is True and is_yes(control) is False


def test_anything_but_a_yes_or_a_no_is_neither():
    for value in ("maybe", "", None, float("nan"), 2, "yes please", "opt-out"):
        assert is_yes(value) is None, value
    assert is_yes("  YES ") is True and is_yes(" n") is False


def test_column_names_become_words():
    assert column_words("SeniorCitizen") == "senior citizen"
    assert column_words("days_between_orders") == "days between orders"
    assert column_words("HTTPStatus") == "http status"
    assert column_words("avg-order.value") == "avg order value"
    assert column_words(" 月消费 ") == "月消费"


def test_reasons_charts_and_segments_name_a_column_with_the_same_words():
    assert segment.column_words is column_words
    assert pretty_name("MonthlyCharges") == column_words("MonthlyCharges") == "monthly charges"
    # The columns Bullseye makes are words it translates.
    assert pretty_name("recency_days") == "recency days"
    with using("zh"):
        assert pretty_name("recency_days") == "距上次购买天数"
        assert pretty_name("PaymentMethod") == "payment method"
