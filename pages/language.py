"""Which language this run speaks: the sidebar switch, else ``?lang=`` in the URL, else the browser's.

``lib.text.i18n`` holds the language in a context variable; ``app.py`` calls ``decide`` at the top of every
run, before navigation, so every page and every ``lib/`` step in the run speaks the same language.
"""

from __future__ import annotations

import streamlit as st

from lib.text.i18n import LANGUAGE_NAMES, LANGUAGES, normalise, set_language

KEY = "language"  # the session's choice; not a per-file setting (pages.state._PER_FILE): a new file keeps it
WIDGET = "w_language"  # the switch; its value is copied to KEY, so the choice never depends on a widget's life


def decide() -> str:
    """Set this run's language and return it.

    The first run of a session takes ``?lang=`` or else the browser's language (``st.context.locale``);
    from then on the sidebar switch's choice wins. The URL is kept in step with the choice, so it
    survives page changes and a reload, and can be shared.
    """
    if st.session_state.get(KEY) not in LANGUAGES:
        st.session_state[KEY] = normalise(st.query_params.get("lang") or st.context.locale)
    lang = set_language(st.session_state[KEY])
    if st.query_params.get("lang") != lang:
        st.query_params["lang"] = lang
    return lang


# Keys of widgets whose options are shown through translated labels (a new one must use one of these
# prefixes). The browser keeps the label it shows, not the value: after a switch that label is not among
# the new ones, so it would show no choice and later send back a label that means nothing. Setting their
# values again on a switch makes Streamlit send the browser the new label (tests/e2e/test_chinese.py).
RELABELLED = ("w_", "score_which", "seg_inside_", "campaign_outcome_", "campaign_revenue_", "explain_feature_",
              "explain_segments_", "rollup_")


def _switched() -> None:
    chosen = st.session_state.get(WIDGET)
    if chosen not in LANGUAGES or chosen == st.session_state.get(KEY):
        return  # clicking the chosen language again deselects it: keep the choice
    st.session_state[KEY] = chosen
    for k in [k for k in st.session_state if str(k).startswith(RELABELLED) and k != WIDGET]:
        st.session_state[k] = st.session_state[k]  # read through the old labels (a callback runs before the page)


def switch() -> None:
    """The sidebar switch. Streamlit (1.67) identifies a keyed widget by its key, not its label, so
    relabelling every widget in the other language resets none of them."""
    st.session_state[WIDGET] = st.session_state[KEY]
    st.sidebar.segmented_control("Language / 语言", LANGUAGES, key=WIDGET, format_func=LANGUAGE_NAMES.get,
                                 on_change=_switched, label_visibility="collapsed")
