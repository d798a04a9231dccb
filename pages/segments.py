"""Step 2: segment customers (RFM groups or clusters), see who each segment is, rename, download."""

import pandas as pd
import streamlit as st

from lib import plots
from lib.segment import default_cluster_features
from lib.targeting import to_csv_bytes
from pages import common

st.title("Customer segments")
frame, schema = common.require_data()
target, _ = common.target_choice()

st.write("Group customers into segments you can describe and act on. **Clustering** finds groups in the "
         "data; **RFM** scores recency, frequency and money spent and applies the standard named groups.")
method = common.setting(st.radio, "Method", "cfg_seg_method", options=["Clustering", "RFM"], horizontal=True)
candidates = [c for c in schema.feature_columns() if c != target]
if method == "RFM":
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    if len(numeric) < 3:
        st.error("RFM needs three number columns (recency, frequency, money). Roll a transaction log up first.")
        st.stop()

    def pick(words: list[str], default: int) -> int:
        for i, c in enumerate(numeric):
            if any(w in c.lower() for w in words):
                return i
        return default

    c1, c2, c3 = st.columns(3)
    r = c1.selectbox("Recency (days since last order)", numeric, index=pick(["recency"], 0))
    f = c2.selectbox("Frequency (number of orders)", numeric, index=pick(["frequency", "orders", "purchases"], 1))
    m = c3.selectbox("Monetary (money spent)", numeric, index=pick(["monetary", "spend", "revenue", "amount"], 2))
    params = ("rfm", (r, f, m), None, 0)
else:
    default = st.session_state.get("seg_params", (None, None))[1] if st.session_state.get("seg_params", ("",))[0] == "kmeans" else None
    features = st.multiselect(
        "Features to cluster on", candidates,
        default=[c for c in (default or default_cluster_features(frame, candidates, target)) if c in candidates],
        help="Numbers describing behaviour make the clearest segments. Ids and personal data are never offered.",
    )
    c1, c2 = st.columns(2)
    auto = c1.toggle("Choose the number of segments for me", value=True,
                     help="Tries 2 to 10 segments and keeps the best-separated (silhouette score).")
    k = None if auto else c1.slider("Number of segments", 2, 10, 5)
    seed = c2.number_input("Random seed", value=42, step=1, help="Same seed, same segments.")
    if not features:
        st.info("Choose at least one feature.")
        st.stop()
    params = ("kmeans", tuple(features), k, int(seed))

if st.button("Find segments", type="primary") or st.session_state.get("seg_params") == params:
    with st.status("Segmenting customers…", expanded=False) as status:
        with common.guarded("segmenting"):
            seg = common.run_segmentation(*params)
        status.update(label=f"{seg.k} segments found", state="complete")
else:
    st.info("Choose the method and features, then press **Find segments**.")
    st.stop()

seg = common.segmentation()
a, b, c = st.columns(3)
a.metric("Segments", seg.k)
if seg.stability is not None:
    b.metric("Stability", f"{seg.stability:.2f}",
              help="Adjusted Rand index between this segmentation and re-runs on resampled customers: "
                   "near 1 the segments are real; below 0.6 they are fragile.")
if seg.silhouette_by_k:
    c.metric("Separation (silhouette)", f"{seg.silhouette_by_k.get(seg.k, float('nan')):.2f}")

table = pd.DataFrame([{"id": s.id, "name": s.name, "customers": s.size, "share": f"{s.share:.1%}",
                       **({"target rate": f"{s.target_rate:.1%}"} if s.target_rate is not None else {}),
                       "description": s.description} for s in seg.segments])
st.subheader("Who is in each segment")
st.caption("Names are generated from what sets each segment apart. Rename any segment by editing its name.")
edited = st.data_editor(table, key=f"seg_rename_{params}", hide_index=True, width="stretch",
                        disabled=[c for c in table.columns if c != "name"])
renames = {int(r.id): r.name for r in edited.itertuples()}
if renames != {s.id: s.name for s in seg.segments}:
    st.session_state["seg_names"] = renames
    st.rerun()

if seg.rules is not None:
    with st.expander("The rule behind each RFM group"):
        st.dataframe(seg.rules, hide_index=True, width="stretch")
        st.caption("R, F and M are quintile scores from 1 to 5 (R 5 = bought most recently). "
                   "Groups are checked top to bottom; the first rule that matches wins.")

left, right = st.columns(2)
left.plotly_chart(plots.segment_map(seg), width="stretch")
left.caption(plots.sample_note(len(seg.labels)))
right.plotly_chart(plots.segment_sizes(seg), width="stretch")
st.plotly_chart(plots.profile_heatmap(seg), width="stretch")
if seg.rfm_scores is not None:
    st.plotly_chart(plots.rfm_grid(seg), width="stretch")

st.subheader("Look inside a segment")
names = {s.name: s.id for s in seg.segments}
chosen = st.selectbox("Segment", list(names))
members = frame[seg.labels == names[chosen]]
st.write(f"{len(members):,} customers. Average profile vs all customers:")
profile = seg.profile.loc[[names[chosen], "All customers"]].T
profile.columns = [chosen, "All customers"]
st.dataframe(profile, width="stretch")
st.dataframe(members.head(500), width="stretch", height=240)

membership = common.scored_customers()[["id", "segment", "segment_name"]]
st.download_button("Download segment membership (CSV)", lambda: to_csv_bytes(membership), "segments.csv", "text/csv")
common.next_step("pages/propensity.py", "score who is likely to respond")
