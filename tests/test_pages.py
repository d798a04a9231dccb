"""Every page under Streamlit's AppTest: the guided flow on a sample, uploads, and friendly errors."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from .conftest import ROOT

APP = str(ROOT / "app.py")


def new_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    return at


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.fixture(scope="module")
def walked():
    """Sample -> segments -> model, shared by the later pages' tests."""
    at = new_app()
    at.button(key="sample_shop_customers.csv").click().run()
    at.switch_page("pages/segments.py").run()
    at.button[0].click().run()
    at.switch_page("pages/propensity.py").run()
    at.button[0].click().run()
    return at


def test_upload_page_waits_for_a_file_and_offers_samples():
    at = new_app()
    no_errors(at)
    assert at.title[0].value == "Upload & understand your data"
    assert len(at.button) == 3
    assert "Waiting for a file" in at.info[0].value


def test_sample_button_shows_roles_quality_and_target():
    at = new_app()
    at.button(key="sample_bank_marketing.csv.gz").click().run()
    no_errors(at)
    assert "45,211 rows × 17 columns" in at.success[0].value
    assert at.session_state["cfg_target"] == "y" and at.session_state["cfg_positive"] == "yes"
    problems = " ".join(w.value for w in at.warning) + " ".join(i.value for i in at.info)
    assert "duration" in problems and "unknown" in problems
    assert [m.label for m in at.metric][:3] == ["Rows", "Columns", "Duplicate rows"]


def test_upload_through_the_file_uploader():
    at = new_app()
    data = "客户编号,城市,消费金额,是否购买\n" + "".join(f"{i},北京,{i * 3},{'是' if i % 3 else '否'}\n" for i in range(1, 200))
    at.file_uploader[0].upload("cn.csv", data.encode("gbk"), "text/csv").run()
    no_errors(at)
    assert "199 rows × 4 columns" in at.success[0].value and "gb18030" in at.success[0].value
    assert at.session_state["cfg_target"] == "是否购买" and at.session_state["cfg_positive"] == "是"


def test_unreadable_upload_gets_a_message_not_a_traceback():
    at = new_app()
    at.file_uploader[0].upload("fake.csv", b"\x00\x01\x02" * 1000, "text/csv").run()
    assert not at.exception
    assert "binary file" in at.error[0].value


def test_later_pages_ask_for_data_first():
    for page in ("segments", "propensity", "explain", "targets"):
        at = new_app()
        at.switch_page(f"pages/{page}.py").run()
        no_errors(at)
        assert "Upload" in at.info[0].value, page


def test_transaction_log_is_rolled_up_on_the_upload_page():
    at = new_app()
    at.button(key="sample_shop_transactions.csv.gz").click().run()
    no_errors(at)
    assert any("into 5,000 customers" in c.value for c in at.caption)


def test_segments_page_finds_named_segments(walked):
    walked.switch_page("pages/segments.py").run()
    no_errors(walked)
    metrics = {m.label: m.value for m in walked.metric}
    assert int(metrics["Segments"]) >= 2 and float(metrics["Stability"]) > 0.8
    assert len(walked.get("plotly_chart")) >= 3


def test_propensity_page_shows_metrics_and_profit(walked):
    walked.switch_page("pages/propensity.py").run()
    no_errors(walked)
    metrics = {m.label: m.value for m in walked.metric}
    assert float(metrics["Holdout AUC"]) > 0.7
    assert int(metrics["Best number to contact"].replace(",", "")) > 0
    # Changing the economics re-plans instantly without retraining (same cached model).
    walked.number_input(key="w_cfg_value").set_value(2.0).run()
    no_errors(walked)
    assert {m.label: m.value for m in walked.metric}["Break-even score"] == "50.0%"


def test_explain_page_answers_why_for_one_customer(walked):
    walked.switch_page("pages/explain.py").run()
    no_errors(walked)
    assert any("Top reasons" in m.value for m in walked.markdown)
    assert len(walked.get("plotly_chart")) >= 3


def test_targets_page_builds_a_list_with_a_control_group(walked):
    walked.switch_page("pages/targets.py").run()
    no_errors(walked)
    metrics = {m.label: m.value for m in walked.metric}
    assert int(metrics["To send"].replace(",", "")) == 900 and int(metrics["Control group"]) == 100
    assert len(walked.get("download_button")) == 3


