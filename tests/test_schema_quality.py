"""Column roles, target detection and the data-quality report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.errors import DataValidationError
from lib.io import load_table
from lib.quality import assess_quality, find_leakage
from lib.schema import binary_target, guess_positive_class, infer_schema

from .conftest import SAMPLES


def test_shop_sample_roles(shop_loaded):
    roles = infer_schema(shop_loaded.frame).roles
    assert roles["customer_id"] == "identifier"
    assert roles["email"] == "pii" and roles["name"] == "pii"
    assert roles["signup_date"] == "date"
    assert roles["region"] == "categorical"
    assert roles["orders"] == "numeric"
    # Behaviour about email is not personal data.
    assert roles["email_opens_90d"] == "numeric"
    assert roles["email_consent"] == "binary"
    assert roles["responded"] == "binary"


def test_identifier_pii_constant_and_empty_columns_are_never_features():
    n = 200
    frame = pd.DataFrame({
        "customer_id": np.arange(n),
        "phone": [f"+44 20 7946 {i:04d}" for i in range(n)],
        "constant": ["x"] * n,
        "mostly_empty": [1.0] + [np.nan] * (n - 1),
        "spend": np.linspace(1, 100, n),
        "notes": [f"called on day {i} and the customer asked about the delivery window again" for i in range(n)],
    })
    schema = infer_schema(frame)
    assert schema.roles == {"customer_id": "identifier", "phone": "pii", "constant": "constant",
                            "mostly_empty": "empty", "spend": "numeric", "notes": "text"}
    assert schema.feature_columns() == ["spend"]
    reasons = {e["column"]: e["reason"] for e in schema.excluded()}
    assert set(reasons) == {"customer_id", "phone", "constant", "mostly_empty", "notes"}
    assert "identifier" in reasons["customer_id"]


def test_user_can_override_a_role():
    schema = infer_schema(pd.DataFrame({"code": ["a", "b", "a", "c"] * 10, "v": range(40)}))
    changed = schema.with_role("code", "identifier")
    assert changed.roles["code"] == "identifier" and "code" not in changed.feature_columns()
    with pytest.raises(DataValidationError, match="not a role"):
        schema.with_role("code", "wizard")


def test_target_candidates_named_like_outcomes_come_first():
    frame = pd.DataFrame({"vip": ["y", "n"] * 50, "churned": ["yes", "no", "no", "no"] * 25, "age": range(100)})
    schema = infer_schema(frame)
    assert schema.target_candidates[0] == "churned"
    assert schema.positive_classes["churned"] == "yes"


@pytest.mark.parametrize(
    "values,expected_positive",
    [(["yes", "no"], "yes"), (["Y", "N"], "Y"), (["是", "否"], "是"), (["True", "False"], "True"),
     ([1.0, 0.0], "1.0"), (["gold", "silver", "silver"], "gold")],
)
def test_positive_class_guess(values, expected_positive):
    assert guess_positive_class(pd.Series(values * 10)) == expected_positive


@pytest.mark.parametrize(
    "values,positive",
    [(["yes", "no", "", None], "yes"), (["Y", "N", "N", None], "Y"), (["是", "否", "否", None], "是"),
     (["True", "False", "False", None], "True"), ([1.0, 0.0, 0.0, np.nan], "1")],
)
def test_binary_target_accepts_any_spelling_and_keeps_blanks_unlabelled(values, positive):
    y = binary_target(pd.Series(values), positive)
    assert y.iloc[0] == 1.0 and y.iloc[1] == 0.0 and np.isnan(y.iloc[3])


def test_target_with_one_class_or_many_values_is_refused():
    with pytest.raises(DataValidationError, match="only one class"):
        binary_target(pd.Series(["yes"] * 10), "yes", column="t")
    with pytest.raises(DataValidationError, match="exactly two"):
        binary_target(pd.Series(["a", "b", "c"] * 5), "a", column="t")
    with pytest.raises(DataValidationError, match="does not occur"):
        binary_target(pd.Series(["a", "b"] * 5), "z", column="t")


def test_quality_report_flags_sentinels_missing_duplicates_and_small_files():
    frame = pd.DataFrame({
        "id": [1, 2, 3, 3, 5, 6, 7, 8, 9, 10] * 3,
        "job": ["unknown", "admin", "tech", "tech", "admin"] * 6,
        "pdays": [-1, -1, 5, 10, 20, 30] * 5,
        "income": [np.nan] * 12 + list(range(18)),
    })
    frame = pd.concat([frame, frame.iloc[[15]]], ignore_index=True)  # one exact duplicate row
    report = assess_quality(frame, infer_schema(frame))
    text = " ".join(p.message for p in report.problems)
    assert "'job' uses 'unknown'" in text
    assert "'pdays' uses -1" in text
    assert "'income' is missing in 39% of rows" in text
    assert "Only 31 rows" in text
    assert report.duplicate_rows == 1
    assert all(p.fix for p in report.problems)


def test_copied_target_is_caught_as_leakage():
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.3
    frame = pd.DataFrame({"x": rng.normal(size=500), "copy": np.where(y, "Y", "N"), "target": np.where(y, "yes", "no")})
    schema = infer_schema(frame)
    leaks = find_leakage(frame, schema, "target")
    assert [item["column"] for item in leaks if item["kind"] == "predicts_target"] == ["copy"]


def test_bank_duration_is_flagged_as_known_after_the_outcome():
    bank = load_table(SAMPLES / "bank_marketing.csv.gz").frame
    report = assess_quality(bank, infer_schema(bank), "y", "yes")
    flagged = {item["column"]: item["kind"] for item in report.leakage_suspects}
    assert flagged.get("duration") == "after_outcome"
    assert report.class_balance["positive"] == 5289 and report.class_balance["negative"] == 39922


def test_fast_auc_equals_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score

    from lib.quality import fast_auc

    rng = np.random.default_rng(0)
    y = rng.random(2000) < 0.3
    x = np.round(rng.normal(size=2000) + y, 1)  # many ties
    assert fast_auc(y, x) == pytest.approx(roc_auc_score(y, x), abs=1e-12)
