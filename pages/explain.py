"""Step 4: why the model scores customers as it does: overall, by segment, per customer, as reasons."""

import numpy as np
import streamlit as st

from lib import plots
from lib.explain import pretty_name, reasons_in_words, segment_importance, strongest_interaction
from lib.privacy import SMALL_GROUP
from pages import state, ui

st.title("Explain the scores")
scored = ui.require_scores()
expl, frame = scored.explanation, scored.frame.reset_index(drop=True)
st.caption(f"Exact TreeSHAP for all {expl.values.shape[0]:,} customers by {expl.method} in {expl.seconds:.1f} s. "
           "Effects are in log-odds inside the model and shown here as approximate probability points.")

overall, by_segment, customer, reasons_tab = st.tabs(["Overall", "By segment", "One customer", "Reason codes"])
with overall:
    st.plotly_chart(plots.importance_chart(expl), width="stretch")
    st.plotly_chart(plots.beeswarm(expl, frame), width="stretch")
    feature = st.selectbox("See how one feature moves the score", list(expl.importance()["feature"]),
                           format_func=pretty_name)
    color = strongest_interaction(expl, frame, feature, model=scored.model)
    st.plotly_chart(plots.dependence(expl, frame, feature, color), width="stretch")

with by_segment:
    seg = scored.segmentation
    if seg is None:
        st.info("Segment customers on the Segments page to compare what drives each segment.")
    else:
        small = [s.name for s in seg.segments if s.size < SMALL_GROUP]  # drivers of a handful of people: not shown
        table = segment_importance(expl, seg.labels, {s.id: s.name for s in seg.segments}).drop(columns=small,
                                                                                                 errors="ignore")
        picks = st.multiselect("Segments to compare", list(table.columns), default=list(table.columns)[:2])
        if picks:
            top = table[picks].max(axis=1).sort_values(ascending=False).index[:12]
            st.plotly_chart(plots.segment_drivers(table.loc[top, picks]), width="stretch")
            if len(picks) >= 2:
                diff = (table[picks[0]] - table[picks[1]]).abs().sort_values(ascending=False).head(5)
                st.write(f"Where **{picks[0]}** and **{picks[1]}** differ most: "
                         + ", ".join(pretty_name(f) for f in diff.index) + ".")

with customer:
    ids = scored.ids
    wanted = st.text_input("Customer id", value=str(ids[int(np.argmax(scored.scores))]),
                           help="Pre-filled with the highest-scoring customer.")
    hits = np.flatnonzero(ids == wanted.strip())
    if len(hits) == 0:
        st.warning(f"No customer with id '{wanted}'. Check the id column ({scored.id_col or 'row number'}).")
    else:
        row = int(hits[0])
        st.metric("Score", f"{scored.scores[row]:.1%}")
        a, b = scored.model.platt_
        st.plotly_chart(plots.waterfall(expl, row, frame, a, b), width="stretch")
        st.write("**Top reasons:** " + reasons_in_words(scored.reasons().iloc[row].tolist()))

with reasons_tab:
    st.write("For every customer, the three features pushing the score up most, in words. Mark features the "
             "campaign cannot act on (age, gender, region...) to get reasons from the others only.")
    if set(st.session_state.get("cfg_actionable") or ()) - set(expl.features):  # chosen for another model
        st.session_state.pop("cfg_actionable", None), st.session_state.pop("w_cfg_actionable", None)
    actionable = state.setting(st.multiselect, "Features reasons may use", "cfg_actionable",
                               default=list(expl.features), options=list(expl.features), format_func=pretty_name)
    if not actionable:
        st.info("Choose at least one feature.")
    else:
        with ui.guarded("writing reason codes"):
            table = scored.table()
        st.dataframe(table.sort_values("rank").head(500), width="stretch", hide_index=True)
ui.next_step("pages/targets.py", "build a target list")
