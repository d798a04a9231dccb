"""Who the campaign changes: an uplift model learned from a randomised control group."""

import streamlit as st

from lib import plots
from lib.uplift import UpliftSettings
from pages import log_steps, state, ui

st.title("Uplift: who the campaign changes")
cust, und = ui.require_data()
frame = cust.frame
st.write("A propensity model finds customers likely to buy anyway. With a campaign's results (who was sent it, "
         "who was kept out as a random control group, and what each did), Bullseye learns who buys **because** "
         "of the campaign, and who is put off by it. Target those, and the budget buys extra sales.")
if und.target is None or und.target_problem:
    st.info("Choose the outcome (target) on the Upload page first: what the campaign should change.")
    st.stop()
arms = [c for c in frame.columns if c != und.target and 2 <= frame[c].nunique(dropna=True) <= 6]
guess = next((c for c in arms if any(w in str(c).lower() for w in ("treat", "group", "arm", "sent", "control",
                                                                     "campaign", "test"))), None)
if not arms:
    st.info("No column here says who got the campaign (a column with two values such as sent/control).")
    st.stop()
c1, c2 = st.columns(2)
treatment = state.setting(c1.selectbox, "Who got the campaign (treatment column)", "cfg_treatment",
                          default=guess or arms[0], options=arms)
values = sorted(frame[treatment].dropna().astype(str).str.strip().unique().tolist())
treated = state.setting(c2.selectbox, "Value for those who got it", "cfg_treated_value",
                        default=next((v for v in values if v.lower() not in ("control", "no", "0", "none")),
                                     values[0]), options=values)
settings = UpliftSettings(treatment=treatment, treated_value=treated)
st.caption(f"Outcome: **{und.target}** = **{und.positive}**. The treatment column is never a feature, and "
           "columns that are outcomes of the target are kept out.")
if st.button("Model the uplift", type="primary") or st.session_state.get("uplift_settings") == settings:
    with st.spinner("Training the uplift learners and judging them on customers they never saw…"), \
            ui.guarded("modelling the uplift"):
        result = log_steps.run_uplift(settings)
    st.session_state["uplift_settings"] = settings
else:
    st.info("Choose the treatment column, then press **Model the uplift**.")
    st.stop()

(st.success if result.beats_random else st.warning)(result.verdict)
for w in result.warnings:
    st.warning(w)
m = st.columns(4)
m[0].metric("Qini (normalised)", f"{result.qini:.3f}", help="0 = no better than random, 1 = perfect ranking of "
            "who the campaign changes (on holdout customers).")
m[1].metric("Campaign effect", f"{result.ate * 100:+.1f} pts", help=f"95% interval {result.ate_ci[0] * 100:+.1f} "
            f"to {result.ate_ci[1] * 100:+.1f} pts")
m[2].metric("Sent / control", f"{result.n_treated:,} / {result.n_control:,}")
m[3].metric("Learner", result.method)
st.plotly_chart(plots.uplift_deciles(result.uplift_by_decile), width="stretch")
reasons, persuadable = log_steps.uplift_explained(result, settings)
st.plotly_chart(plots.persuadable(persuadable), width="stretch")
table = result.table.assign(id=und.ids).join(reasons)
st.dataframe(table.sort_values("uplift", ascending=False).head(300), hide_index=True, width="stretch")
st.caption("The Target list can now rank customers by uplift instead of by score.")
ui.next_step("pages/targets.py", "target the customers the campaign changes")