def test_campaigns_page_explains_how_to_get_a_campaign():
    at = new_app()
    at.switch_page("pages/campaigns.py").run()
    no_errors(at)
    assert "No campaigns yet" in at.info[0].value


def test_segments_page_rfm_groups_with_their_rules():
    at = new_app()
    at.button(key="sample_shop_transactions.csv.gz").click().run()
    at.switch_page("pages/segments.py").run()
    at.radio(key="w_cfg_seg_method").set_value("RFM").run()
    at.button[0].click().run()
    no_errors(at)
    segment_box = [b for b in at.selectbox if b.label == "Segment"][0]
    assert "Champions" in segment_box.options
    assert "Lost" in segment_box.options or "Hibernating" in segment_box.options
    assert any(e.label == "The rule behind each RFM group" for e in at.expander)


def test_campaigns_page_measures_lift_from_a_results_upload():
    import numpy as np
    import pandas as pd

    from lib.act.campaigns import record_campaign
    from lib.act.targeting import ListSpec, build_list

    rng = np.random.default_rng(0)
    customers = pd.DataFrame({"id": [str(i) for i in range(2000)], "score": rng.random(2000)})
    tl = build_list(customers, ListSpec(control_pct=50, seed=1))
    record_campaign("Winter", tl.table, "id", "digest", {}, None)
    treated = tl.table["group"] == "target"
    results = pd.DataFrame({"customer_id": tl.table["id"],
                            "responded": np.where(rng.random(2000) < 0.05 + 0.1 * treated, "yes", "no")})
    at = new_app()
    at.switch_page("pages/campaigns.py").run()
    no_errors(at)
    at.file_uploader(key="results_upload").upload("results.csv", results.to_csv(index=False).encode(), "text/csv").run()
    no_errors(at)
    assert at.success[0].value.startswith("It worked")
    assert {m.label for m in at.metric} >= {"Target response", "Control response", "Lift", "Extra conversions"}
    assert any("labels" in d.label for d in at.get("download_button"))


def test_transaction_log_walk_predicts_buying_again_out_of_time():
    at = new_app()
    at.button(key="sample_shop_transactions.csv.gz").click().run()
    no_errors(at)
    assert any("Bought again within 90 days" in m.value for m in at.markdown)
    at.switch_page("pages/propensity.py").run()
    at.button[0].click().run()
    no_errors(at)
    assert float({m.label: m.value for m in at.metric}["Holdout AUC"]) > 0.8
    assert any("out-of-time" in m.value for m in at.markdown)
    at.switch_page("pages/targets.py").run()
    no_errors(at)
    assert int({m.label: m.value for m in at.metric}["To send"].replace(",", "")) == 900


def test_roll_up_columns_can_be_changed_and_a_bad_choice_undone():
    at = new_app()
    at.button(key="sample_shop_transactions.csv.gz").click().run()
    amount = [b for b in at.selectbox if b.label == "Amount"][0]
    assert amount.value is None and amount.options[0] == "(quantity × unit price)"  # None: shown in words
    [b for b in at.selectbox if b.label == "Date"][0].set_value("category").run()
    assert not at.exception
    assert "date" in at.error[0].value.lower()
    [b for b in at.button if b.label == "Go back to the detected columns"][0].click().run()
    no_errors(at)
    assert [b for b in at.selectbox if b.label == "Date"][0].value == "order_date"


