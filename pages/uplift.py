"""Who the campaign changes: an uplift model learned from a randomised control group."""

import streamlit as st

from lib.act import plots
from lib.models.uplift import UpliftSettings
from lib.text.i18n import number, t
from pages import headers, log_steps, state, ui

st.title(t("Uplift: who the campaign changes"))
cust, und = ui.require_data()
frame = cust.frame
st.write(t("A propensity model finds customers likely to buy anyway. With a campaign's results (who was sent it, "
           "who was kept out as a random control group, and what each did), Bullseye learns who buys **because** "
           "of the campaign, and who is put off by it. Target those, and the budget buys extra sales."))
if und.target is None or und.target_problem:
    st.info(t("Choose the outcome (target) on the Upload page first: what the campaign should change."))
    st.stop()
arms = [c for c in frame.columns if c != und.target and 2 <= frame[c].nunique(dropna=True) <= 6]
guess = next((c for c in arms if any(w in str(c).lower() for w in ("treat", "group", "arm", "sent", "control",
                                                                     "campaign", "test"))), None)
if not arms:
    st.info(t("No column here says who got the campaign (a column with two values such as sent/control)."))
    st.stop()
c1, c2 = st.columns(2)
treatment = state.setting(c1.selectbox, t("Who got the campaign (treatment column)"), "cfg_treatment",
                          default=guess or arms[0], options=arms)
values = sorted(frame[treatment].dropna().astype(str).str.strip().unique().tolist())
treated = state.setting(c2.selectbox, t("Value for those who got it"), "cfg_treated_value",
                        default=next((v for v in values if v.lower() not in ("control", "no", "0", "none")),
                                     values[0]), options=values)
settings = UpliftSettings(treatment=treatment, treated_value=treated)
st.caption(t("Outcome: **{target}** = **{positive}**. The treatment column is never a feature, and columns that are "
             "outcomes of the target are kept out.", target=und.target, positive=und.positive))
if st.button(t("Model the uplift"), type="primary") or st.session_state.get("uplift_settings") == settings:
    with st.spinner(t("Training the uplift learners and judging them on customers they never saw…")), \
            ui.guarded(t("modelling the uplift")):
        result = log_steps.run_uplift(settings)
    st.session_state["uplift_settings"] = settings
else:
    st.info(t("Choose the treatment column, then press **Model the uplift**."))
    st.stop()

(st.success if result.beats_random else st.warning)(result.verdict)
for w in result.warnings:
    st.warning(w)
m = st.columns(4)
m[0].metric(t("Qini (normalised)"), f"{result.qini:.3f}", help=t("0 = no better than random, 1 = perfect ranking of "
            "who the campaign changes (on holdout customers)."))
m[1].metric(t("Campaign effect"), t("{points} pts", points=f"{result.ate * 100:+.1f}"), help=t(
    "95% interval {low} to {high} pts", low=f"{result.ate_ci[0] * 100:+.1f}", high=f"{result.ate_ci[1] * 100:+.1f}"))
m[2].metric(t("Sent / control"), f"{number(result.n_treated)} / {number(result.n_control)}")
m[3].metric(t("Learner"), result.method)
st.plotly_chart(plots.uplift_deciles(result.uplift_by_decile), width="stretch")
reasons, persuadable = log_steps.uplift_explained(result, settings)
st.plotly_chart(plots.persuadable(persuadable), width="stretch")
table = result.table.assign(id=und.ids).join(reasons)
top = table.sort_values("uplift", ascending=False).head(300)
st.dataframe(top, hide_index=True, width="stretch", column_config=headers.shown(top))
st.caption(t("The Target list can now rank customers by uplift instead of by score."))
ui.next_step("pages/targets.py", t("target the customers the campaign changes"))
