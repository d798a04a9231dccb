"""Optional sign-in: with an ``[auth]`` section in .streamlit/secrets.toml the app asks for an OIDC sign-in
(``st.login``) and lets in only the e-mails or domains on its ``allowed`` list; without it, Bullseye is a
single-user tool on this machine and says so. Who is signed in decides whose campaigns a page shows.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit import config as st_config  # where Streamlit looks for secrets files

from lib.data.privacy import LOCAL_USER, is_allowed
from lib.text.i18n import t


def settings() -> dict | None:
    """The ``[auth]`` section of the secrets, or None when sign-in is off."""
    try:
        section = st.secrets.get("auth")
    except FileNotFoundError:  # Streamlit's "no secrets" error is one; so is a secrets file it cannot parse
        if any(Path(p).exists() for p in st_config.get_option("secrets.files")):
            # A broken secrets file may hold a broken [auth]: fail closed rather than open the app to anyone.
            st.error(t("The secrets file (.streamlit/secrets.toml) cannot be read, so sign-in cannot be checked. "
                       "Fix its TOML syntax and reload."))
            st.stop()
        return None
    return dict(section) if section else None


def current_user() -> str:
    """The signed-in e-mail (lower case), or "local" when sign-in is off. Owner of campaigns and exports.

    Stops the run when sign-in is on and nobody allowed is signed in: app.py's gate already does, but on a
    fresh server Streamlit's pages/-folder mode can run a page by its URL without app.py."""
    conf = settings()
    if conf is None:
        return LOCAL_USER
    email = st.user.get("email") if st.user.get("is_logged_in", False) else None
    if not email or not is_allowed(email, conf.get("allowed")):
        st.info(t("Sign in first: open the app's home page."))
        st.stop()
    return str(email).strip().lower()


def _sign_in(provider: str | None) -> None:
    """Start the OIDC sign-in: the default provider, or the named one (``provider`` in [auth])."""
    if provider:
        st.login(provider)
    else:
        st.login()


def gate() -> str | None:
    """Run before the page: draw the sign-in screen and return None unless the user may use the app;
    else return who they are."""
    conf = settings()
    if conf is None:
        st.sidebar.caption(t("Local single-user mode: no sign-in, for use on this computer only (the app listens "
                             "on localhost). To share it, set up sign-in: see Privacy and sign-in in the README."))
        return LOCAL_USER
    if not st.user.get("is_logged_in", False):
        st.title("Bullseye")
        st.info(t("Sign in to use Bullseye: customer data and campaigns are only shown to people on its allow-list."))
        st.button(t("Sign in"), type="primary", on_click=_sign_in, args=(conf.get("provider"),), key="auth_sign_in")
        return None
    email = st.user.get("email")
    if not is_allowed(email, conf.get("allowed")):
        st.title("Bullseye")
        st.error(t("{who} is not on the allow-list of this Bullseye. Ask its administrator to add your e-mail "
                   "address or domain, then sign in again.", who=email or t("This account")))
        st.button(t("Sign out"), on_click=st.logout, key="auth_sign_out_denied")
        return None
    st.sidebar.caption(t("Signed in as {email}", email=email))
    st.sidebar.button(t("Sign out"), on_click=st.logout, key="auth_sign_out")
    return str(email).strip().lower()
