"""Step 4: why the model scores customers as it does: overall, by segment, per customer, as reasons."""

import numpy as np
import streamlit as st

from lib.act import plots
from lib.data.privacy import SMALL_GROUP
from lib.models.explain import pretty_name, reasons_in_words, segment_importance, strongest_interaction
from lib.text.i18n import number, percent, t
from pages import headers, state, ui

st.title(t("Explain the scores"))
scored = ui.require_scores()
expl, frame = scored.explanation, scored.frame.reset_index(drop=True)
st.caption(t("Exact TreeSHAP for all {n} customers by {method} in {seconds} s. Effects are in log-odds inside the "
             "model and shown here as approximate probability points.", n=number(expl.values.shape[0]),
             method=expl.method, seconds=f"{expl.seconds:.1f}"))

overall, by_segment, customer, reasons_tab = st.tabs([t("Overall"), t("By segment"), t("One customer"),
                                                      t("Reason codes")])
with overall:
    st.plotly_chart(plots.importance_chart(expl), width="stretch")
    st.plotly_chart(plots.beeswarm(expl, frame), width="stretch")
    feature = st.selectbox(t("See how one feature moves the score"), list(expl.importance()["feature"]),
                           format_func=pretty_name, key=f"explain_feature_{scored.key}")
    color = strongest_interaction(expl, frame, feature, model=scored.model)
    st.plotly_chart(plots.dependence(expl, frame, feature, color), width="stretch")

with by_segment:
    seg = scored.segmentation
    if seg is None:
        st.info(t("Segment customers on the Segments page to compare what drives each segment."))
    else:
        # Chosen by id: names change with the language, ids do not. Drivers of a handful of people are not shown.
        names = {s.id: s.name for s in seg.segments if s.size >= SMALL_GROUP}
        table = segment_importance(expl, seg.labels, {s.id: s.name for s in seg.segments})[list(names.values())]
        picks = [names[i] for i in st.multiselect(t("Segments to compare"), list(names), default=list(names)[:2],
                                                  format_func=names.get, key=f"explain_segments_{scored.seg_key}")]
        if picks:
            top = table[picks].max(axis=1).sort_values(ascending=False).index[:12]
            st.plotly_chart(plots.segment_drivers(table.loc[top, picks]), width="stretch")
            if len(picks) >= 2:
                diff = (table[picks[0]] - table[picks[1]]).abs().sort_values(ascending=False).head(5)
                st.write(t("Where **{a}** and **{b}** differ most: {features}.", a=picks[0], b=picks[1],
                           features=", ".join(pretty_name(f) for f in diff.index)))

with customer:
    ids = scored.ids
    wanted = st.text_input(t("Customer id"), value=str(ids[int(np.argmax(scored.scores))]),
                           help=t("Pre-filled with the highest-scoring customer."), key=f"explain_id_{scored.key}")
    hits = np.flatnonzero(ids == wanted.strip())
    if len(hits) == 0:
        st.warning(t("No customer with id '{id}'. Check the id column ({column}).", id=wanted,
                     column=scored.id_col or t("row number")))
    else:
        row = int(hits[0])
        st.metric(t("Score"), percent(scored.scores[row]))
        a, b = scored.model.platt_
        st.plotly_chart(plots.waterfall(expl, row, frame, a, b), width="stretch")
        st.write(t("**Top reasons:**") + " " + reasons_in_words(scored.reasons().iloc[row].tolist()))

with reasons_tab:
    st.write(t("For every customer, the three features pushing the score up most, in words. Mark features the "
               "campaign cannot act on (age, gender, region...) to get reasons from the others only."))
    if set(st.session_state.get("cfg_actionable") or ()) - set(expl.features):  # chosen for another model
        st.session_state.pop("cfg_actionable", None), st.session_state.pop("w_cfg_actionable", None)
    actionable = state.setting(st.multiselect, t("Features reasons may use"), "cfg_actionable",
                               default=list(expl.features), options=list(expl.features), format_func=pretty_name)
    if not actionable:
        st.info(t("Choose at least one feature."))
    else:
        with ui.guarded(t("writing reason codes")):
            table = scored.table()
        top = table.sort_values("rank").head(500)
        st.dataframe(top, width="stretch", hide_index=True, column_config=headers.shown(top))
ui.next_step("pages/targets.py", t("build a target list"))
