"""Two languages, English and 简体中文: one catalogue, keyed by the English text.

Why a plain catalogue and not gettext/Babel: gettext needs a compile step (.po -> .mo) and its own
tooling on every machine that edits a message, while our messages live in Python f-string style with
named fields. So the English sentence in the code *is* the key (as gettext's msgid is), and
``lib/text/locale/zh/*.toml`` holds the Chinese for each one, one file per area of the product so two
people can add messages without editing the same lines. ``tests/test_i18n.py`` finds every
``t("...")`` in the code and checks the catalogue has it.

The current language is a context variable, not a global: the CLI sets it once from ``--lang``; the
app sets it at the top of every run from the session (Streamlit runs each session in its own thread).
``lib/`` stays Streamlit-free.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import math
import tomllib
from collections.abc import Iterator
from pathlib import Path

LANGUAGES = ("en", "zh")
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"en": "English", "zh": "简体中文"}
CATALOGUE_DIR = Path(__file__).parent / "locale"

_current: contextvars.ContextVar[str] = contextvars.ContextVar("bullseye_language", default=DEFAULT_LANGUAGE)


def normalise(code: str | None) -> str:
    """A language or locale code ('zh-CN', 'zh_Hans', 'en-GB', None) -> one of LANGUAGES."""
    if not code:
        return DEFAULT_LANGUAGE
    base = str(code).strip().lower().replace("_", "-").split("-")[0]
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


def language() -> str:
    return _current.get()


def set_language(code: str | None) -> str:
    """Set the language for this thread/context; returns the normalised code."""
    lang = normalise(code)
    _current.set(lang)
    return lang


@contextlib.contextmanager
def using(code: str | None) -> Iterator[str]:
    """Run a block in another language (for example, Chinese headers in one export)."""
    token = _current.set(normalise(code))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


@functools.cache
def catalogue(lang: str) -> dict[str, str]:
    """English text -> translation, merged from every file of ``lib/text/locale/<lang>/``."""
    merged: dict[str, str] = {}
    folder = CATALOGUE_DIR / lang
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        with path.open("rb") as f:
            for key, value in tomllib.load(f).items():
                if key in merged and merged[key] != value:
                    raise ValueError(f"{path.name}: '{key}' is translated twice, differently")
                merged[key] = value
    return merged


def t(text: str, /, **fields: object) -> str:
    """Translate ``text`` into the current language, then fill its ``{named}`` fields.

    A message missing from the catalogue falls back to English (a test keeps that from happening).
    """
    lang = _current.get()
    if lang != DEFAULT_LANGUAGE:
        text = catalogue(lang).get(text, text)
    return text.format(**fields) if fields else text


def number(x: float | int | None, decimals: int = 0) -> str:
    """Thousands separators in both languages (China writes 1,234,567 too); '–' for missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:,.{decimals}f}"


def percent(share: float | None, decimals: int = 1) -> str:
    """A share (0.123) as a percentage ('12.3%')."""
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return "–"
    return f"{100 * share:.{decimals}f}%"


def date(d: dt.date | dt.datetime | None) -> str:
    """'25 Nov 2026' in English, '2026年11月25日' in Chinese."""
    if d is None:
        return "–"
    if _current.get() == "zh":
        return f"{d.year}年{d.month}月{d.day}日"
    return f"{d.day} {d:%b %Y}"
