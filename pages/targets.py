"""Step 5: build the list to send, with a control group, and download it (recorded as a campaign)."""

from datetime import date

import streamlit as st

from lib.campaigns import record_campaign
from lib.errors import DataValidationError
from lib.targeting import ListSpec, build_list, export_columns, to_csv_bytes, to_xlsx_bytes
from pages import common

st.title("Target list")
frame, schema = common.require_data()
with common.guarded("preparing customers"):
    scored = common.scored_customers()
model = common.model()
has_score = "score" in scored.columns
if not has_score:
    st.info("No scores yet: the list can filter by segment and columns. Train a model to target by score.")
elif not model.gate_passed:
    st.warning("The model failed its quality gate: " + " ".join(model.gate_reasons))
    if not st.checkbox("Use the scores anyway", key="tgt_use_anyway"):
        st.stop()

base = common.list_base()
st.subheader("Who may be on the list")
c1, c2 = st.columns(2)
segments = ()
if "segment_name" in scored.columns:
    names = sorted(s.name for s in common.segmentation().segments)
    segments = tuple(c1.multiselect("Segments (none = all)", names, key="tgt_segments"))
lo, hi = (0.0, 1.0)
if has_score:
    lo, hi = c2.slider("Score range", 0.0, 1.0, (0.0, 1.0), 0.01)
text_cols = [c for c in frame.columns if schema.roles.get(c) in ("binary", "categorical", "pii")]
consent = c1.selectbox("Consent column (customers with 'no' are left out)", [None] + text_cols,
                       index=next((i + 1 for i, c in enumerate(text_cols) if "consent" in c.lower()), 0))
contact_cols = c2.multiselect("Contact columns to include (rows missing them are left out)",
                              schema.columns_with_role("pii"))

st.subheader("How many")
mode = st.radio("Size", ["Top N", "Top %", "Budget", "Everyone who passes the filters"], horizontal=True, key="tgt_mode")
k1, k2, k3 = st.columns(3)
top_n = top_pct = budget = None
cost = common.setting(k2.number_input, "Cost per contact", "cfg_cost", default=1.0, min_value=0.0, step=0.1)
value = common.setting(k3.number_input, "Value per conversion", "cfg_value", default=25.0, min_value=0.0)
if mode == "Top N":
    top_n = int(k1.number_input("N", min_value=1, value=min(1000, len(scored)), step=100, key="tgt_top_n"))
elif mode == "Top %":
    top_pct = k1.slider("Percent", 1, 100, 10)
elif mode == "Budget":
    budget = k1.number_input("Budget", min_value=0.0, value=1000.0, step=100.0)
control_pct = st.slider("Control group (% of the list kept out of the send, to measure lift later)", 0, 50, 10,
                        key="tgt_control")
seed = int(st.number_input("Random seed for the control group", value=42, step=1))

spec = ListSpec(segments=segments, min_score=lo if has_score and lo > 0 else None,
                max_score=hi if has_score and hi < 1 else None, top_n=top_n, top_pct=top_pct, budget=budget,
                cost_per_contact=cost, value_per_conversion=value, exclude_no_consent=consent,
                require_contact=tuple(contact_cols), control_pct=float(control_pct), seed=seed)
with common.guarded("building the list"):
    tl = build_list(base, spec)

m = st.columns(4)
m[0].metric("To send", f"{tl.selected:,}")
m[1].metric("Control group", f"{tl.control:,}")
if has_score:
    m[2].metric("Expected responders", f"{tl.expected_responders:,.0f}")
    if tl.expected_profit is not None:
        m[3].metric("Expected profit", f"{tl.expected_profit:,.0f}", help=f"Cost {tl.cost:,.0f}")
if tl.excluded_counts:
    st.caption("Left out: " + "; ".join(f"{n:,} {why}" for why, n in tl.excluded_counts.items()))

id_col = common.id_column() or "id"
export = export_columns(tl.table, "id", contact_cols).rename(columns={"id": id_col})
st.dataframe(export.head(500), width="stretch", hide_index=True)

st.subheader("Download")
name = st.text_input("Campaign name", value=f"{common.source()['name'].split('.')[0]} {date.today():%Y-%m-%d}")
src = common.source()
about = {
    "campaign": name, "date": date.today().isoformat(), "file": src["name"], "file_sha256": src["digest"],
    "filters": spec.describe(), "selected": tl.selected, "control": tl.control,
    "model": "none" if model is None else f"XGBoost, holdout AUC {model.metrics.roc_auc:.3f}",
}


def _record() -> None:
    try:
        record_campaign(name, tl.table, "id", src["digest"], spec.describe(),
                        model.to_report() if model is not None else None)
        st.session_state["tgt_recorded"] = f"Recorded campaign '{name}': compare results on the Campaigns page."
    except DataValidationError as exc:
        st.session_state["tgt_recorded"] = f"Not recorded: {exc}"


send = export[export["group"] == "target"] if "group" in export.columns else export
d1, d2, d3 = st.columns(3)
# Files are written only when a button is clicked (callables), never on every slider move.
d1.download_button("CSV (UTF-8)", lambda: to_csv_bytes(send), f"{name}.csv", "text/csv", on_click=_record)
d2.download_button("CSV for Excel (with BOM)", lambda: to_csv_bytes(send, excel_friendly=True), f"{name}.excel.csv",
                   "text/csv", on_click=_record)
d3.download_button("Excel (.xlsx)", lambda: to_xlsx_bytes(send, about), f"{name}.xlsx",
                   "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", on_click=_record)
st.caption("The send file holds the target group only; the control group is kept in the campaign record. "
           "Cells that a spreadsheet would run as formulas are neutralised.")
if msg := st.session_state.pop("tgt_recorded", None):
    (st.success if msg.startswith("Recorded") else st.warning)(msg)
common.next_step("pages/campaigns.py", "measure results when they come back")