def test_score_a_new_file_with_a_saved_model_then_target_from_it(tmp_path):
    """Score page: an uploaded model file and next month's export -> model card, drift per column, scores;
    the Target list then builds the list from the new scores and records the model's id."""
    import json
    import subprocess
    import sys

    import pandas as pd

    model_path = tmp_path / "shop.bullseye"
    proc = subprocess.run([sys.executable, "-m", "lib.cli", "run", "--input", str(ROOT / "sample_data" /
                           "shop_customers.csv"), "--out", str(tmp_path / "o"), "--target", "responded",
                           "--save-model", str(model_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    new = pd.read_csv(ROOT / "sample_data" / "shop_customers.csv").head(1500)
    new["region"] = new["region"].where(new.index % 4 > 0, "Atlantis")
    at = new_app()
    at.switch_page("pages/score.py").run()
    no_errors(at)
    assert at.radio(key="score_which").options == ["A saved model file"]  # nothing trained in this session
    at.file_uploader(key="score_model").upload("shop.bullseye", model_path.read_bytes(), "application/zip").run()
    at.file_uploader(key="score_file").upload("next.csv", new.to_csv(index=False).encode(), "text/csv").run()
    [b for b in at.button if b.label == "Score this file"][0].click().run()
    no_errors(at)
    assert any("**Predicts:** responded = yes" in m.value for m in at.markdown)
    assert any("'region'" in w.value and "Atlantis" in w.value for w in at.warning)
    assert {m.label: m.value for m in at.metric}["Customers scored"] == "1,500"
    at.switch_page("pages/targets.py").run()
    no_errors(at)
    assert any("scored by a saved model" in c.value for c in at.caption)
    assert int({m.label: m.value for m in at.metric}["To send"].replace(",", "")) == 900
    card = json.loads((tmp_path / "o" / "report.json").read_text())["model"]
    assert card["model_id"]
    at.switch_page("pages/score.py").run()
    [b for b in at.button if b.label == "Back to the trained file"][0].click().run()
    no_errors(at)
    assert "Score this file" in at.info[0].value and not at.metric  # nothing scored on screen any more


def test_a_foreign_model_file_is_refused_on_the_score_page():
    at = new_app()
    at.switch_page("pages/score.py").run()
    at.file_uploader(key="score_model").upload("fake.bullseye", b"PK not a model", "application/zip").run()
    at.file_uploader(key="score_file").upload("next.csv", b"id,a\n1,2\n2,3\n", "text/csv").run()
    [b for b in at.button if b.label == "Score this file"][0].click().run()
    assert not at.exception
    assert "not a Bullseye model file" in at.error[0].value


def test_uplift_page_learns_who_the_campaign_changes_and_the_list_ranks_by_it(tmp_path):
    import pandas as pd

    from .test_cli import _planted_campaign

    _planted_campaign(tmp_path / "campaign.csv")
    at = new_app()
    at.file_uploader[0].upload("campaign.csv", (tmp_path / "campaign.csv").read_bytes(), "text/csv").run()
    at.selectbox(key="w_cfg_target").set_value("converted").run()
    at.switch_page("pages/uplift.py").run()
    no_errors(at)
    assert at.selectbox(key="w_cfg_treatment").value == "group"
    [b for b in at.button if b.label == "Model the uplift"][0].click().run()
    no_errors(at)
    assert at.success[0].value.startswith("Targeting by uplift beats")
    assert float({m.label: m.value for m in at.metric}["Qini (normalised)"]) > 0.05
    at.switch_page("pages/propensity.py").run()
    at.button[0].click().run()
    assert "group" not in at.multiselect[0].value  # who got the campaign is no propensity feature either
    at.switch_page("pages/targets.py").run()
    if any(c.key == "tgt_use_anyway" for c in at.checkbox):
        at.checkbox(key="tgt_use_anyway").check().run()  # the propensity gate may fail on this file
    no_errors(at)
    # The uplift model beats random, so the list ranks by it unless the user chooses otherwise (the same
    # policy as the CLI's run).
    assert at.radio(key="w_cfg_tgt_rank").value == "uplift"
    assert "Expected extra responders" in {m.label for m in at.metric}
    shown = at.dataframe[-1].value
    ages = pd.read_csv(tmp_path / "campaign.csv").set_index("customer_id")["age"]
    assert (ages.loc[shown["customer_id"].astype(int)] < 35).mean() > 0.6
    # The model saved from the app carries the uplift model: a new file scored by it is ranked by uplift too.
    at.switch_page("pages/score.py").run()
    at.file_uploader(key="score_file").upload("again.csv", (tmp_path / "campaign.csv").read_bytes(), "text/csv").run()
    [b for b in at.button if b.label == "Score this file"][0].click().run()
    no_errors(at)
    at.switch_page("pages/targets.py").run()
    if any(c.key == "tgt_use_anyway" for c in at.checkbox):
        at.checkbox(key="tgt_use_anyway").check().run()
    no_errors(at)
    assert "Expected extra responders" in {m.label for m in at.metric}
    again = at.dataframe[-1].value
    assert (ages.loc[again["customer_id"].astype(int)] < 35).mean() > 0.6


def test_recommendations_page_evaluates_recommends_and_offers_go_on_the_list():
    at = new_app()
    at.button(key="sample_shop_transactions.csv.gz").click().run()
    at.switch_page("pages/recommend.py").run()
    no_errors(at)
    [b for b in at.button if b.label == "Recommend"][0].click().run()
    no_errors(at)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Customers checked"].replace(",", "")) > 100 and metrics["Method chosen"]
    table = next(d.value for d in at.dataframe if "reason" in d.value.columns)
    assert list(table.columns) == ["rank", "item", "description", "reason"]
    assert len(table) == min(10, int(metrics["Products"].replace(",", "")))  # the shop sells 5 categories
    at.switch_page("pages/propensity.py").run()
    at.button[0].click().run()
    at.switch_page("pages/targets.py").run()
    no_errors(at)
    assert {"recommended_1", "recommended_2", "recommended_3"} <= set(at.dataframe[-1].value.columns)


def test_recommendations_page_explains_it_needs_a_log():
    at = new_app()
    at.button(key="sample_shop_customers.csv").click().run()
    at.switch_page("pages/recommend.py").run()
    no_errors(at)
    assert "need a transaction log" in at.info[0].value


def test_customer_value_page_forecasts_validates_and_lists_customers_slipping_away():
    at = new_app()
    at.button(key="sample_shop_transactions.csv.gz").click().run()
    at.switch_page("pages/segments.py").run()
    at.button[0].click().run()
    at.switch_page("pages/value.py").run()
    no_errors(at)
    [b for b in at.button if b.label == "Predict value"][0].click().run()
    no_errors(at)
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Revenue forecast, next 90 days"].replace(",", "")) > 0
    assert metrics["Customers"] == "5,000"
    frames = [d.value for d in at.dataframe]
    validation = next(f for f in frames if "spearman" in f.columns)
    assert {"naive", "bgnbd"} <= set(validation["method"])
    by_segment = next(f for f in frames if "share_of_total" in f.columns)
    assert by_segment["predicted_value"].sum() == pytest.approx(
        float(metrics["Revenue forecast, next 90 days"].replace(",", "")), rel=0.01)
    assert len(at.get("plotly_chart")) >= 2
    # The list can rank by expected profit: score × each customer's predicted value − cost.
    at.switch_page("pages/propensity.py").run()
    at.button[0].click().run()
    at.switch_page("pages/targets.py").run()
    at.radio(key="w_cfg_tgt_rank").set_value("expected_profit").run()
    no_errors(at)
    assert any("predicted value" in c.value for c in at.caption)
    shown = at.dataframe[-1].value
    worth = (shown["score"] * shown["predicted_value"]).to_numpy()
    assert (worth[:-1] >= worth[1:] - 1e-6).all()  # best expected profit first


def test_campaigns_page_learns_who_a_recorded_campaign_changed(tmp_path):
    import numpy as np
    import pandas as pd

    from lib.act.campaigns import record_campaign

    from .test_cli import _planted_campaign

    _planted_campaign(tmp_path / "campaign.csv")
    planted = pd.read_csv(tmp_path / "campaign.csv")
    sent = pd.DataFrame({"id": planted["customer_id"].astype(str), "score": 0.5,
                         "group": np.where(planted["group"] == "email", "target", "control")})
    record_campaign("Spring", sent, "id", "digest", {}, None)
    at = new_app()
    at.file_uploader[0].upload("customers.csv", planted.drop(columns=["group", "converted"]).to_csv(index=False)
                               .encode(), "text/csv").run()
    at.switch_page("pages/campaigns.py").run()
    at.file_uploader(key="results_upload").upload("results.csv", planted[["customer_id", "converted"]].to_csv(
        index=False).encode(), "text/csv").run()
    no_errors(at)
    [b for b in at.button if b.label == "Learn who this campaign changes"][0].click().run()
    no_errors(at)
    assert any(s.value.startswith("Targeting by uplift beats") for s in at.success)
    assert float({m.label: m.value for m in at.metric}["Qini (normalised)"]) > 0.05
