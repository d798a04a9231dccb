"""Step 4: why the model scores customers as it does: overall, by segment, per customer, as reasons."""

import numpy as np
import streamlit as st

from lib import plots
from lib.explain import pretty_name, segment_importance, strongest_interaction
from pages import common

st.title("Explain the scores")
frame, schema = common.require_data()
model = common.model()
if model is None:
    st.info("Train a propensity model first.")
    st.page_link("pages/propensity.py", label="Go to Propensity model", icon=":material/trending_up:")
    st.stop()
with st.spinner("Computing exact SHAP values for every customer…"):
    with common.guarded("explaining the model"):
        expl = common.explanation()
st.caption(f"Exact TreeSHAP for all {expl.values.shape[0]:,} customers by {expl.method} in {expl.seconds:.1f} s. "
           "Effects are in log-odds inside the model and shown here as approximate probability points.")

overall, by_segment, customer, reasons_tab = st.tabs(["Overall", "By segment", "One customer", "Reason codes"])
with overall:
    st.plotly_chart(plots.importance_chart(expl), width="stretch")
    st.plotly_chart(plots.beeswarm(expl, frame.reset_index(drop=True)), width="stretch")
    feature = st.selectbox("See how one feature moves the score", list(expl.importance()["feature"]),
                           format_func=pretty_name)
    color = strongest_interaction(expl, frame.reset_index(drop=True), feature, feature_spec=model.feature_spec)
    st.plotly_chart(plots.dependence(expl, frame.reset_index(drop=True), feature, color), width="stretch")

with by_segment:
    seg = common.segmentation()
    if seg is None:
        st.info("Segment customers on the Segments page to compare what drives each segment.")
    else:
        names = {s.id: s.name for s in seg.segments}
        table = segment_importance(expl, seg.labels, names)
        picks = st.multiselect("Segments to compare", list(table.columns), default=list(table.columns)[:2])
        if picks:
            top = table[picks].max(axis=1).sort_values(ascending=False).index[:12]
            st.plotly_chart(plots.segment_drivers(table.loc[top, picks]), width="stretch")
            if len(picks) >= 2:
                diff = (table[picks[0]] - table[picks[1]]).abs().sort_values(ascending=False).head(5)
                st.write(f"Where **{picks[0]}** and **{picks[1]}** differ most: "
                         + ", ".join(pretty_name(f) for f in diff.index) + ".")

with customer:
    id_col = common.id_column()
    ids = common.scored_customers()["id"].to_numpy()
    scores = common.current_scores()
    wanted = st.text_input("Customer id", value=str(ids[int(np.argmax(scores))]),
                           help="Pre-filled with the highest-scoring customer.")
    hits = np.flatnonzero(ids == wanted.strip())
    if len(hits) == 0:
        st.warning(f"No customer with id '{wanted}'. Check the id column ({id_col or 'row number'}).")
    else:
        row = int(hits[0])
        st.metric("Score", f"{scores[row]:.1%}")
        a, b = model.platt
        st.plotly_chart(plots.waterfall(expl, row, frame.reset_index(drop=True), a, b), width="stretch")
        reasons = common.reasons()
        st.write("**Top reasons:** " + "; ".join(r for r in reasons.iloc[row].tolist() if r) or "none")

with reasons_tab:
    st.write("For every customer, the three features pushing the score up most, in words. Mark features the "
             "campaign cannot act on (age, gender, region...) to get reasons from the others only.")
    actionable = common.setting(st.multiselect, "Features reasons may use", "cfg_actionable",
                                default=list(expl.features), options=list(expl.features), format_func=pretty_name)
    if not actionable:
        st.info("Choose at least one feature.")
    else:
        with common.guarded("writing reason codes"):
            scored = common.scored_customers()
        st.dataframe(scored.sort_values("rank").head(500), width="stretch", hide_index=True)
common.next_step("pages/targets.py", "build a target list")
