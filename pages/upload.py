"""Step 1: load a file (or a sample), see what Bullseye understood of it and what is wrong with it."""

import pandas as pd
import streamlit as st

from lib.data.io import DELIMITER_NAMES, SUPPORTED_EXTENSIONS
from lib.data.schema import ROLES
from lib.errors import DataValidationError
from lib.flow import pipeline as p
from lib.text.i18n import date, number, percent, t
from pages import headers, state, steps, ui

st.title(t("Upload & understand your data"))
st.write(t("Upload a customer table (one row per customer) or a transaction log (one row per order line). "
           "CSV, TSV, TXT, Excel, Parquet, .gz or a zip with one file; any delimiter and encoding."))

left, right = st.columns([3, 2])
with left:
    st.file_uploader(t("Your file"), type=list(SUPPORTED_EXTENSIONS), key="uploader", on_change=state.take_upload)
with right:
    st.write(t("**No file at hand? Try a sample:**"))
    for label, path in state.samples().items():
        if st.button(label, key=f"sample_{path.name}", width="stretch"):
            state.set_source(path.name, path.read_bytes())
            st.session_state["cfg_transactions"] = "transactions" in path.name

src = state.source()
if src is None:
    st.info(t("Waiting for a file. Everything stays in this browser session; nothing is sent elsewhere."))
    st.stop()

with ui.guarded(t("reading the file")), st.spinner(t("Reading {name}…", name=src["name"])):
    lr = steps.loaded()

with st.expander(t("Reading options"), expanded=False):
    c1, c2, c3 = st.columns(3)
    state.setting(c1.selectbox, t("Delimiter"), "cfg_sep", options=[None, *DELIMITER_NAMES],
                  format_func=ui.delimiters().get)
    state.setting(c2.selectbox, t("Encoding"), "cfg_encoding", options=[None, "utf-8", "gb18030", "cp1252", "latin-1"],
                  format_func=ui.none_as(t("automatic")))
    sheet = state.setting(c3.text_input, t("Excel sheet (blank = first)"), "cfg_sheet_text", default="") or None
    if sheet != st.session_state.get("cfg_sheet"):
        st.session_state["cfg_sheet"] = sheet
        st.rerun()

facts = [f"**{src['name']}**", t("{rows} rows × {columns} columns", rows=number(len(lr.frame)),
                                  columns=len(lr.frame.columns)), lr.file_format.upper()]
if lr.encoding:
    facts.append(t("encoding {encoding}", encoding=lr.encoding))
if lr.delimiter:
    facts.append(t("{delimiter}-separated", delimiter=ui.delimiters().get(lr.delimiter, lr.delimiter)))
if lr.decimal == ",":
    facts.append(t("decimal commas"))
st.success(" · ".join(facts))
for w in lr.warnings:
    st.warning(w)

kind = steps.file_kind()
state.setting(st.toggle, t("This is a transaction log (one row per order line): roll it up to one row per customer"),
              "cfg_transactions", default=kind.is_log)
if kind.is_log:
    st.caption(t("Recognised as an order-line log, so it is rolled up by itself: {reason} Not a log? Turn the "
                 "switch off.", reason=kind.reason))
if state.is_transactions():
    try:
        table = steps.customers().rollup
    except DataValidationError as exc:
        st.error(str(exc))
        if any(st.session_state.get(k) for k in ("cfg_customer_col", "cfg_date_col", "cfg_amount_col")) and \
                st.button(t("Go back to the detected columns")):
            for k in ("cfg_customer_col", "cfg_date_col", "cfg_amount_col"):
                st.session_state.pop(k, None)
            st.session_state["rollup_version"] = st.session_state.get("rollup_version", 0) + 1  # fresh boxes
            st.rerun()
        st.stop()
    cols = table.columns
    st.caption(t(
        "Rolled up {lines} lines into {customers} customers as of {date} (customer = `{customer}`, date = "
        "`{date_col}`, amount = `{amount}`). {cancellations} cancellation lines and {non_product} non-product "
        "lines handled.", lines=number(table.lines_used), customers=number(len(table.customers)),
        date=date(table.as_of), customer=cols.customer, date_col=cols.date,
        amount=cols.amount or cols.quantity + " × " + cols.unit_price,
        cancellations=number(table.cancellation_lines), non_product=number(table.non_product_lines)))
    for w in table.warnings:
        st.info(w)
    ui.as_of_picker(p.as_of_choice(steps.customers()))
    with st.expander(t("Columns used for the roll-up")):
        ui.rollup_column_boxes(cols, list(lr.frame.columns))
    state.setting(st.number_input, t("Predict who buys again within this many days (0 = no target)"), "cfg_horizon",
                  default=90, min_value=0, max_value=730, step=30,
                  help=t("The label is built from the log itself: did the customer buy in the N days after a "
                         "cutoff? The model is then validated on the latest window it never saw."))

