"""Step 6: past campaigns, and the measured lift once results come back."""

import streamlit as st

from lib import plots
from lib.campaigns import campaign_outcomes, labels_from_results, list_campaigns, list_exports, measure_lift
from lib.io import SUPPORTED_EXTENSIONS, file_digest, load_table
from pages import auth, exports, log_steps, state, ui

st.title("Campaigns & results")
owner = auth.current_user()  # everyone sees their own campaigns and downloads only
with ui.guarded("reading the campaign history"):
    history, audit = list_campaigns(owner=owner), list_exports(owner=owner)
if not history.empty:
    st.dataframe(history[["name", "created_at", "selected", "control", "pseudonymised"]], hide_index=True,
                 width="stretch", column_config={"pseudonymised": st.column_config.CheckboxColumn("Pseudonymised")})
with st.expander(f"Downloads (audit trail): {len(audit):,}", expanded=history.empty and not audit.empty):
    st.dataframe(audit, hide_index=True, width="stretch", key="export_audit",
                 column_config={"pseudonymised": st.column_config.CheckboxColumn("Pseudonymised")})
    st.caption("Every file downloaded or written by the command line: who, when, the file's SHA-256 (to trace a "
               "file found later), its columns and rows, and whether its ids were pseudonymised.")
if history.empty:
    st.info("No campaigns yet. Download a list on the Target list page: it is recorded here automatically.")
    st.page_link("pages/targets.py", label="Go to Target list", icon=":material/checklist:")
    st.stop()

name = st.selectbox("Campaign", history["name"].tolist())
st.write("Upload the results: a file with the customer id and whether they responded (and optionally revenue). "
         "A file listing only responders' ids works too.")
results = st.file_uploader("Results file", type=list(SUPPORTED_EXTENSIONS), key="results_upload")
if results is None:
    st.stop()
with ui.guarded("reading the results"):
    frame = load_table(results.getvalue(), results.name).frame
cols = list(frame.columns)
c1, c2, c3 = st.columns(3)
id_col = c1.selectbox("Customer id column", cols)
outcome = c2.selectbox("Responded column", [None] + cols, index=next(
    (i + 1 for i, c in enumerate(cols) if any(w in c.lower() for w in ("respon", "convert", "outcome"))), 0),
    format_func=lambda c: "none: every listed id responded" if c is None else c)
revenue = c3.selectbox("Revenue column (optional)", [None] + cols, format_func=lambda c: "none" if c is None else c)
with ui.guarded("measuring lift"):
    report = measure_lift(name, frame, id_col, outcome, revenue, owner=owner)

(st.success if report.uplift_ci[0] > 0 else st.info)(report.verdict)
m = st.columns(4)
m[0].metric("Target response", f"{report.target_rate:.1%}", help=f"{report.target_n:,} customers")
m[1].metric("Control response", f"{report.control_rate:.1%}", help=f"{report.control_n:,} customers")
m[2].metric("Lift", "n/a" if report.lift is None else f"{report.lift:+.0%}")
m[3].metric("Extra conversions", f"{report.incremental_conversions:,.0f}",
            help=f"95% interval {report.incremental_conversions_ci[0]:,.0f} to {report.incremental_conversions_ci[1]:,.0f}")
if report.incremental_revenue is not None:
    st.metric("Extra revenue", f"{report.incremental_revenue:,.0f}")
if not report.by_decile.empty:
    st.plotly_chart(plots.lift_by_decile(report.by_decile), width="stretch")
if report.unmatched_results:
    st.caption(f"{report.unmatched_results:,} ids in the results file were not in this campaign and were ignored.")
with ui.guarded("preparing labels"):
    labels = labels_from_results(name, frame, id_col, outcome, owner=owner)
pseudo_already = bool(history.loc[history["name"] == name, "pseudonymised"].iloc[0])  # its ids are pseudonyms
exports.download(st, "Download these outcomes as labels for the next model (CSV)", labels, f"{name} labels.csv",
                 id_cols=() if pseudo_already else ("customer_id",), campaign=name)
st.caption("Join the labels to your customer file by id and choose `responded` as the target on the Upload page: "
           "the next model learns from what this campaign's customers actually did.")

st.subheader("Learn who this campaign changes")
if state.source() is None:
    st.info("Load the customer file this list was built from on the Upload page: Bullseye then compares the sent "
            "and control customers to learn who bought *because of* the campaign (uplift).")
    st.stop()
if st.button("Learn who this campaign changes", key="campaign_learn_button"):
    st.session_state["campaign_learn"] = name
if st.session_state.get("campaign_learn") == name:
    with ui.guarded("learning from the campaign"), st.spinner("Learning who the campaign changed…"):
        outcomes = campaign_outcomes(name, frame, id_col, outcome, owner=owner)
        learned = log_steps.learn_from_campaign(name, file_digest(results.getvalue()), outcomes)
    (st.success if learned.beats_random else st.warning)(learned.verdict)
    q = st.columns(3)
    q[0].metric("Qini (normalised)", f"{learned.qini:.3f}")
    q[1].metric("Campaign effect", f"{learned.ate * 100:+.1f} pts")
    q[2].metric("Sent / control", f"{learned.n_treated:,} / {learned.n_control:,}")
    st.plotly_chart(plots.uplift_deciles(learned.uplift_by_decile), width="stretch")
