"""Segment names in plain words: "Frequent big spenders", "Seniors on month-to-month contracts".

A segment is named after the features that set it apart most (its standardised difference from all
customers, see ``profiles``): a number as an adjective or noun from a table of known meanings ("lapsed",
"big spenders"), a flag as what the customer is or has ("seniors", "with paperless billing"), a category
by its dominant level ("in Portugal", "paying by electronic check"). Names are chosen on the English
words, so both languages name the same facts, and every segment gets a different name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from lib.models.columns import means_no, means_yes
from lib.models.segment.matrix import MISSING, OTHER
from lib.models.segment.profiles import profile_sources
from lib.text.i18n import language, t
from lib.text.words import column_words

# Number columns with a known meaning: (words pattern, phrase when high, phrase when low). First match
# wins, so the specific patterns come before the general ones ("days between orders" before "orders").
_NUMBER_WORDS: tuple[tuple[str, str, str], ...] = (
    (r"days between|between (orders|purchases)|interpurchase", "slow repeaters", "fast repeaters"),
    (r"recency|days since|since last", "lapsed", "recent"),
    (r"order value|basket|aov\b", "big-basket", "small-basket"),
    (r"frequency|orders?\b|purchases\b|transactions\b", "frequent", "one-off"),
    (r"monetary|spend|revenue|sales\b|total charges", "big spenders", "low spenders"),
    (r"charges?\b|bill\b", "high-bill", "low-bill"),
    (r"tenure|customer for|months? active", "long-standing", "new"),
    (r"discount|coupon|promo", "bargain hunters", "full-price buyers"),
    (r"return", "frequent returners", "rarely returning"),
    (r"visit|session", "engaged browsers", "rare visitors"),
    (r"\bopen|click", "email-engaged", "email-quiet"),
    (r"product|items?\b|categories", "wide-range", "narrow-range"),
    (r"\bage\b|years old", "older", "younger"),
    (r"income|salary", "high-income", "lower-income"),
    (r"balance", "high-balance", "low-balance"),
    (r"campaign|contacts\b|calls\b", "often-contacted", "rarely-contacted"),
    (r"^day$|day of (the )?month", "late-month", "early-month"),
)
_NOUN_PHRASES = {"big spenders", "low spenders", "bargain hunters", "full-price buyers", "frequent returners",
                 "engaged browsers", "rare visitors", "slow repeaters", "fast repeaters"}
# A flag that says what the customer *is* names the segment as a noun ("Seniors"); others become
# "with ..." ("with paperless billing").
_PERSON_WORDS = ("citizen", "senior", "member", "student", "subscriber", "homeowner", "owner", "retiree", "veteran",
                 "employee", "vip", "smoker", "customer", "buyer", "affiliate")
_GEO_WORDS = re.compile(r"\b(country|countries|region|city|state|province|county|location|area|market|territory|zone)\b")
_PAY_WORDS = re.compile(r"\b(payment|pay|paid|paying)\b")
_PREFER_WORDS = re.compile(r"^(preferred|favourite|favorite|usual|main|primary)\b")
# Category columns whose levels describe the customer on their own ("married", "retired", "fiber
# optic"); levels of other columns read with the column's words ("two year contract", "tertiary
# education", "failure poutcome").
_SELF_DESCRIBING = re.compile(r"\b(job|occupation|profession|marital|gender|sex|persona|industry|sector|generation|"
                              r"life ?stage|household|internet service)\b")
_WHEN_WORDS = re.compile(r"(^|\s)(month|weekday|day of week|quarter|season)$")
_VAGUE_LEVELS = {"unknown", "other", "none", "not specified", "n/a", "na", "unspecified"}
NAME_MIN_Z = 0.3  # a difference smaller than this (in sd of the base) is not worth naming a segment by
# A level names a segment only when most of the segment has it and clearly more than the base does:
# "unknown outcome" at 99% vs 82% overall is true of nearly everyone, so it says nothing.
NAME_MIN_LIFT = 0.2


@dataclass(frozen=True)
class _Phrase:
    slot: str  # "adj" (before the noun), "noun" or "qual" (after: "in Portugal", "with paperless billing")
    text: str  # English: names are chosen on the English words, so both languages name the same facts
    weight: float  # how distinctive: |standardised difference|
    kind: str = "number"  # adjectives from numbers go first: "new fiber optic customers", not the reverse
    local: str = ""  # the same phrase in the current language ("" = as ``text``)
    clause: bool = False  # in Chinese, a phrase with its own verb or column name takes 的 before the noun

    @property
    def shown(self) -> str:
        return self.local or self.text


def _said(template: str, **fields: object) -> tuple[str, str]:
    """A phrase in English and in the current language, from one catalogue template."""
    return template.format(**fields), t(template, **fields)  # i18n: a fact template from this module's tables, in the catalogue


def _phrase(slot: str, said: tuple[str, str], weight: float, kind: str = "number", clause: bool = True) -> _Phrase:
    return _Phrase(slot, said[0], weight, kind, said[1], clause)


def _word(text: str) -> str:
    """A fixed word of the tables above (a name fragment) in the current language."""
    return t(text)  # i18n: a fact template from this module's tables, in the catalogue


def _number_phrase(column: str, z: float, date: bool = False) -> _Phrase:
    words = column_words(column)
    for pattern, high, low in _NUMBER_WORDS:
        if re.search(pattern, words):
            text = high if z > 0 else low
            return _Phrase("noun" if text in _NOUN_PHRASES else "adj", text, abs(z), local=_word(text))
    if date:  # days ago: high = long ago
        said = _said("with early {words}", words=words) if z > 0 else _said("with recent {words}", words=words)
        return _phrase("qual", said, abs(z))
    said = _said("with high {words}", words=words) if z > 0 else _said("with low {words}", words=words)
    return _phrase("qual", said, abs(z))


def _flag_words(column: str) -> tuple[str, str]:
    """("noun", "seniors") for a flag saying what the customer is, else ("with", "paperless billing")."""
    words = column_words(column).split()
    prefix = words[0] if len(words) > 1 and words[0] in ("is", "has", "have", "with", "flag") else ""
    words = words[1:] if prefix else words
    text = " ".join(words)
    if text in ("senior citizen", "senior"):
        return "noun", "seniors"  # translated where shown (see ``_flag_phrase``)
    if words[-1].rstrip("s") in _PERSON_WORDS:
        return "noun", text if text.endswith("s") else text + "s"
    if prefix == "is":
        return "adj", text
    return "with", text


def _flag_phrase(column: str, yes: bool, weight: float) -> _Phrase | None:
    form, text = _flag_words(column)
    if form == "with":
        return _phrase("qual", _said("with {text}", text=text) if yes else _said("without {text}", text=text), weight)
    # "Non-seniors" says little about a segment; only the "yes" side of a noun/adjective flag names one.
    local = t("seniors") if text == "seniors" else text
    return _Phrase("noun" if form == "noun" else "adj", text, weight, "category", local) if yes else None


def flag_fact(column: str) -> str:
    form, text = _flag_words(column)
    if form == "with":
        return t("with {text}", text=text)
    return t("seniors") if text == "seniors" else text


def _level_words(column: str, level: str) -> str:
    """A level as it reads in a sentence: verbatim for places, otherwise a capitalised plain word is
    lowered ("Electronic check" -> "electronic check") and "(automatic)"-style asides are dropped."""
    words = column_words(column)
    text = re.sub(r"\s*\([^)]*\)", "", level).strip() or level
    if not _GEO_WORDS.search(words) and re.fullmatch(r"[A-Z][a-z][a-z0-9 \-/]*", text):
        text = text[0].lower() + text[1:]
    return text


def level_phrase(column: str, level: str, weight: float, for_name: bool = True) -> _Phrase | None:
    """How a dominant category level reads: "in Portugal", "paying by electronic check", "month-to-month
    contract", "without internet service", "married"."""
    if level in (OTHER, MISSING):
        return None
    words = column_words(column)
    text = _level_words(column, level)
    low = text.lower()
    if _GEO_WORDS.search(words):
        return _phrase("qual", _said("in {place}", place=text), weight, "category")
    if _PAY_WORDS.search(words):
        said = _said("paying by {method}", method=text) if for_name else _said("pay by {method}", method=text)
        return _phrase("qual", said, weight)
    if _PREFER_WORDS.search(words):
        said = _said("preferring {choice}", choice=text) if for_name else _said("prefer {choice}", choice=text)
        return _phrase("qual", said, weight)
    if means_no(low):
        return _phrase("qual", _said("without {text}", text=words), weight)
    if means_yes(low):
        return _phrase("qual", _said("with {text}", text=words), weight)
    if low.startswith("no "):
        return _phrase("qual", _said("without {text}", text=text[3:]), weight)
    if re.fullmatch(r"[\d.,\-]+", text) or len(text) <= 2:  # "2", "b": only readable with the column's words
        return _phrase("qual", _said("with {words} {level}", words=words, level=text), weight)
    if _WHEN_WORDS.search(words):
        return _phrase("qual", _said("in {when}", when=text[0].upper() + text[1:]), weight, "category")
    if low in _VAGUE_LEVELS or (not _SELF_DESCRIBING.search(words) and len(f"{text} {words}".split()) <= 3):
        return _phrase("adj", _said("{level} {words}", level=text, words=words), weight, "category")
    return _Phrase("adj", text, weight, "category")