cust, und = ui.require_data()
frame, schema = cust.frame, und.schema
st.subheader(t("Preview"))
st.dataframe(frame.head(200), width="stretch", height=260)

st.subheader(t("What each column is"))
st.caption(t("Bullseye guessed each column's role. Change any role here: identifiers, personal data, "
             "constants and empty columns are never used as model features."))
roles_df = pd.DataFrame({"column": list(schema.roles), "role": list(schema.roles.values()),
                         "why": [schema.reasons[c] for c in schema.roles]})
edited = st.data_editor(
    roles_df, key="roles_editor", hide_index=True, width="stretch", disabled=["column", "why"],
    column_config={"column": st.column_config.TextColumn(t("Column")), "why": st.column_config.TextColumn(t("Why")),
                   "role": st.column_config.SelectboxColumn(t("Role"), options=list(ROLES), required=True,
                                                            help=ui.role_help())},
)
overrides = {r.column: r.role for r in edited.itertuples() if r.role != schema.roles.get(r.column)}
if overrides:
    st.session_state["cfg_roles"] = {**st.session_state.get("cfg_roles", {}), **overrides}
    st.rerun()

st.subheader(t("Customer id and target (what you want to predict)"))
ids = [None] + schema.columns_with_role("identifier") + [c for c in frame.columns if schema.roles[c] != "identifier"]
state.setting(st.selectbox, t("Customer id column (kept in every export)"), "cfg_id", default=und.id_col,
              options=ids, format_func=ui.none_as(t("none: number the rows")))
if state.horizon():
    st.write(t("**Bought again within {days} days**, built from the transaction log.", days=state.horizon()))
else:
    candidates = list(schema.target_candidates)
    options = [None] + candidates + [c for c in frame.columns if c not in candidates]
    t1, t2 = st.columns(2)
    target = state.setting(t1.selectbox, t("Target column"), "cfg_target", default=und.target, options=options,
                           format_func=ui.none_as(t("none (segment only)")))
    if target is not None:
        values = sorted(frame[target].dropna().astype(str).str.strip().unique().tolist())[:50]
        if st.session_state.get("cfg_positive") not in values:
            guess = und.positive if und.target == target else schema.positive_classes.get(target)
            st.session_state["cfg_positive"] = guess if guess in values else (values[-1] if values else None)
            st.session_state.pop("w_cfg_positive", None)
        state.setting(t2.selectbox, t("Positive class (the outcome you want more of)"), "cfg_positive", options=values)
    else:
        st.session_state["cfg_positive"] = None

with ui.guarded(t("checking data quality")):
    und = steps.understanding()
if und.target_problem:
    st.error(und.target_problem)
for w in und.warnings:
    st.warning(w)
report = und.quality

st.subheader(t("Data quality"))
m1, m2, m3, m4 = st.columns(4)
m1.metric(t("Rows"), number(report.rows))
m2.metric(t("Columns"), report.columns)
m3.metric(t("Duplicate rows"), number(report.duplicate_rows))
if report.class_balance:
    cb = report.class_balance
    m4.metric(t("Positive rate"), percent(cb["positive_rate"]), help=t(
        "{positive} positive, {negative} negative, {unlabelled} without a value", positive=number(cb["positive"]),
        negative=number(cb["negative"]), unlabelled=number(cb["unlabelled"])))
if not report.problems:
    st.success(t("No problems found."))
for prob in report.problems:
    (st.warning if prob.severity == "warning" else st.info)(t("{problem} **What to do:** {fix}", problem=prob.message,
                                                              fix=prob.fix))
with st.expander(t("Column details")):
    st.dataframe(report.column_table, width="stretch", hide_index=True, column_config=headers.shown(report.column_table))

ui.next_step("pages/segments.py", t("find your customer segments"))
