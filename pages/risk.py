"""Risk control: customers who abuse returns, sweep stock, buy at cut prices or order by script (a log), or
share one contact detail between accounts (a customer table), with reasons; their suspicious orders."""

import plotly.express as px
import streamlit as st

from lib.models.risk import RiskSettings
from lib.models.risk.reasons import pattern_word
from lib.text.i18n import number, percent, t
from pages import exports, headers, log_steps, state, ui

st.title(t("Risk control"))
cust, und = ui.require_data()
if state.is_transactions():
    st.write(t("Who not to send the next discount to: serial returners and quick returners, bulk buyers sweeping "
               "stock, customers buying far below the usual price and bursts of orders within an hour, each against "
               "a threshold learned from this shop's own customers, plus an outlier score (ECOD) for what the named "
               "patterns miss."))
else:
    st.write(t("Who not to send the next discount to: accounts sharing one e-mail, phone or address (compared as "
               "keyed pseudonyms, never in clear) and implausible combinations of values, plus an outlier score "
               "(ECOD). Load the order lines to check returns, bulk buying, prices and bursts too."))
share = st.slider(t("Riskiest share to flag (%)"), 0.5, 10.0, 2.0, 0.5, key="cfg_risk_share")
settings = RiskSettings(share=share / 100)
if st.button(t("Check for risk"), type="primary") or st.session_state.get("risk_settings") == settings:
    with st.spinner(t("Measuring every customer against the shop…")), ui.guarded(t("checking for risk")):
        result = log_steps.run_risk(settings)
    st.session_state["risk_settings"] = settings
else:
    st.info(t("Choose the share to flag, then press **Check for risk**."))
    st.stop()

report = result.to_report()
m = st.columns(4)
m[0].metric(t("Customers"), number(report["customers"]))
m[1].metric(t("Flagged"), number(report["flagged"]), help=percent(report["flagged"] / max(1, report["customers"]), 1))
m[2].metric(t("Suspicious orders"), number(report["flagged_orders"]))
m[3].metric(t("Outlier threshold (ECOD)"), f"{report['outlier']['threshold']:.1f}")
for note in result.warnings:
    st.warning(note)
for pattern, why in result.skipped.items():
    st.info(t("Not checked: {pattern}, because {why}.", pattern=pattern_word(pattern), why=why))
counts = {p: [n, report["over_threshold"].get(p), report["thresholds"].get(p)]
          for p, n in report["flagged_by_pattern"].items()}
st.subheader(t("Flagged by pattern"))
st.dataframe({t("Pattern"): [pattern_word(p) for p in counts], t("Flagged"): [c[0] for c in counts.values()],
              t("Over the threshold"): [c[1] for c in counts.values()],
              t("Threshold"): [c[2] for c in counts.values()]}, hide_index=True)
fig = px.histogram(result.table, x="risk_score", color="risk_flag", nbins=50, log_y=True,
                   labels={"risk_score": t("risk score"), "risk_flag": t("Flagged")})
st.plotly_chart(fig, width="stretch")
st.subheader(t("Flagged customers and why"))
flagged = result.flagged_customers().pipe(lambda f: f.assign(risk_pattern=f["risk_pattern"].map(pattern_word)))
st.dataframe(flagged, hide_index=True, width="stretch", column_config=headers.shown(flagged))
orders = result.flagged_orders().pipe(lambda f: f.assign(risk_pattern=f["risk_pattern"].map(pattern_word)))
if len(orders):
    st.subheader(t("Their suspicious orders"))
    st.dataframe(orders, hide_index=True, width="stretch", column_config=headers.shown(orders))
exports.downloads(t("Download the flagged customers and orders"), result.flagged_table(), "risk",
                  id_cols=("customer_id",))
ui.next_step("pages/targets.py", t("build a target list that leaves them out"))
