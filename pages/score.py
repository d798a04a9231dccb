"""Score a new file with a saved model: next month's export, the same model, a drift check first."""

import streamlit as st

from lib.io import SUPPORTED_EXTENSIONS, file_digest
from lib.model_file import SUFFIX, model_card
from pages import scored as scored_steps
from pages import state, ui

st.title("Score a new file")
st.write("Use a model trained earlier (a `.bullseye` file, or the one trained in this session) on a new customer "
         "file: Bullseye checks the file against what the model was trained on, scores and explains every "
         "customer, and the Explain and Target list pages then work on the new scores.")

trained = state.train_settings() is not None and state.source() is not None
choices = (["The model trained in this session"] if trained else []) + ["A saved model file"]
which = st.radio("Model", choices, horizontal=True, key="score_which")
model_upload = None
if which == "A saved model file":
    model_upload = st.file_uploader("Model file (.bullseye)", type=[SUFFIX.lstrip("."), "zip"], key="score_model")
new_upload = st.file_uploader("New customer file", type=list(SUPPORTED_EXTENSIONS), key="score_file")

active = state.scoring_new_file()
ready = new_upload is not None and (which != "A saved model file" or model_upload is not None)
if ready and st.button("Score this file", type="primary"):
    data = new_upload.getvalue()
    model = "trained" if model_upload is None else {"name": model_upload.name, "data": model_upload.getvalue(),
                                                    "digest": file_digest(model_upload.getvalue())}
    st.session_state["score_active"] = {"model": model,
                                        "file": {"name": new_upload.name, "data": data, "digest": file_digest(data)}}
    st.rerun()
if not active:
    st.info("Choose the model and the new file, then press **Score this file**." if not ready else
            "Press **Score this file** to check and score it.")
    st.stop()

with ui.guarded("reading the model"), st.spinner("Reading the model…"):
    bundle = scored_steps.bundle()
st.subheader("The model")
ui.model_card(model_card(bundle))

with ui.guarded("checking the new file"), st.spinner(f"Checking {active['file']['name']} against the model…"):
    new = scored_steps.new_file()
st.subheader("Has the data moved since training?")
if not new.drift.items:
    st.success(f"Every model column looks like it did in training ({len(new.drift.psi)} columns checked).")
for item in new.drift.items:
    st.warning(item.message)
for w in new.warnings:
    if w not in new.drift.warnings:
        st.info(w)

with ui.guarded("scoring the new file"), st.spinner("Scoring and explaining every customer…"):
    scored = scored_steps.new_file_scored(progress=ui.progress_bar(len(new.ids)))
st.subheader("Scores")
m = st.columns(3)
m[0].metric("Customers scored", f"{len(scored.scores):,}")
m[1].metric("Average score", f"{scored.scores.mean():.1%}")
m[2].metric("Segments", "none saved" if scored.segmentation is None else scored.segmentation.k)
if scored.segmentation is not None:
    st.plotly_chart(scored_steps.score_by_segment_chart(scored), width="stretch")
st.dataframe(scored.table().sort_values("rank").head(200), width="stretch", hide_index=True)
c1, c2, c3 = st.columns(3)
c1.page_link("pages/explain.py", label="Explain these scores", icon=":material/lightbulb:")
c2.page_link("pages/targets.py", label="Build a target list from them", icon=":material/checklist:")
if c3.button("Back to the trained file"):
    st.session_state.pop("score_active", None)
    st.rerun()
