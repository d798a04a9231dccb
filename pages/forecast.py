"""Market forecast: the shop's net sales by month or week, the method a backtest chose, its bands and
the breakdowns that add up to it."""

import streamlit as st

from lib.act import plots
from lib.models.forecast import ForecastSettings
from lib.models.forecast.candidates import METHOD_LABELS
from lib.text.i18n import number, percent, t
from pages import exports, headers, log_steps, state, ui

st.title(t("Market forecast"))
cust, und = ui.require_data()
ui.require_log(t("Market forecasts"))
st.write(t("Where the shop's net sales are going: every line of the log (returns as negatives, with or without a "
           "customer id) summed by month or week. Each method is first tried on the history — forecasting from "
           "earlier points and comparing with what really happened — next to 'same period last year'; the one that "
           "missed least is used, and its bands are never narrower than its misses."))
c = st.columns(2)
units = {"M": t("months"), "W": t("weeks")}  # words made now, in the page's language (AppTest formats later)
freq = state.setting(c[0].radio, t("Forecast by"), "cfg_forecast_freq", default="M", options=list(units),
                     format_func=units.get, horizontal=True)
horizon = int(state.setting(c[1].number_input, t("Periods ahead"), "cfg_forecast_horizon", default=3,
                            min_value=1, max_value=24 if freq == "M" else 104, step=1))
settings = ForecastSettings(freq=freq, horizon=horizon)
if st.button(t("Forecast sales"), type="primary") or st.session_state.get("forecast_settings") == settings:
    with st.spinner(t("Trying every method on the history, then forecasting…")), ui.guarded(t("forecasting sales")):
        result = log_steps.run_forecast(settings)
    st.session_state["forecast_settings"] = settings
else:
    st.info(t("Choose months or weeks and how far ahead, then press **Forecast sales**."))
    st.stop()

st.success(result.sentence)
report = result.to_report()["backtest"]
m = st.columns(4)
m[0].metric(t("Method"), t(METHOD_LABELS[result.method]))
m[1].metric(t("History"), t("{n} {unit}", n=result.history_periods, unit=units[freq]))
m[2].metric(t("Backtest error (MASE)"), number(report["mase"], 2),
            help=t("Average miss on the history, relative to the typical change from one year (or period) to the "
                   "next; 'same period last year' scored {snaive}.", snaive=number(report["seasonal_naive_mase"], 2)))
m[3].metric(t("95% band held"), percent(report["coverage_95"], 0),
            help=t("How often the real value fell inside the 95% band in the backtest (80% band: {c80})."
                   , c80=percent(report["coverage_80"], 0)))
st.caption(result.reason)
for note in result.warnings:
    st.warning(note)

levels = {lv: t("the whole shop") if lv == "total" else lv for lv in result.forecast["level"]}
level = st.selectbox(t("Show"), list(levels), key="forecast_level", format_func=levels.get)
st.plotly_chart(plots.market_forecast(result.history, result.forecast, level), width="stretch")

st.subheader(t("How each method did on the history"))
table = result.backtest.assign(label=[t(METHOD_LABELS[n]) for n in result.backtest["method"]])
st.dataframe(table, hide_index=True, width="stretch",
             column_config=headers.shown(table, mase=t("MASE"), mae=t("Mean miss"), coverage_80=t("80% band held"),
                                         coverage_95=t("95% band held"), forecasts=t("Forecasts checked")))

parts = result.forecast[result.forecast["level"] != "total"]
if len(parts):
    st.subheader(t("Breakdowns (they add up to the total)"))
    wide = parts.pivot_table(index="level", columns="period", values="forecast", sort=False).reset_index()
    st.dataframe(wide.round(0), hide_index=True, width="stretch",
                 column_config=headers.shown(wide, level=t("Part")))
exports.downloads(t("Download the forecast"), result.forecast, "forecast", id_cols=())
ui.next_step("pages/value.py", t("see what each customer is worth"))
