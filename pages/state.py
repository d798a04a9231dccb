"""Session state: the user's file, and the settings each step runs with, read from the widgets' keys.

Settings live in ``st.session_state`` under ``cfg_*`` keys (the widgets write them); this module turns
them into the frozen settings ``lib.flow.pipeline``'s steps take. Nothing here computes anything.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from lib.data.io import file_digest
from lib.flow.pipeline import AUTO, CustomerSettings, SegmentSettings, TrainSettings, UnderstandSettings
from lib.text.i18n import t
from pages import auth

ROOT = Path(__file__).resolve().parent.parent


def session_id() -> str:
    """This browser session's id: the heavy-job gate (lib.flow.gate) runs one heavy step per session."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


def samples() -> dict[str, Path]:
    """The one-click samples of the Upload page: label (in the page's language) -> file."""
    return {
        t("Synthetic shop: 5,000 customers with a response flag"): ROOT / "sample_data" / "shop_customers.csv",
        t("Synthetic shop: 62,000-line transaction log"): ROOT / "sample_data" / "shop_transactions.csv.gz",
        t("UCI Bank Marketing: 45,211 calls, did they subscribe?"): ROOT / "sample_data" / "bank_marketing.csv.gz",
    }


# Settings that belong to one file: a new file starts from scratch.
_PER_FILE = ("cfg_", "w_cfg_", "seg_", "model_", "tgt_", "score_", "rec_", "value_", "uplift_")


def setting(widget, label: str, key: str, default=None, **kwargs):
    """Draw ``widget`` whose value is a persistent setting ``key`` that survives page changes.

    Streamlit forgets a widget's value once a run does not draw it (i.e. on another page), so the
    widget gets its own key ("w_" + key) seeded from the setting, and its value is copied back.
    """
    wkey = "w_" + key
    if wkey not in st.session_state:
        if key in st.session_state:
            st.session_state[wkey] = st.session_state[key]
        elif default is not None:
            st.session_state[wkey] = default
    value = widget(label, key=wkey, **kwargs)
    st.session_state[key] = value
    return value


# --- the file -------------------------------------------------------------------------------------


def set_source(name: str, data: bytes) -> None:
    """Remember the user's file; settings from an earlier file are dropped."""
    digest = file_digest(data)
    current = st.session_state.get("source")
    if current and current["digest"] == digest and current["name"] == name:
        return
    for key in [k for k in st.session_state if k.startswith(_PER_FILE)]:
        del st.session_state[key]
    st.session_state["source"] = {"name": name, "data": data, "digest": digest}


def take_upload() -> None:
    """on_change of the uploader: a new upload replaces whatever was loaded before (a sample too)."""
    upload = st.session_state.get("uploader")
    if upload is not None:
        set_source(upload.name, upload.getvalue())


def source() -> dict | None:
    """The user's file. Every page reads data through here, so it also checks who is signed in (see
    ``auth.current_user``: no page works on customer data without app.py's sign-in)."""
    auth.current_user()
    return st.session_state.get("source")


def read_settings() -> tuple[str | None, str | None, str | None]:
    """Delimiter, encoding and sheet the user chose (None = detect)."""
    return st.session_state.get("cfg_sep"), st.session_state.get("cfg_encoding"), st.session_state.get("cfg_sheet")


# --- the steps' settings --------------------------------------------------------------------------


def is_transactions() -> bool:
    return bool(st.session_state.get("cfg_transactions", False))


def horizon() -> int | None:
    """Days of the "bought again within N days" target of a transaction log, or None."""
    h = st.session_state.get("cfg_horizon") or 0
    return int(h) if is_transactions() and h > 0 else None


def customer_settings() -> CustomerSettings:
    if not is_transactions():
        return CustomerSettings()
    return CustomerSettings(True, st.session_state.get("cfg_customer_col"), st.session_state.get("cfg_date_col"),
                            st.session_state.get("cfg_amount_col"), None, horizon(),
                            as_of=st.session_state.get("cfg_as_of"))


def understand_settings() -> UnderstandSettings:
    uplift = st.session_state.get("uplift_settings")
    return UnderstandSettings(
        target=st.session_state.get("cfg_target", AUTO), positive=st.session_state.get("cfg_positive"),
        id_col=st.session_state.get("cfg_id"), roles=tuple(sorted(st.session_state.get("cfg_roles", {}).items())),
        exclude=(uplift.treatment,) if uplift is not None else (),  # who got a campaign is never a feature
    )


def segment_settings() -> SegmentSettings | None:
    """The segmentation the user asked for, or None before they press "Find segments"."""
    return st.session_state.get("seg_settings")


def segment_names() -> tuple[tuple[int, str], ...]:
    return tuple(sorted(st.session_state.get("seg_names", {}).items()))


def train_settings() -> TrainSettings | None:
    """The model the user asked for, or None before they press "Train model"."""
    return st.session_state.get("model_settings")


def actionable(features: tuple[str, ...]) -> tuple[str, ...] | None:
    """The features reasons may use, among ``features`` (a choice made for another model is dropped)."""
    chosen = [f for f in st.session_state.get("cfg_actionable") or () if f in features]
    return tuple(chosen) if chosen else None


def scoring_new_file() -> dict | None:
    """The new file being scored by a saved model ({model, data}), or None: the trained file is on screen."""
    return st.session_state.get("score_active")
