"""Privacy of what leaves Bullseye: keyed pseudonyms for customer ids, no personal data in exports,
no aggregate small enough to single out a person, and who may sign in.

Pseudonyms are HMAC-SHA256 of the id under a secret key, not a plain hash: a plain hash of an e-mail
or a customer number is reversed by hashing guesses. The same key gives the same pseudonyms, so
pseudonymised files still join to each other and campaign results can be matched back.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lib.data.io.atomic import create_once
from lib.data.schema import ids_as_text
from lib.errors import DataValidationError
from lib.text.i18n import t

log = logging.getLogger(__name__)

KEY_ENV = "BULLSEYE_SECRET_KEY"
KEY_FILE = "secret.key"
MIN_KEY_CHARS = 16  # a short key is guessable, and a guessed key undoes every pseudonym
PSEUDONYM_HEX = 20  # 80 bits: no collision in practice, short enough to read in a spreadsheet
SMALL_GROUP = 10  # default: groups under this many customers are not shown or exported as aggregates
OTHER_SMALL = "Other (small segments)"  # the merged group, in profiles, charts and tables alike
LOCAL_USER = "local"  # the owner of campaigns and exports when sign-in is off


def data_dir(path: str | Path | None = None) -> Path:
    """The data directory: ``path``, else ``BULLSEYE_DATA_DIR``, else ~/.bullseye (created if missing)."""
    d = Path(path) if path is not None else Path(os.environ.get("BULLSEYE_DATA_DIR", Path.home() / ".bullseye"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def load_key(path: str | Path | None = None) -> bytes:
    """The pseudonymisation key: ``BULLSEYE_SECRET_KEY`` when set, else the key kept in the data
    directory, generated on first use and readable by its owner only (mode 600)."""
    env = os.environ.get(KEY_ENV)
    if env is not None:
        if len(env.strip()) < MIN_KEY_CHARS:
            raise DataValidationError(t(
                "{env} is set but shorter than {n} characters: use a long random value (e.g. the output of "
                "`python -c \"import secrets; print(secrets.token_hex(32))\"`), or unset it to let Bullseye keep a key "
                "in its data folder.", env=KEY_ENV, n=MIN_KEY_CHARS))
        return env.strip().encode("utf-8")
    try:
        return _stored_key(data_dir(path) / KEY_FILE)
    except OSError as exc:
        raise DataValidationError(t(
            "Cannot keep the pseudonymisation key in {path}: {why}. Give a writable data folder (BULLSEYE_DATA_DIR "
            "or --data-dir), or set {env}.", path=exc.filename or path, why=exc.strerror, env=KEY_ENV)) from None


def _stored_key(key_path: Path) -> bytes:
    """The key in ``key_path``, written there (mode 600) when there is none yet."""
    # Created whole under its name or not at all: two processes starting at once cannot both write a key
    # (the loser reads the winner's), and none ever reads a key file still being written.
    if create_once(key_path, secrets.token_hex(32).encode("ascii"), 0o600):
        log.info("created the pseudonymisation key %s", key_path)
    if key_path.stat().st_mode & 0o077:
        key_path.chmod(0o600)  # a key others can read is no secret
    key = key_path.read_text(encoding="ascii").strip()
    if len(key) < MIN_KEY_CHARS:
        raise DataValidationError(t("The key file {path} is empty or too short: delete it to have a new one made "
                                    "(pseudonyms then change), or restore it from a backup.", path=key_path))
    return key.encode("ascii")


def key_id(key: bytes) -> str:
    """A short public fingerprint of the key, so a report says which key its pseudonyms came from."""
    return hmac.new(key, b"bullseye key id", hashlib.sha256).hexdigest()[:8]


def pseudonymise(ids: pd.Series | np.ndarray | list, key: bytes) -> np.ndarray:
    """Keyed pseudonym (HMAC-SHA256, first 20 hex characters) of each id, as object array.

    Ids are compared as text the way the rest of Bullseye reads them (``100001.0`` is ``100001``), so the
    same customer gets the same pseudonym in every file; missing ids stay missing."""
    text = ids_as_text(pd.Series(ids) if not isinstance(ids, pd.Series) else ids)
    out = np.empty(len(text), dtype=object)
    for i, v in enumerate(text.to_numpy()):
        out[i] = None if v is None or (isinstance(v, float) and np.isnan(v)) else \
            hmac.new(key, str(v).encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]
    return out


def personal_columns(roles: dict[str, str]) -> list[str]:
    """Columns whose role is personal data (e-mail, phone, name, address)."""
    return [c for c, r in roles.items() if r == "pii"]


@dataclass(frozen=True)
class Protected:
    """An export after protection: the frame to write and what was done to it (for the audit trail)."""

    frame: pd.DataFrame
    pseudonymised: bool
    dropped: tuple[str, ...]  # personal-data columns left out


def protect(frame: pd.DataFrame, id_cols: list[str] | tuple[str, ...], roles: dict[str, str],
            key: bytes | None, keep_personal: tuple[str, ...] = ()) -> Protected:
    """The frame as it may leave Bullseye: personal-data columns dropped unless the user picked them
    (``keep_personal``, a send list's contact columns), and with a ``key`` the id columns replaced by
    pseudonyms and every personal-data column dropped. ``frame`` is not modified."""
    personal = set(personal_columns(roles)) - set(id_cols)
    drop = [c for c in frame.columns if c in personal and (key is not None or c not in keep_personal)]
    out = frame.drop(columns=drop)
    if key is not None:
        out = out.copy()
        for c in id_cols:
            if c in out.columns:
                out[c] = pseudonymise(out[c], key)
    return Protected(out, key is not None, tuple(drop))


def redact(obj, values: dict[str, str]):
    """``obj`` (a report: dicts, lists, text) with every listed value replaced by its stand-in.

    Messages can quote an example value ("duplicate id 100231"); with pseudonyms on, no raw id or
    personal value may reach report.json. Values are matched as whole words (or runs of up to three
    words, for names), so an id like 750 is not "found" inside 1,750."""
    if not values:
        return obj
    if isinstance(obj, dict):
        return {k: redact(v, values) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact(v, values) for v in obj]
    if not isinstance(obj, str):
        return obj
    if obj in values:
        return values[obj]
    words = _WORDS.split(obj)
    for n in (3, 2, 1):
        i = 0
        while i + 2 * n - 1 <= len(words):
            phrase = "".join(words[i:i + 2 * n - 1])
            if phrase in values:
                words[i:i + 2 * n - 1] = [values[phrase]] + [""] * (2 * n - 2)
            i += 2
    return "".join(words)


# Word boundaries: spaces, brackets and quotes, a comma or full stop not inside a number (1,750 and 0.5 stay whole).
_WORDS = re.compile(r"(\s+|[;:()\[\]'\"<>]|,(?!\d)|\.(?=\s|$))")
MIN_REDACTED_ID = 4  # shorter ids (row numbers 0-999) would turn every small number in a message into a pseudonym


def report_redactions(ids: pd.Series | np.ndarray, pseudonyms: np.ndarray,
                      personal: pd.DataFrame | None) -> dict[str, str]:
    """The stand-ins ``redact`` uses: each id by its pseudonym, each personal value by a placeholder."""
    out = {str(i): str(p) for i, p in zip(ids_as_text(pd.Series(ids)).to_numpy(), pseudonyms)
           if i is not None and len(str(i)) >= MIN_REDACTED_ID}
    if personal is not None:
        for c in personal.columns:
            for v in personal[c].dropna().astype(str).unique():
                if len(v.strip()) >= 3:  # "A." or "" is no one's personal data
                    out[v] = t("[personal data]")
    return out


# --- small groups ---------------------------------------------------------------------------------


def segments_report(rows: list[dict], min_size: int = SMALL_GROUP) -> list[dict]:
    """The ``segments`` list of a report (report.json), with the small-group rule applied: a segment
    under ``min_size`` customers keeps only its id, name, size and share, plus ``"hidden": true``; its
    description and target rate would describe a handful of people.

    ``rows``: one dict per segment with ``id``, ``name``, ``size``, ``share`` (0-1), ``description`` and
    optionally ``target_rate`` (None or absent: not reported). Shares and rates are rounded to 4 places;
    other keys are not reported. The one place the rule lives, for the whole-file and streaming reports.
    """
    out = []
    for row in rows:
        entry = {"id": row["id"], "name": row["name"], "size": int(row["size"]), "share": round(float(row["share"]), 4)}
        if entry["size"] < min_size:
            entry["hidden"] = True
        else:
            entry["description"] = row["description"]
            if row.get("target_rate") is not None:
                entry["target_rate"] = round(float(row["target_rate"]), 4)
        out.append(entry)
    return out


def merge_small(labels: pd.Series | np.ndarray, threshold: int = SMALL_GROUP,
                other: str | None = None) -> pd.Series:
    """Labels with every group under ``threshold`` customers merged into ``other``; when the merged
    group is itself too small, its customers' label is missing (hidden), so no aggregate describes
    fewer than ``threshold`` people."""
    other = t(OTHER_SMALL) if other is None else other  # i18n: OTHER_SMALL is in the catalogue
    s = pd.Series(labels).astype(object)
    counts = s.value_counts()
    small = [k for k, n in counts.items() if n < threshold]
    if not small:
        return s
    merged = s.where(~s.isin(small), other)
    if int(s.isin(small).sum()) < threshold:
        merged = merged.where(merged != other, None)
    return merged


# --- sign-in --------------------------------------------------------------------------------------


def is_allowed(email: str | None, allowed: list[str] | tuple[str, ...] | str | None) -> bool:
    """Whether a signed-in e-mail is on the allow-list: exact addresses ("ann@shop.com") or whole
    domains ("@shop.com"), case-insensitive. An empty list lets no one in (fail closed)."""
    if not email or not allowed:
        return False
    if isinstance(allowed, str):
        allowed = [allowed]
    email = email.strip().lower()
    for entry in allowed:
        entry = str(entry).strip().lower()
        if not entry:
            continue
        if entry.startswith("@") and email.endswith(entry) and email.count("@") == 1:
            return True
        if email == entry:
            return True
    return False
