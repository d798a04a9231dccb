"""Step 2: segment customers (clusters or RFM groups), see who each segment is, rename, download."""

import pandas as pd
import streamlit as st

from lib.act import plots
from lib.data.privacy import SMALL_GROUP
from lib.errors import DataValidationError
from lib.flow.pipeline import SegmentSettings
from lib.models.risk.shares import flagged_by_group
from lib.models.segment import default_cluster_features, distinguishing_facts, guess_rfm_columns, profile_for_people
from lib.text.i18n import number, percent, t
from pages import exports, headers, log_steps, state, steps, ui
from pages import scored as scored_steps

st.title(t("Customer segments"))
cust, und = ui.require_data()
frame = cust.frame

st.write(t("Group customers into segments you can describe and act on. **Clustering** finds groups in the "
           "data (numbers, categories and flags); **RFM** scores recency, frequency and money spent and applies "
           "the standard named groups."))
method = state.setting(st.radio, t("Method"), "cfg_seg_method", options=["Clustering", "RFM"], horizontal=True,
                       format_func={"Clustering": t("Clustering"), "RFM": t("RFM")}.get)
previous = state.segment_settings()
if method == "RFM":
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    try:
        guess = guess_rfm_columns(frame)
    except DataValidationError as exc:
        st.error(str(exc))
        st.stop()
    boxes = st.columns(3)
    picked = tuple(state.setting(box.selectbox, label, f"cfg_rfm_{i}", default=g, options=numeric) for i, (box, label, g)
                   in enumerate(zip(boxes, (t("Recency (days since last order)"), t("Frequency (number of orders)"),
                                            t("Monetary (money spent)")), guess)))
    settings = SegmentSettings(method="rfm", rfm_columns=picked)
else:
    candidates = und.feature_columns
    default = previous.features if previous and previous.method == "kmeans" and previous.features else \
        default_cluster_features(frame, candidates, und.target)
    features = st.multiselect(t("Features to cluster on"), candidates, default=[c for c in default if c in candidates],
                              help=t("Behaviour, categories and flags. Ids and personal data are never offered."),
                              key=f"seg_features_{steps.understanding_key()}")  # keyed: a language switch keeps it
    c1, c2 = st.columns(2)
    auto = state.setting(c1.toggle, t("Choose the number of segments for me"), "cfg_seg_auto", default=True,
                         help=t("Tries 3 to 8 segments and keeps a stable number with no tiny segment that explains "
                                "clearly more than one fewer would."))
    k = None if auto else state.setting(c1.slider, t("Number of segments"), "cfg_seg_k", default=5, min_value=2,
                                        max_value=12)
    seed = int(state.setting(c2.number_input, t("Random seed"), "cfg_seg_seed", default=42, step=1,
                             help=t("Same seed, same segments.")))
    if not features:
        st.info(t("Choose at least one feature."))
        st.stop()
    settings = SegmentSettings(method="kmeans", k=k, features=tuple(features), seed=seed)

if st.button(t("Find segments"), type="primary") or previous == settings:
    with st.status(t("Segmenting customers…"), expanded=False) as status, ui.guarded(t("segmenting")):
        found = steps.run_segmentation(settings)
        status.update(label=t("{k} segments found", k=found.k), state="complete")
    if previous != settings:  # names belong to the segments they were given to
        st.session_state.pop("seg_names", None)
    st.session_state["seg_settings"] = settings
else:
    st.info(t("Choose the method and features, then press **Find segments**."))
    st.stop()

seg = steps.segmentation()
a, b, c = st.columns(3)
a.metric(t("Segments"), seg.k)
if seg.stability is not None:
    b.metric(t("Stability"), f"{seg.stability:.2f}", help=t("Adjusted Rand index between this segmentation and "
             "re-runs on resampled customers: near 1 the segments are real; below 0.6 they are fragile."))
if seg.silhouette_by_k:
    c.metric(t("Separation (silhouette)"), f"{seg.silhouette_by_k.get(seg.k, float('nan')):.2f}")
if seg.k_reason:
    st.caption(seg.k_reason)
if seg.k_table is not None:
    with st.expander(t("How the number of segments was chosen")):
        st.dataframe(seg.k_table, hide_index=True, width="stretch", column_config=headers.shown(seg.k_table))
if und.target_problem:
    st.warning(t("No target rate per segment: {problem}", problem=und.target_problem))

table = pd.DataFrame([{"id": s.id, "name": s.name, "customers": number(s.size), "share": percent(s.share),
                       **({"target rate": percent(s.target_rate)} if s.target_rate is not None else {}),
                       "description": s.description} for s in seg.segments])
st.subheader(t("Who is in each segment"))
st.caption(t("Names are generated from what sets each segment apart. Rename any segment by editing its name."))
edited = st.data_editor(table, key=f"seg_rename_{steps.segmentation_key()}", hide_index=True, width="stretch",
                        disabled=[col for col in table.columns if col != "name"], column_config=headers.shown(table))
renames = {int(r.id): (r.name or "").strip() for r in edited.itertuples()}
renames = {i: n for i, n in renames.items() if n}  # a cleared name goes back to the generated one
if renames and renames != {s.id: s.name for s in seg.segments if s.id in renames}:
    st.session_state["seg_names"] = {**st.session_state.get("seg_names", {}), **renames}
    st.rerun()

if (danger := log_steps.customer_risk()) is not None:
    st.subheader(t("Flagged as risky, by segment"))
    by_risk = flagged_by_group(danger, und.ids, seg.names().to_numpy())
    st.dataframe(by_risk, hide_index=True, width="stretch", column_config=headers.shown(by_risk, group=t("Segment")))

if seg.rules is not None:
    with st.expander(t("The rule behind each RFM group")):
        st.dataframe(seg.rules, hide_index=True, width="stretch", column_config=headers.shown(seg.rules))
        st.caption(t("R, F and M are quintile scores from 1 to 5 (R 5 = bought most recently). "
                     "Groups are checked top to bottom; the first rule that matches wins."))

left, right = st.columns(2)
left.plotly_chart(plots.segment_map(seg), width="stretch")
left.caption(plots.sample_note(len(seg.labels)))
right.plotly_chart(plots.segment_sizes(seg), width="stretch")
st.plotly_chart(plots.profile_heatmap(seg), width="stretch")
if seg.rfm_scores is not None:
    st.plotly_chart(plots.rfm_grid(seg), width="stretch")
with st.expander(t("Every segment next to all customers")):
    st.dataframe(profile_for_people(seg), width="stretch")
if small := [s.name for s in seg.segments if s.size < SMALL_GROUP]:
    st.caption(t("Segments under {n} customers ({names}) are not profiled on their own: figures about so few "
                 "people could single one out.", n=SMALL_GROUP, names=", ".join(small)))

st.subheader(t("Look inside a segment"))
names = {s.id: s.name for s in seg.segments}
chosen = st.selectbox(t("Segment"), list(names), format_func=names.get, key=f"seg_inside_{steps.segmentation_key()}")
members = frame[seg.labels == chosen]
if len(members) < SMALL_GROUP:
    st.write(t("**{n} customers**: too few to describe without singling someone out.", n=number(len(members))))
else:
    st.write(t("**{n} customers.** What sets them apart:", n=number(len(members))))
    st.markdown("\n".join(f"- {fact}" for fact in distinguishing_facts(seg, chosen)))
st.dataframe(members.head(500), width="stretch", height=240)

membership = scored_steps.customer_table()[["id", "segment", "segment_name"]]
exports.downloads(t("Download segment membership"), membership, "segments")
ui.next_step("pages/propensity.py", t("score who is likely to respond"))
