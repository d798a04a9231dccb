"""Which language this run speaks: the sidebar switch, else ``?lang=`` in the URL, else the browser's.

``lib.i18n`` holds the language in a context variable; ``app.py`` calls ``decide`` at the top of every
run, before navigation, so every page and every ``lib/`` step in the run speaks the same language.
"""

from __future__ import annotations

import streamlit as st

from lib.i18n import LANGUAGE_NAMES, LANGUAGES, normalise, set_language

KEY = "lang"  # the switch's key: not a per-file setting (pages.state._PER_FILE), so a new file keeps it


def decide() -> str:
    """Set this run's language and return it.

    The first run of a session takes ``?lang=`` or else the browser's language (``st.context.locale``);
    from then on the switch's value wins (its session-state value is seeded with that first choice, so
    the switch shows it). The URL is kept in step with the choice: page changes and reloads keep it.
    """
    if st.session_state.get(KEY) not in LANGUAGES:
        wanted = st.query_params.get("lang") or st.context.locale
        st.session_state[KEY] = normalise(wanted)
    lang = set_language(st.session_state[KEY])
    if st.query_params.get("lang") != lang:
        st.query_params["lang"] = lang
    return lang


def switch() -> None:
    """The sidebar switch. Widgets are identified by their keys (Streamlit ≥ 1.50), so relabelling
    every widget in the other language resets none of them."""
    st.sidebar.segmented_control("Language / 语言", LANGUAGES, key=KEY, format_func=LANGUAGE_NAMES.get,
                                 selection_mode="single", label_visibility="collapsed")
