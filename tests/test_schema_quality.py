"""Column roles, target detection and the data-quality report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.data.io import load_table
from lib.data.quality import assess_quality, find_leakage
from lib.data.schema import binary_target, guess_positive_class, infer_schema
from lib.errors import DataValidationError

from .conftest import SAMPLES, SHARED, requires_shared


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
    with pytest.raises(DataValidationError, match="Name the positive class"):
        binary_target(pd.Series(["a", "b", "c"] * 5), column="t")
    # With the positive class named, a three-valued target is that value against the rest.
    assert binary_target(pd.Series(["a", "b", "c"] * 5), "a", column="t").tolist() == [1.0, 0.0, 0.0] * 5
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

    from lib.data.quality import fast_auc

    rng = np.random.default_rng(0)
    y = rng.random(2000) < 0.3
    x = np.round(rng.normal(size=2000) + y, 1)  # many ties
    assert fast_auc(y, x) == pytest.approx(roc_auc_score(y, x), abs=1e-12)


# --- the quality report says what the loader read as missing ------------------------------------


def test_quality_report_names_the_codes_read_as_missing_per_column(tmp_path):
    income = [str(20_000 + 150 * i) for i in range(300)]
    for i in range(37):
        income[2 + 7 * i] = "N/A"
    for i in range(4):
        income[5 + 7 * i] = "-"
    path = tmp_path / "income.csv"
    path.write_text("id,income,region\n" + "".join(f"{i + 1},{v},{'NS'[i % 2]}\n" for i, v in enumerate(income)))
    loaded = load_table(path)
    report = assess_quality(loaded.frame, infer_schema(loaded.frame))
    said = [p for p in report.problems if p.column == "income"]
    assert [p.message for p in said][0] == "'income': 37 cells held 'N/A' and 4 held '-'; read as missing."
    assert said[0].severity == "info" and said[0].fix
    row = report.column_table.set_index("column").loc["income"]
    assert row["type"] == "number" and "37 cells held 'N/A'" in row["problems"]
    # Passed explicitly (a copy of the frame has no attrs), or switched off.
    bare = loaded.frame.copy()
    bare.attrs = {}
    assert assess_quality(bare, infer_schema(bare), fixes=loaded.fixes).problems[0].message == said[0].message
    assert not any("held" in p.message for p in assess_quality(loaded.frame, infer_schema(bare), fixes=()).problems)


def test_quality_report_names_impossible_numbers_set_to_missing(tmp_path):
    rows = [f"{i + 1},{25 + i % 40},{(i * 13) % 400 + 0.5}" for i in range(200)]
    rows[6] = "7,-2,10.5"
    rows[40] = "41,31,inf"
    path = tmp_path / "odd.csv"
    path.write_text("id,age,spend\n" + "\n".join(rows) + "\n")
    report = assess_quality(load_table(path).frame, infer_schema(load_table(path).frame))
    messages = {p.column: p for p in report.problems if "set to missing" in p.message}
    assert messages["age"].message == ("'age': 1 impossible age (below 0 or above 120; data row 7) was set to missing.")
    assert messages["spend"].message == "'spend': 1 infinite value (data row 41) was set to missing."
    assert messages["age"].severity == "warning" and all(p.fix for p in report.problems)


# --- leakage: every outcome column caught, ordinary features left alone ---------------------------


def _email_campaign(n: int = 5000, seed: int = 3) -> pd.DataFrame:
    """An e-mail campaign log shaped like Hillstrom's MineThatData challenge: who was mailed, what they
    did before, and what happened after (a visit to the site, then a purchase)."""
    rng = np.random.default_rng(seed)
    recency = rng.integers(1, 13, n)
    history = (rng.gamma(2, 120, n) + 29.99).round(2)
    channel = rng.choice(["Web", "Phone", "Multichannel"], n, p=[0.44, 0.44, 0.12])
    mailed = rng.choice(["Mens E-Mail", "Womens E-Mail", "No E-Mail"], n)
    newbie = rng.integers(0, 2, n)
    logit = -4.6 - 0.09 * recency + 0.0015 * history + 0.5 * (channel == "Multichannel") - 0.6 * (mailed == "No E-Mail")
    conversion = rng.random(n) < 1 / (1 + np.exp(-logit))
    visit = conversion | (rng.random(n) < 0.15)  # every buyer visited first; so did 15% of the others
    spend = np.where(conversion, rng.gamma(3, 40, n).round(2), 0.0)  # only known after the campaign
    return pd.DataFrame({"customer_id": np.arange(1, n + 1), "recency": recency, "history": history,
                         "channel": channel, "segment": mailed, "newbie": newbie, "visit": visit.astype(int),
                         "spend": spend, "conversion": conversion.astype(int)})


def test_visit_and_spend_after_an_email_campaign_are_caught_as_leaks(tmp_path):
    path = tmp_path / "email_campaign.csv"
    _email_campaign().to_csv(path, index=False)
    frame = load_table(path).frame
    report = assess_quality(frame, infer_schema(frame), "conversion", "1")
    assert 30 <= report.class_balance["positive"] <= 80  # about 1% of 5,000
    flagged = {item["column"]: item for item in report.leakage_suspects}
    assert set(flagged) == {"visit", "spend"}
    assert flagged["visit"]["kind"] == "necessary_condition"
    assert flagged["visit"]["auc"] < 0.95  # the AUC rule alone would have missed it
    assert "for 100% of the" in flagged["visit"]["reason"] and "site visit before a purchase" in flagged["visit"]["reason"]
    assert flagged["spend"]["kind"] == "predicts_target" and flagged["spend"]["auc"] == 1.0
    said = {p.column: p for p in report.problems if p.column in flagged}
    assert said["visit"].message == flagged["visit"]["reason"] and "left out of the model" in said["visit"].fix


def test_a_strong_ordinary_feature_is_not_a_necessary_condition():
    # Nearly every responder opened an e-mail lately, but so did most others: predictive, not a leak.
    rng = np.random.default_rng(1)
    n = 4000
    y = rng.random(n) < 0.1
    opens = np.where(y, rng.random(n) < 0.97, rng.random(n) < 0.62) * rng.integers(1, 9, n)
    member = np.where(y, "yes", np.where(rng.random(n) < 0.55, "yes", "no"))  # yes for all responders, 55% of others
    frame = pd.DataFrame({"email_opens_90d": opens, "member": member, "responded": np.where(y, "yes", "no")})
    leaks = find_leakage(frame, infer_schema(frame), "responded")
    assert leaks == []


def test_a_handful_of_positives_is_too_few_to_call_a_necessary_condition():
    # 10 buyers who all happen to hold a flag 40% of everyone holds: chance, not a leak.
    y = np.array([1] * 10 + [0] * 490)
    flag = np.array([1] * 10 + [1] * 196 + [0] * 294)
    frame = pd.DataFrame({"flag": flag, "spend": np.arange(500) % 37, "bought": y})
    assert find_leakage(frame, infer_schema(frame), "bought") == []


@pytest.mark.parametrize(
    "name,flagged",
    [("duration", True), ("call_duration_sec", True), ("SpendAfterCampaign", True), ("visits_post", True), ("SpendPost", True),
     ("revenue_post_campaign", True), ("refund_amount", True), ("Response Date", True), ("converted_at", True),
     ("poutcome", False), ("avg_session_duration", False), ("days_after_signup", False), ("post_count", False),
     ("previous_call_duration", False), ("tenure_days", False)],
)
def test_names_of_columns_recorded_after_the_outcome(name, flagged):
    rng = np.random.default_rng(0)
    y = rng.random(600) < 0.3
    frame = pd.DataFrame({name: rng.normal(100, 10, 600) + 2 * y, "target": np.where(y, "yes", "no")})
    kinds = [item["kind"] for item in find_leakage(frame, infer_schema(frame), "target")]
    assert kinds == (["after_outcome"] if flagged else [])


@requires_shared
def test_leakage_on_real_marketing_files_flags_only_real_leaks():
    bank = load_table(SHARED / "bank_marketing" / "bank-full.csv").frame
    leaks = find_leakage(bank, infer_schema(bank), "y", binary_target(bank["y"], "yes", column="y"))
    assert [(item["column"], item["kind"]) for item in leaks] == [("duration", "after_outcome")]
    people = load_table(SHARED / "customer_personality" / "marketing_campaign.csv").frame
    schema = infer_schema(people)
    assert find_leakage(people, schema, "Response", binary_target(people["Response"], "1", column="Response")) == []
    shop = load_table(SAMPLES / "shop_customers.csv").frame
    assert find_leakage(shop, infer_schema(shop), "responded") == []
