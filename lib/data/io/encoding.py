"""Which text encoding a file is in: UTF-8 (with or without BOM), UTF-16, GB18030 for Chinese exports,
cp1252/latin-1 for Western ones."""

from __future__ import annotations

import re

# How much of a file the detectors look at.
_SAMPLE_BYTES = 1 << 20


def detect_encoding(data: bytes) -> str:
    """Name the text encoding of ``data``: utf-8-sig, utf-8, gb18030 or cp1252/latin-1.

    UTF-8 is tried strictly first (it almost never decodes text in another encoding); then a charset
    detector decides between the Chinese and Western single-byte families.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data[:_SAMPLE_BYTES]).best()
    guess = (best.encoding if best else "").lower()
    candidates = ["cp1252", "latin-1"]
    if (guess in {"gb2312", "gbk", "gb18030", "hz", "big5"} or _looks_chinese(data)) and _gb_pairs_plausible(data):
        candidates = ["gb18030"] + candidates
    for enc in candidates:
        try:
            data.decode(enc)
            return enc
        except UnicodeDecodeError:
            continue
    return "latin-1"  # decodes any byte string


def _gb_pairs_plausible(data: bytes) -> bool:
    """False when most two-byte GB pairs would end in an ASCII letter: that is Western text ('Köln' in
    cp1252 is ö + l, which GB18030 happily decodes as '鰈'); common Chinese characters have both
    bytes above 0x80."""
    pairs = re.findall(rb"[\x81-\xfe][\x40-\xfe]", data[:65536])
    if not pairs:
        return False
    ascii_trail = sum(1 for pair in pairs if pair[1] < 0x80)
    return ascii_trail / len(pairs) < 0.3


def _looks_chinese(data: bytes) -> bool:
    """True when most high bytes form valid GB18030 two-byte pairs that decode to CJK characters."""
    sample = data[:65536]
    try:
        text = sample.decode("gb18030")
    except UnicodeDecodeError:
        return False
    non_ascii = [ch for ch in text if ord(ch) > 127]
    if not non_ascii:
        return False
    cjk = sum(1 for ch in non_ascii if "\u4e00" <= ch <= "\u9fff" or "\u3000" <= ch <= "\u303f")
    return cjk / len(non_ascii) > 0.6
