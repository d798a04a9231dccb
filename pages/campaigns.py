"""Step 6: past campaigns, and the measured lift once results come back."""

import streamlit as st

from lib.act import plots
from lib.act.campaigns import campaign_outcomes, labels_from_results, list_campaigns, list_exports, measure_lift
from lib.data.io import SUPPORTED_EXTENSIONS, file_digest, load_table
from lib.text.i18n import number, percent, t
from pages import auth, exports, headers, log_steps, state, ui

st.title(t("Campaigns & results"))
owner = auth.current_user()  # everyone sees their own campaigns and downloads only
with ui.guarded(t("reading the campaign history")):
    history, audit = list_campaigns(owner=owner), list_exports(owner=owner)
pseudo_col = {"pseudonymised": st.column_config.CheckboxColumn(t("Pseudonymised"))}
if not history.empty:
    past = history[["name", "created_at", "selected", "control", "pseudonymised"]]
    st.dataframe(past, hide_index=True, width="stretch", column_config={**headers.shown(past), **pseudo_col})
with st.expander(t("Downloads (audit trail): {n}", n=number(len(audit))), expanded=history.empty and not audit.empty):
    st.dataframe(audit, hide_index=True, width="stretch", key="export_audit",
                 column_config={**headers.shown(audit), **pseudo_col})
    st.caption(t("Every file downloaded or written by the command line: who, when, the file's SHA-256 (to trace a "
                 "file found later), its columns and rows, and whether its ids were pseudonymised."))
if history.empty:
    st.info(t("No campaigns yet. Download a list on the Target list page: it is recorded here automatically."))
    st.page_link("pages/targets.py", label=t("Go to Target list"), icon=":material/checklist:")
    st.stop()

name = st.selectbox(t("Campaign"), history["name"].tolist(), key="campaign_pick")
st.write(t("Upload the results: a file with the customer id and whether they responded (and optionally revenue). "
           "A file listing only responders' ids works too."))
results = st.file_uploader(t("Results file"), type=list(SUPPORTED_EXTENSIONS), key="results_upload")
if results is None:
    st.stop()
with ui.guarded(t("reading the results")):
    frame = load_table(results.getvalue(), results.name).frame
cols = list(frame.columns)
c1, c2, c3 = st.columns(3)
id_col = c1.selectbox(t("Customer id column"), cols, key=f"campaign_id_{results.file_id}")
outcome = c2.selectbox(t("Responded column"), [None] + cols, index=next(
    (i + 1 for i, c in enumerate(cols) if any(w in c.lower() for w in ("respon", "convert", "outcome"))), 0),
    format_func=ui.none_as(t("none: every listed id responded")),
    key=f"campaign_outcome_{results.file_id}")
revenue = c3.selectbox(t("Revenue column (optional)"), [None] + cols, format_func=ui.none_as(t("none")),
                       key=f"campaign_revenue_{results.file_id}")
with ui.guarded(t("measuring lift")):
    report = measure_lift(name, frame, id_col, outcome, revenue, owner=owner)

(st.success if report.uplift_ci[0] > 0 else st.info)(report.verdict)
m = st.columns(4)
m[0].metric(t("Target response"), percent(report.target_rate), help=t("{n} customers", n=number(report.target_n)))
m[1].metric(t("Control response"), percent(report.control_rate), help=t("{n} customers", n=number(report.control_n)))
m[2].metric(t("Lift"), t("n/a") if report.lift is None else f"{report.lift:+.0%}")
m[3].metric(t("Extra conversions"), number(report.incremental_conversions), help=t(
    "95% interval {low} to {high}", low=number(report.incremental_conversions_ci[0]),
    high=number(report.incremental_conversions_ci[1])))
if report.incremental_revenue is not None:
    st.metric(t("Extra revenue"), number(report.incremental_revenue))
if not report.by_decile.empty:
    st.plotly_chart(plots.lift_by_decile(report.by_decile), width="stretch")
if report.unmatched_results:
    st.caption(t("{n} ids in the results file were not in this campaign and were ignored.",
                 n=number(report.unmatched_results)))
with ui.guarded(t("preparing labels")):
    labels = labels_from_results(name, frame, id_col, outcome, owner=owner)
pseudo_already = bool(history.loc[history["name"] == name, "pseudonymised"].iloc[0])  # its ids are pseudonyms
exports.downloads(t("Download these outcomes as labels for the next model"), labels, f"{name} labels",
                  id_cols=() if pseudo_already else ("customer_id",), campaign=name)
st.caption(t("Join the labels to your customer file by id and choose `responded` as the target on the Upload page: "
             "the next model learns from what this campaign's customers actually did."))

st.subheader(t("Learn who this campaign changes"))
if state.source() is None:
    st.info(t("Load the customer file this list was built from on the Upload page: Bullseye then compares the sent "
              "and control customers to learn who bought *because of* the campaign (uplift)."))
    st.stop()
if st.button(t("Learn who this campaign changes"), key="campaign_learn_button"):
    st.session_state["campaign_learn"] = name
if st.session_state.get("campaign_learn") == name:
    with ui.guarded(t("learning from the campaign")), st.spinner(t("Learning who the campaign changed…")):
        outcomes = campaign_outcomes(name, frame, id_col, outcome, owner=owner)
        learned = log_steps.learn_from_campaign(name, file_digest(results.getvalue()), outcomes)
    (st.success if learned.beats_random else st.warning)(learned.verdict)
    q = st.columns(3)
    q[0].metric(t("Qini (normalised)"), f"{learned.qini:.3f}")
    q[1].metric(t("Campaign effect"), t("{points} pts", points=f"{learned.ate * 100:+.1f}"))
    q[2].metric(t("Sent / control"), f"{number(learned.n_treated)} / {number(learned.n_control)}")
    st.plotly_chart(plots.uplift_deciles(learned.uplift_by_decile), width="stretch")
