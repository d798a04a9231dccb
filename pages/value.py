"""Customer value: predicted spend, churn risk and a revenue forecast, validated on the last window."""

import streamlit as st

from lib.act import plots
from lib.data.privacy import merge_small
from lib.models.risk.shares import flagged_by_group, value_band_order, value_bands
from lib.models.value import ValueSettings, forecast_by_segment, forecast_chart_frame, value_importance
from lib.text.i18n import number, percent, t
from pages import exports, headers, log_steps, state, steps, ui

st.title(t("Customer value"))
cust, und = ui.require_data()
ui.require_log(t("Customer value predictions"))
st.write(t("Who will spend how much in the coming weeks, who is slipping away, and what the base will bring in. "
           "Every method is first checked on the latest window the log allows (fitted before it, judged on what "
           "customers really spent in it) next to a naive ranking by past spend; the best is refitted and applied."))
st.page_link("pages/forecast.py", label=t("The shop's sales by month, with the season: Market forecast"),
             icon=":material/show_chart:")
horizon = int(state.setting(st.number_input, t("Days ahead"), "cfg_value_horizon", default=state.horizon() or 90,
                            min_value=14, max_value=365, step=15))
settings = ValueSettings(horizon_days=horizon)
if st.button(t("Predict value"), type="primary") or st.session_state.get("value_settings") == settings:
    with st.spinner(t("Checking every method on the last window, then predicting…")), \
            ui.guarded(t("predicting value")):
        result = log_steps.run_value(settings)
    st.session_state["value_settings"] = settings
else:
    st.info(t("Choose how many days ahead, then press **Predict value**."))
    st.stop()

m = st.columns(4)
m[0].metric(t("Revenue forecast, next {days} days", days=horizon), number(result.forecast_total),
            help=t("Range {low} to {high}, from what the method missed on the last window it could check.",
                   low=number(result.forecast_low), high=number(result.forecast_high)))
m[1].metric(t("Customers"), number(len(result.table)))
m[2].metric(t("Likely to churn"), percent((result.table["churn_risk"] > 0.5).mean(), 0),
            help=t("Share of customers with more than a 50% chance of not buying in the next {days} days.",
                   days=horizon))
m[3].metric(t("Method"), result.method, help=t(result.method_label))  # i18n: lib.models.value.METHOD_LABELS
st.caption(f"{result.selection} {result.caveat}")
for note in result.notes:
    st.info(note)
st.plotly_chart(plots.revenue_forecast(forecast_chart_frame(result)), width="stretch")
st.subheader(t("How each method did on the last window"))
st.dataframe(result.validation, hide_index=True, width="stretch", column_config=headers.shown(result.validation))

seg = steps.segmentation()
if seg is not None:
    st.subheader(t("Value and churn risk by segment"))
    by_segment = forecast_by_segment(result, und.ids, merge_small(seg.names()).to_numpy())
    st.dataframe(by_segment, hide_index=True, width="stretch", column_config=headers.shown(by_segment, segment=t("Segment")))
if (danger := log_steps.customer_risk()) is not None:
    st.subheader(t("Flagged as risky, by value band"))
    bands = value_bands(result.table["clv_12m"])
    by_risk = flagged_by_group(danger, result.table["customer_id"], bands, value_band_order())
    st.dataframe(by_risk, hide_index=True, width="stretch", column_config=headers.shown(by_risk, group=t("Value band")))
st.subheader(t("Valuable customers slipping away"))
worth = result.table.merge(log_steps.value_reasons(result), on="customer_id")
risky = worth.sort_values("clv_12m", ascending=False)
risky = risky[risky["churn_risk"] > 0.5].head(200)
st.dataframe(risky, hide_index=True, width="stretch", column_config=headers.shown(risky))
st.subheader(t("Why a customer is worth what they are worth"))
st.plotly_chart(plots.value_drivers(value_importance(result)), width="stretch")
exports.downloads(t("Download every customer's value"), worth, "customer_value", id_cols=("customer_id",))
ui.next_step("pages/targets.py", t("build a target list (customers.csv carries the value columns)"))