def name_phrases(z: pd.Series, profile: pd.DataFrame, seg_id: int, kinds: dict[str, str]) -> list[_Phrase]:
    """Candidate name phrases for one segment, most distinctive first, at most one per feature."""
    phrases = []
    for feature, cols in profile_sources(list(profile.columns), kinds).items():
        kind = kinds[feature]
        if not cols:
            continue
        if kind in ("number", "date"):
            col = cols[0][0]
            if abs(z[col]) >= NAME_MIN_Z:
                phrases.append(_number_phrase(feature, float(z[col]), date=kind == "date"))
            continue
        if kind == "flag":
            col = cols[0][0]
            share, base = profile.loc[seg_id, col], profile.loc["All customers", col]
            if share >= 0.5 and z[col] >= NAME_MIN_Z and share - base >= NAME_MIN_LIFT:
                p = _flag_phrase(feature, True, float(z[col]))
            elif share < 0.5 <= base and z[col] <= -NAME_MIN_Z and base - share >= NAME_MIN_LIFT:
                p = _flag_phrase(feature, False, float(-z[col]))
            else:
                p = None
            if p is not None:
                phrases.append(p)
            continue
        best = max(cols, key=lambda c: z[c[0]])
        share, base = profile.loc[seg_id, best[0]], profile.loc["All customers", best[0]]
        if share >= 0.5 and z[best[0]] >= NAME_MIN_Z and share - base >= NAME_MIN_LIFT and best[1] is not None:
            p = level_phrase(feature, best[1], float(z[best[0]]))
            if p is not None:
                phrases.append(p)
    return sorted(phrases, key=lambda p: -p.weight)


