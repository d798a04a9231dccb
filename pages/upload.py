"""Step 1: load a file (or a sample), see what Bullseye understood of it and what is wrong with it."""

import pandas as pd
import streamlit as st

from lib.errors import DataValidationError
from lib.io import DELIMITER_NAMES, SUPPORTED_EXTENSIONS
from lib.schema import ROLE_LABELS, ROLES
from pages import common

st.title("Upload & understand your data")
st.write(
    "Upload a customer table (one row per customer) or a transaction log (one row per order line). "
    "CSV, TSV, TXT, Excel, Parquet, .gz or a zip with one file; any delimiter and encoding."
)

left, right = st.columns([3, 2])
with left:
    st.file_uploader("Your file", type=list(SUPPORTED_EXTENSIONS), key="uploader",
                     on_change=common.take_upload)
with right:
    st.write("**No file at hand? Try a sample:**")
    for label, path in common.SAMPLES.items():
        if st.button(label, key=f"sample_{path.name}", width="stretch"):
            common.set_source(path.name, path.read_bytes())
            st.session_state["cfg_transactions"] = "transactions" in path.name

src = common.source()
if src is None:
    st.info("Waiting for a file. Everything stays in this browser session; nothing is sent elsewhere.")
    st.stop()

with common.guarded("reading the file"), st.spinner(f"Reading {src['name']}…"):
    lr = common.loaded()

with st.expander("Reading options", expanded=False):
    c1, c2, c3 = st.columns(3)
    common.setting(c1.selectbox, "Delimiter", "cfg_sep", options=[None, *DELIMITER_NAMES], format_func=common.automatic_or)
    common.setting(c2.selectbox, "Encoding", "cfg_encoding", options=[None, "utf-8", "gb18030", "cp1252", "latin-1"],
                   format_func=common.automatic_or)
    sheet = common.setting(c3.text_input, "Excel sheet (blank = first)", "cfg_sheet_text", default="") or None
    if sheet != st.session_state.get("cfg_sheet"):
        st.session_state["cfg_sheet"] = sheet
        st.rerun()

facts = [f"**{src['name']}**", f"{len(lr.frame):,} rows × {len(lr.frame.columns)} columns", lr.file_format.upper()]
if lr.encoding:
    facts.append(f"encoding {lr.encoding}")
if lr.delimiter:
    facts.append(f"{DELIMITER_NAMES.get(lr.delimiter, lr.delimiter)}-separated")
if lr.decimal == ",":
    facts.append("decimal commas")
st.success(" · ".join(facts))
for w in lr.warnings:
    st.warning(w)

common.setting(st.toggle, "This is a transaction log (one row per order line): roll it up to one row per customer",
               "cfg_transactions", default=False)
if common.is_transactions():
    try:
        table = common.rollup_table()
    except DataValidationError as exc:
        st.error(str(exc))
        if any(common.rollup_columns()) and st.button("Go back to the detected columns"):
            for key in ("cfg_customer_col", "cfg_date_col", "cfg_amount_col"):
                st.session_state.pop(key, None)
            st.session_state["rollup_version"] = st.session_state.get("rollup_version", 0) + 1  # fresh boxes
            st.rerun()
        st.stop()
    st.caption(
        f"Rolled up {table.lines_used:,} lines into {len(table.customers):,} customers as of "
        f"{table.as_of.date()} (customer = `{table.columns.customer}`, date = `{table.columns.date}`, "
        f"amount = `{table.columns.amount or table.columns.quantity + ' × ' + table.columns.unit_price}`). "
        f"{table.cancellation_lines:,} cancellation lines and {table.non_product_lines:,} non-product lines handled."
    )
    for w in table.warnings:
        st.info(w)
    with st.expander("Columns used for the roll-up"):
        quantity_x_price = "(quantity × unit price)"
        cols = list(lr.frame.columns)
        has_qp = bool(table.columns.quantity and table.columns.unit_price)
        boxes = st.columns(3)
        for box, label, key, options, current in (
            (boxes[0], "Customer id", "cfg_customer_col", cols, table.columns.customer),
            (boxes[1], "Date", "cfg_date_col", cols, table.columns.date),
            (boxes[2], "Amount", "cfg_amount_col", [quantity_x_price] * has_qp + cols,
             table.columns.amount or quantity_x_price),
        ):
            picked = box.selectbox(label, options, index=options.index(current),
                                   key=f"rollup_{key}_{st.session_state.get('rollup_version', 0)}")
            if picked != current:
                st.session_state[key] = None if picked == quantity_x_price else picked
                st.rerun()
    common.setting(st.number_input, "Predict who buys again within this many days (0 = no target)", "cfg_horizon",
                   default=90, min_value=0, max_value=730, step=30,
                   help="The label is built from the log itself: did the customer buy in the N days after a "
                        "cutoff? The model is then validated on the latest window it never saw.")

