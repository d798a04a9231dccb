"""Bullseye: precision-marketing analytics. Entry point: page config, language, the sign-in gate and navigation."""

import lib.compute  # noqa: F401, I001  (first: OpenMP reads its wait policy when XGBoost loads; lib/compute.py)
import logging

import streamlit as st

from lib.text.i18n import t
from pages import language
from pages.auth import gate
from pages.ui import guarded

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
st.set_page_config(page_title="Bullseye", page_icon=":material/target:", layout="wide")
language.decide()  # before anything is written: titles, navigation and every lib/ step use it

pages = {
    t("Guided flow"): [
        st.Page("pages/upload.py", title=t("1. Upload & understand"), icon=":material/upload:", default=True),
        st.Page("pages/segments.py", title=t("2. Segments"), icon=":material/bubble_chart:"),
        st.Page("pages/propensity.py", title=t("3. Propensity model"), icon=":material/trending_up:"),
        st.Page("pages/explain.py", title=t("4. Explain"), icon=":material/lightbulb:"),
        st.Page("pages/targets.py", title=t("5. Target list"), icon=":material/checklist:"),
        st.Page("pages/campaigns.py", title=t("6. Campaigns & results"), icon=":material/history:"),
    ],
    t("Learn more"): [
        st.Page("pages/uplift.py", title=t("Uplift"), icon=":material/call_split:"),
        st.Page("pages/value.py", title=t("Customer value"), icon=":material/payments:"),
        st.Page("pages/forecast.py", title=t("Market forecast"), icon=":material/show_chart:"),
        st.Page("pages/risk.py", title=t("Risk control"), icon=":material/gpp_maybe:"),
        st.Page("pages/recommend.py", title=t("Recommendations"), icon=":material/shopping_cart:"),
    ],
    t("Reuse a model"): [
        st.Page("pages/score.py", title=t("Score a new file"), icon=":material/upload_file:"),
    ],
}
language.switch()
with guarded(t("this page")):  # no traceback ever reaches the user
    user = gate()  # with [auth] in secrets.toml: None (sign-in screen drawn) unless on the allow-list
    # Navigation is declared on every run, signed in or not: a run without it would fall back to Streamlit's
    # pages/-folder mode, where a page's URL runs that page without this gate.
    page = st.navigation(pages, position="sidebar" if user else "hidden")
    if user is None:
        st.stop()
    page.run()
