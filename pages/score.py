"""Score a new file with a saved model: next month's export, the same model, a drift check first."""

import streamlit as st

from lib.data.io import SUPPORTED_EXTENSIONS, file_digest
from lib.flow.model_file import SUFFIX, model_card
from lib.text.i18n import number, percent, t
from pages import headers, state, ui
from pages import scored as scored_steps

st.title(t("Score a new file"))
st.write(t("Use a model trained earlier (a `.bullseye` file, or the one trained in this session) on a new customer "
           "file: Bullseye checks the file against what the model was trained on, scores and explains every "
           "customer, and the Explain and Target list pages then work on the new scores."))

trained = state.train_settings() is not None and state.source() is not None
choices = {"trained": t("The model trained in this session"), "saved": t("A saved model file")}
which = st.radio(t("Model"), list(choices)[0 if trained else 1:], horizontal=True, key="score_which",
                 format_func=choices.get)
model_upload = None
if which == "saved":
    model_upload = st.file_uploader(t("Model file (.bullseye)"), type=[SUFFIX.lstrip("."), "zip"], key="score_model")
new_upload = st.file_uploader(t("New customer file"), type=list(SUPPORTED_EXTENSIONS), key="score_file")

active = state.scoring_new_file()
ready = new_upload is not None and (which != "saved" or model_upload is not None)
if ready and st.button(t("Score this file"), type="primary"):
    data = new_upload.getvalue()
    model = "trained" if model_upload is None else {"name": model_upload.name, "data": model_upload.getvalue(),
                                                    "digest": file_digest(model_upload.getvalue())}
    st.session_state["score_active"] = {"model": model,
                                        "file": {"name": new_upload.name, "data": data, "digest": file_digest(data)}}
    st.rerun()
if not active:
    st.info(t("Choose the model and the new file, then press **Score this file**.") if not ready else
            t("Press **Score this file** to check and score it."))
    st.stop()

with ui.guarded(t("reading the model")), st.spinner(t("Reading the model…")):
    bundle = scored_steps.bundle()
st.subheader(t("The model"))
ui.model_card(model_card(bundle))

with ui.guarded(t("checking the new file")), st.spinner(t("Checking {name} against the model…",
                                                           name=active["file"]["name"])):
    new = scored_steps.new_file()
st.subheader(t("Has the data moved since training?"))
if not new.drift.items:
    st.success(t("Every model column looks like it did in training ({n} columns checked).", n=len(new.drift.psi)))
for item in new.drift.items:
    st.warning(item.message)
for w in new.warnings:
    if w not in new.drift.warnings:
        st.info(w)

with ui.guarded(t("scoring the new file")), st.spinner(t("Scoring and explaining every customer…")):
    scored = scored_steps.new_file_scored(progress=ui.progress_bar(len(new.ids)))
st.subheader(t("Scores"))
m = st.columns(3)
m[0].metric(t("Customers scored"), number(len(scored.scores)))
m[1].metric(t("Average score"), percent(scored.scores.mean()))
m[2].metric(t("Segments"), t("none saved") if scored.segmentation is None else scored.segmentation.k)
if scored.segmentation is not None:
    st.plotly_chart(scored_steps.score_by_segment_chart(scored), width="stretch")
top = scored.table().sort_values("rank").head(200)
st.dataframe(top, width="stretch", hide_index=True, column_config=headers.shown(top))
c1, c2, c3 = st.columns(3)
c1.page_link("pages/explain.py", label=t("Explain these scores"), icon=":material/lightbulb:")
c2.page_link("pages/targets.py", label=t("Build a target list from them"), icon=":material/checklist:")
if c3.button(t("Back to the trained file")):
    st.session_state.pop("score_active", None)
    st.rerun()