frame, schema = common.require_data()
st.subheader("Preview")
st.dataframe(frame.head(200), width="stretch", height=260)

st.subheader("What each column is")
st.caption("Bullseye guessed each column's role. Change any role here: identifiers, personal data, "
           "constants and empty columns are never used as model features.")
roles_df = pd.DataFrame({
    "column": list(schema.roles),
    "role": list(schema.roles.values()),
    "why": [schema.reasons[c] for c in schema.roles],
})
edited = st.data_editor(
    roles_df, key="roles_editor", hide_index=True, width="stretch", disabled=["column", "why"],
    column_config={"role": st.column_config.SelectboxColumn("role", options=list(ROLES), required=True,
                                                            help=", ".join(f"{k}: {v}" for k, v in ROLE_LABELS.items()))},
)
overrides = {r.column: r.role for r in edited.itertuples() if r.role != schema.roles.get(r.column)}
if overrides:
    st.session_state["cfg_roles"] = {**st.session_state.get("cfg_roles", {}), **overrides}
    st.rerun()

st.subheader("Target (what you want to predict)")
if common.repurchase_horizon():
    st.write(f"**Bought again within {common.repurchase_horizon()} days**, built from the transaction log.")
else:
    candidates = list(schema.target_candidates)
    options = [None] + candidates + [c for c in frame.columns if c not in candidates]
    t1, t2 = st.columns(2)
    target = common.setting(t1.selectbox, "Target column", "cfg_target", default=candidates[0] if candidates else None,
                            options=options, format_func=lambda c: "none (segment only)" if c is None else c)
    if target is not None:
        values = sorted(frame[target].dropna().astype(str).str.strip().unique().tolist())[:50]
        guess = schema.positive_classes.get(target)
        if st.session_state.get("cfg_positive") not in values:
            st.session_state["cfg_positive"] = guess if guess in values else (values[-1] if values else None)
            st.session_state.pop("w_cfg_positive", None)
        common.setting(t2.selectbox, "Positive class (the outcome you want more of)", "cfg_positive", options=values)
    else:
        st.session_state["cfg_positive"] = None

with common.guarded("checking data quality"):
    report = common.quality()

st.subheader("Data quality")
m1, m2, m3, m4 = st.columns(4)
m1.metric("Rows", f"{report.rows:,}")
m2.metric("Columns", report.columns)
m3.metric("Duplicate rows", f"{report.duplicate_rows:,}")
if report.class_balance:
    m4.metric("Positive rate", f"{report.class_balance['positive_rate']:.1%}",
              help=f"{report.class_balance['positive']:,} positive, {report.class_balance['negative']:,} negative, "
                   f"{report.class_balance['unlabelled']:,} without a value")
if not report.problems:
    st.success("No problems found.")
for p in report.problems:
    box = st.warning if p.severity == "warning" else st.info
    box(f"{p.message} **What to do:** {p.fix}")
with st.expander("Column details"):
    st.dataframe(report.column_table, width="stretch", hide_index=True)

common.next_step("pages/segments.py", "find your customer segments")