MAX_NAME_WORDS = 5


def _assemble(phrases: list[_Phrase]) -> str:
    """Up to three phrases as "<adj> <adj> <noun> <qualifier>" within ``MAX_NAME_WORDS`` words; the most
    distinctive phrase always gets in."""
    adjs: list[_Phrase] = []
    noun: str | None = None
    qual: str | None = None
    noun_phrase: _Phrase | None = None
    qual_phrase: _Phrase | None = None

    def words(a: list[_Phrase], n: str | None, q: str | None) -> int:
        return sum(len(t.split()) for t in [*(p.text for p in a), n or "customers", *([q] if q else [])])

    taken = 0
    for p in phrases:
        if taken == 3:
            break
        if p.slot == "adj" and len(adjs) < 2:
            trial = (adjs + [p], noun, qual)
        elif p.slot == "noun" and noun is None:
            trial = (adjs, p.text, qual)
        elif p.slot == "qual" and qual is None:
            trial = (adjs, noun, p.text)
        else:
            continue
        if taken and words(*trial) > MAX_NAME_WORDS:
            continue
        adjs, noun, qual = trial
        noun_phrase = p if p.slot == "noun" else noun_phrase
        qual_phrase = p if p.slot == "qual" else qual_phrase
        taken += 1
    if not taken:
        return t("Typical customers")
    ordered = sorted(adjs, key=lambda p: p.kind != "number")
    if language() == "zh":
        return _chinese_name(ordered, noun_phrase, qual_phrase)
    name = " ".join([*(p.text for p in ordered), noun or "customers", *([qual] if qual else [])])
    return name[0].upper() + name[1:]


def _chinese_name(adjs: list[_Phrase], noun: _Phrase | None, qual: _Phrase | None) -> str:
    """Chinese puts every modifier before the noun: clauses ("位于 Portugal", "tenure 高") joined by
    、 and closed by 的, then the short adjectives, then the noun: "位于 Portugal 的大单一次性全价买家"."""
    clauses = [p.shown for p in [*([qual] if qual else []), *adjs] if p.clause]
    words = [p.shown for p in adjs if not p.clause] + [noun.shown if noun is not None else t("customers")]
    head = _join_zh(["、".join(clauses), "的"]) if clauses else ""
    return _join_zh([head, *words])


def _join_zh(parts: list[str]) -> str:
    """Chinese words run together; a space only where two Latin words or numbers would touch."""
    out = ""
    for part in parts:
        if not part:
            continue
        if out and out[-1].isascii() and out[-1].isalnum() and part[0].isascii() and part[0].isalnum():
            out += " "
        elif out and (out[-1].isascii() and out[-1].isalnum()) != (part[0].isascii() and part[0].isalnum()):
            out += " "
        out += part
    return out


def unique_names(phrase_lists: list[list[_Phrase]]) -> list[str]:
    """One name per segment, all different: when the best name is taken, try names built from the
    segment's other distinctive phrases before falling back to a number."""
    names: list[str] = []
    for phrases in phrase_lists:
        options = [_assemble(phrases)]
        options += [_assemble([phrases[0], p]) for p in phrases[2:]] if phrases else []
        options += [_assemble(phrases[i:]) for i in range(1, len(phrases))]
        name = next((o for o in options if o not in names), None)
        if name is None:
            i = 2
            while f"{options[0]} ({i})" in names:
                i += 1
            name = f"{options[0]} ({i})"
        names.append(name)
    return names
