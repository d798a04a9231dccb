"""What to offer each customer: products learned from the transaction log, checked on its last days."""

import streamlit as st

from lib.act import plots
from lib.data.privacy import merge_small
from lib.models.recommend import RecommendSettings, top_items_by_segment
from lib.text.i18n import number, percent, t
from pages import exports, headers, log_steps, state, steps, ui

st.title(t("Recommendations"))
cust, und = ui.require_data()
ui.require_log(t("Recommendations"))
st.write(t("For every customer, the products to offer next, learned from what customers buy together and again. "
           "Every method is checked honestly first: trained on the log before its last days and judged on what "
           "customers really bought in those days, next to two simple baselines (the most popular products, and "
           "each customer's own favourites). The best one is then refitted on the whole log."))
c1, c2 = st.columns(2)
k = int(state.setting(c1.slider, t("Products per customer"), "cfg_rec_k", default=10, min_value=3, max_value=20))
mode = state.setting(c2.radio, t("Which products"), "cfg_rec_mode", options=["all", "new"], horizontal=True,
                     format_func={"all": t("What they will buy next (own favourites included)"),
                                  "new": t("Only products they never bought (discovery)")}.get)
settings = RecommendSettings(k=k, mode=mode)
if st.button(t("Recommend"), type="primary") or st.session_state.get("rec_settings") == settings:
    with st.spinner(t("Checking every method on the last days of the log, then recommending…")), \
            ui.guarded(t("recommending")):
        rec = log_steps.run_recommend(settings)
    st.session_state["rec_settings"] = settings
else:
    st.info(t("Choose how many products and which kind, then press **Recommend**."))
    st.stop()

report = rec.to_report()
m = st.columns(4)
m[0].metric(t("Method chosen"), rec.method)
m[1].metric(t("Hit rate @ {k}", k=k), percent(report["hit_rate_at_k"], 0) if report["hit_rate_at_k"] is not None
            else t("n/a"), help=t("Share of checked customers who bought at least one recommended product in the "
                                  "held-out days."))
m[2].metric(t("Customers checked"), number(rec.evaluated_customers))
m[3].metric(t("Products"), number(rec.items_used))
if rec.selection:
    st.caption(rec.selection)
for w in rec.warnings:
    st.warning(w)
st.plotly_chart(plots.recommend_evaluation(rec.evaluation, mode), width="stretch")
with st.expander(t("The evaluation table (every method, both kinds)")):
    st.dataframe(rec.evaluation, hide_index=True, width="stretch", column_config=headers.shown(rec.evaluation))

st.subheader(t("What to offer this customer"))
ids = rec.table["id"].unique()
wanted = st.text_input(t("Customer id"), value=str(ids[0]) if len(ids) else "", key="rec_customer_id")
mine = rec.table[rec.table["id"] == wanted.strip()]
if mine.empty:
    st.warning(t("No customer with id '{id}' in the log.", id=wanted))
else:
    mine = mine[["rank", "item", "description", "reason"]]
    st.dataframe(mine, hide_index=True, width="stretch", column_config=headers.shown(mine))

seg = steps.segmentation()
if seg is not None:
    st.subheader(t("Top products per segment"))
    top = top_items_by_segment(rec, und.ids, merge_small(seg.names()).to_numpy())
    st.dataframe(top, hide_index=True, width="stretch", column_config=headers.shown(top, segment=t("Segment")))
if len(rec.bought_together):
    st.subheader(t("Bought together"))
    st.dataframe(rec.bought_together, hide_index=True, width="stretch",
                 column_config=headers.shown(rec.bought_together))
exports.downloads(t("Download recommendations"), rec.table, "recommendations")
st.caption(t("The Target list adds each customer's top three offers to the download (recommended_1..3)."))
ui.next_step("pages/targets.py", t("build a target list with the offers"))
