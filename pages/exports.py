"""Every download of the app goes through here: personal-data columns left out (unless picked for a send
list), customer ids pseudonymised when the switch on the Target list page is on, and each file that is
downloaded logged in the audit trail (shown on the Campaigns page).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

import pandas as pd
import streamlit as st

from lib.act.audiences import CHANNELS, audience_csv_bytes, audience_file_name, build_audiences, find_contact_columns
from lib.act.campaigns import record_export
from lib.act.targeting import to_csv_bytes, to_xlsx_bytes
from lib.data.privacy import Protected, load_key, protect
from lib.errors import DataValidationError
from lib.text.i18n import t
from pages import auth, headers, state, ui

log = logging.getLogger("bullseye.app")
SWITCH = "privacy_pseudonymise"  # not a per-file setting: it stays on when another file is loaded


def pseudonymising() -> bool:
    return bool(st.session_state.get(SWITCH, False))


def switch(where=st) -> bool:
    """The "pseudonymise" toggle (Target list page); its value applies to every download of the app."""
    return bool(state.setting(where.toggle, t("Pseudonymise customer ids in every download"), SWITCH, default=False,
                              help=t("Each id becomes a keyed pseudonym (HMAC-SHA256): the same key gives the same "
                                     "pseudonym, so files still join and results match back, but nobody without "
                                     "the key can tell who is who. Personal-data columns are never written then.")))


def key() -> bytes | None:
    """The pseudonymisation key when the switch is on, else None."""
    if not pseudonymising():
        return None
    with ui.guarded(t("reading the pseudonymisation key")):
        return load_key()


def protected(frame: pd.DataFrame, id_cols: tuple[str, ...], roles: dict | None = None,
              keep_personal: tuple[str, ...] = ()) -> Protected:
    """``frame`` as a download may hold it (see ``lib.data.privacy.protect``), under the current switch."""
    return protect(frame, id_cols, roles or {}, key(), keep_personal)


def download(where, label: str, frame: pd.DataFrame, file_name: str, mime: str = "text/csv", *,
             id_cols: tuple[str, ...] = ("id",), roles: dict | None = None, keep_personal: tuple[str, ...] = (),
             to_bytes: Callable[[pd.DataFrame], bytes] = to_csv_bytes, campaign: str | None = None,
             after: Callable[[], None] | None = None, **kwargs) -> None:
    """A download button for a table: protected and written only when clicked, then logged."""
    k, roles = key(), roles or {}

    def make() -> tuple[bytes, list[str], int, bool]:
        # Runs outside the page (a deferred download): everything it needs was read above.
        safe = protect(frame, id_cols, roles, k, keep_personal)
        return to_bytes(safe.frame), [str(c) for c in safe.frame.columns], len(safe.frame), safe.pseudonymised

    download_file(where, label, make, file_name, mime, campaign=campaign, after=after, **kwargs)


def download_file(where, label: str, make: Callable[[], tuple[bytes, list[str], int, bool]], file_name: str,
                  mime: str, *, campaign: str | None = None, after: Callable[[], None] | None = None,
                  **kwargs) -> None:
    """A download button whose file (bytes, columns, rows, pseudonymised) is made once, on click, and
    logged in the audit trail with who downloaded it, and then ``after`` runs (e.g. record the campaign)."""
    made: dict = {}
    owner, source = auth.current_user(), (state.source() or {}).get("digest")

    def once() -> tuple[bytes, list[str], int, bool]:
        if "file" not in made:  # the browser's fetch and the click's callback share one file
            made["file"] = make()
        return made["file"]

    def clicked() -> None:
        data, columns, rows, pseudo = once()
        try:
            record_export(file_name, data, columns, rows, pseudo, owner=owner, via="app", campaign=campaign,
                          source_sha256=source)
        except (DataValidationError, sqlite3.Error, OSError):  # the file is already on its way: say the log missed it, no traceback
            log.exception("could not log the download of %s", file_name)
            st.toast(t("{file} was downloaded but could not be logged in the audit trail: check the data folder.",
                       file=file_name))
        if after is not None:
            after()

    where.download_button(label, lambda: once()[0], file_name, mime, on_click=clicked, **kwargs)


def downloads(label: str, frame: pd.DataFrame, stem: str, *, id_cols: tuple[str, ...] = ("id",),
              roles: dict | None = None, campaign: str | None = None) -> None:
    """"<label> (CSV)" and "<label> (CSV for Excel, with BOM)" buttons: machine-readable headers unless
    Chinese ones are asked for, and every download protected and logged (see ``download``)."""
    chinese = headers.chinese_headers(stem)
    a, b = st.columns(2)
    download(a, t("{what} (CSV)", what=label), frame, f"{stem}.csv", id_cols=id_cols, roles=roles,
             to_bytes=lambda f: to_csv_bytes(headers.for_file(f, chinese)), campaign=campaign, key=f"csv_{stem}")
    download(b, t("{what} (CSV for Excel, with BOM)", what=label), frame, f"{stem}.excel.csv", id_cols=id_cols,
             roles=roles, to_bytes=lambda f: to_csv_bytes(headers.for_file(f, chinese), excel_friendly=True),
             campaign=campaign, key=f"excel_{stem}")


def send_list(columns, frame: pd.DataFrame, name: str, about: dict, chinese: bool, **sent) -> None:
    """The send list as CSV, CSV for Excel (BOM) and .xlsx (with an About sheet), in three ``columns``.
    Files are written only when a button is clicked, never on every slider move, and each is logged; ids
    are pseudonymised and personal data dropped first (by the columns' own names), then headers renamed."""
    d1, d2, d3 = columns
    download(d1, t("CSV (UTF-8)"), frame, f"{name}.csv",
             to_bytes=lambda f: to_csv_bytes(headers.for_file(f, chinese)), **sent)
    download(d2, t("CSV for Excel (with BOM)"), frame, f"{name}.excel.csv",
             to_bytes=lambda f: to_csv_bytes(headers.for_file(f, chinese), excel_friendly=True), **sent)
    download(d3, t("Excel (.xlsx)"), frame, f"{name}.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             to_bytes=lambda f: to_xlsx_bytes(headers.for_file(f, chinese), headers.for_file(about, chinese)), **sent)


def audiences(table: pd.DataFrame, roles: dict, consent: str | None, campaign: str | None) -> None:
    """"Channel audiences": pick channels and the phone region, see what each file leaves out, and
    download each (target group only; protected by being refused under pseudonyms, and logged)."""

    st.subheader(t("Channel audiences"))
    if pseudonymising():
        st.info(t("Audience files are made of customers' e-mails and phones (hashed for Google and Meta, which "
                  "is still personal data): turn pseudonymising off to make them."))
        return
    c1, c2 = st.columns([3, 1])
    channels = state.setting(c1.multiselect, t("Channels"), "cfg_aud_channels", default=[], options=list(CHANNELS))
    region = state.setting(c2.text_input, t("Phone region (e.g. US, GB, CN)"), "cfg_aud_region", default="",
                           help=t("The country of phone numbers written without a country code."))
    if not channels:
        return
    try:
        columns = find_contact_columns(table, roles, {"consent": consent} if consent else None)
        made = build_audiences(table, channels, columns, region.strip() or None)
    except DataValidationError as exc:
        st.warning(str(exc))
        return
    for col, aud in zip(st.columns(len(made)), made):
        col.metric(aud.channel, aud.rows)
        left = {**aud.left_out, **aud.blanked}
        if left:
            col.caption(t("Left out:") + " " + "; ".join(f"{n} {why}" for why, n in left.items()))
        for warning in aud.warnings:
            col.warning(warning)

        def make(a=aud) -> tuple[bytes, list[str], int, bool]:
            return audience_csv_bytes(a), [str(c) for c in a.frame.columns], a.rows, False

        download_file(col, t("Download {file}", file=audience_file_name(aud.channel)), make,
                      audience_file_name(aud.channel), "text/csv", campaign=campaign, key=f"aud_{aud.channel}")
    st.caption(t("Target group only: the control group is never in an audience. Google and Meta files are "
                 "normalised and SHA-256 hashed by each platform's rules; e-mail platforms get the addresses in "
                 "clear, only for customers whose consent says yes."))
