"""Risk control: customers who abuse returns, sweep stock, buy at cut prices or order by script, with reasons."""

import plotly.express as px
import streamlit as st

from lib.models.risk import RiskSettings
from lib.text.i18n import number, percent, t
from pages import exports, headers, log_steps, ui

st.title(t("Risk control"))
cust, und = ui.require_data()
ui.require_log(t("Risk control"))
st.write(t("Who not to send the next discount to: serial returners, bulk buyers sweeping stock, customers buying "
           "far below the usual price and bursts of orders within an hour, each against a threshold learned from "
           "this shop's own customers, plus an outlier score (ECOD) for what the named patterns miss."))
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
m = st.columns(3)
m[0].metric(t("Customers"), number(report["customers"]))
m[1].metric(t("Flagged"), number(report["flagged"]), help=percent(report["flagged"] / max(1, report["customers"]), 1))
m[2].metric(t("Outlier threshold (ECOD)"), f"{report['outlier']['threshold']:.1f}")
for note in result.warnings:
    st.warning(note)
for pattern, why in result.skipped.items():
    st.info(t("Not checked: {pattern}, because {why}.", pattern=pattern, why=why))
counts = {p: [n, report["over_threshold"].get(p), report["thresholds"].get(p)]
          for p, n in report["flagged_by_pattern"].items()}
st.subheader(t("Flagged by pattern"))
st.dataframe({t("Pattern"): list(counts), t("Flagged"): [c[0] for c in counts.values()],
              t("Over the threshold"): [c[1] for c in counts.values()],
              t("Threshold"): [c[2] for c in counts.values()]}, hide_index=True)
fig = px.histogram(result.table, x="risk_score", color="risk_flag", nbins=50, log_y=True,
                   labels={"risk_score": t("risk score"), "risk_flag": t("Flagged")})
st.plotly_chart(fig, width="stretch")
st.subheader(t("Flagged customers and why"))
flagged = result.flagged_table()
st.dataframe(flagged, hide_index=True, width="stretch", column_config=headers.shown(flagged))
exports.downloads(t("Download the flagged customers"), flagged, "risk", id_cols=("customer_id",))
ui.next_step("pages/targets.py", t("build a target list that leaves them out"))
