"""Segments described for people: the facts that set one apart ("82% month-to-month contract (vs 55%
overall)"), its one-line description, and the profile table a page shows, with small segments merged.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from lib.data.privacy import OTHER_SMALL, SMALL_GROUP
from lib.errors import DataValidationError
from lib.models.segment.matrix import MISSING, OTHER
from lib.models.segment.naming import NAME_MIN_Z, column_words, flag_fact, level_phrase
from lib.models.segment.profiles import kinds_of, profile_sources
from lib.models.segment.result import Segment, SegmentationResult
from lib.text.i18n import t


def _percent(p: float) -> str:
    if np.isnan(p):
        return "–"
    if 0 < p < 0.01:
        return "<1%"
    if 0.99 < p < 1:
        return ">99%"
    return f"{p:.0%}"


def human_number(v: float) -> str:
    """A number for people: 2 significant digits below 100, 3 above, thousands separators, at most 2
    decimals (0.16, 12, 1.5, 1,460, 77,200)."""
    if v is None or not np.isfinite(v):
        return "–"
    if v == 0:
        return "0"
    digits = 2 if abs(v) < 100 else 3
    magnitude = int(np.floor(np.log10(abs(v))))
    rounded = round(v, digits - 1 - magnitude)
    if rounded == 0:
        return "0"
    # At most 2 decimals: a mean of 0.00089 reads as 0 to a person, and "0.00089" only looks precise.
    decimals = min(2, max(0, digits - 1 - int(np.floor(np.log10(abs(rounded))))))
    text = f"{rounded:,.{decimals}f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text  # "4", not "4.0"
    return "0" if text in ("-0", "0") else text


_SHARE_WORDS = re.compile(r"\b(share|rate|ratio|pct|percent|percentage|proportion|fraction)\b")
_UNIT_WORDS = re.compile(r"\s(days|months|years|weeks)$")


def _number_text(feature: str, value: float, base: float, kind: str, is_share: bool) -> str:
    """'recency 12 days (vs 48 overall)', 'discount share 80% (vs 20% overall)'."""
    words = column_words(feature)
    unit = ""
    if kind == "date":
        unit = t(" days ago")
    else:
        m = _UNIT_WORDS.search(words)
        if m and len(words.split()) > 1:
            words, unit = words[: m.start()], _UNITS[m.group(1)]()
    fmt = _percent if is_share else human_number
    return t("{words} {value}{unit} (vs {base} overall)", words=words, value=fmt(value), unit=unit, base=fmt(base))


# The units a column name may end with, as they read after a number (looked up when used).
_UNITS = {"days": lambda: t(" days"), "months": lambda: t(" months"), "years": lambda: t(" years"),
          "weeks": lambda: t(" weeks")}


def _is_share(feature: str, profile: pd.DataFrame, col: str) -> bool:
    values = profile[col].dropna()
    return bool(_SHARE_WORDS.search(column_words(feature)) and len(values) and values.between(0, 1).all())


def distinguishing_facts_from(
    profile: pd.DataFrame, distinctive: pd.DataFrame, kinds: dict[str, str], seg_id: int, n: int = 5
) -> list[str]:
    """The ``n`` facts that most set a segment apart, one per feature, most distinctive first."""
    ranked: list[tuple[float, str]] = []
    base = profile.loc["All customers"]
    seg = profile.loc[seg_id]
    z = distinctive.loc[seg_id]
    for feature, cols in profile_sources(list(profile.columns), kinds).items():
        kind = kinds[feature]
        cols = [(c, lv) for c, lv in cols if lv not in (OTHER, MISSING)]
        if not cols:
            continue
        if kind in ("number", "date"):
            col = cols[0][0]
            text = _number_text(feature, seg[col], base[col], kind, _is_share(feature, profile, col))
            ranked.append((abs(z[col]), text))
        elif kind == "flag":
            col = cols[0][0]
            ranked.append((abs(z[col]), t("{share} {what} (vs {base} overall)", share=_percent(seg[col]),
                                          what=flag_fact(feature), base=_percent(base[col]))))
        else:
            # The over-represented level when there is one ("82% month-to-month"), else the level the
            # segment lacks most ("5% month-to-month (vs 55% overall)").
            col, level = max(cols, key=lambda c: z[c[0]])
            if z[col] < NAME_MIN_Z:
                col, level = max(cols, key=lambda c: abs(z[c[0]]))
            phrase = level_phrase(feature, level, 0.0, for_name=False)
            text = phrase.shown if phrase is not None else level
            ranked.append((abs(z[col]), t("{share} {what} (vs {base} overall)", share=_percent(seg[col]),
                                          what=text, base=_percent(base[col]))))
    ranked.sort(key=lambda t: -t[0])
    return [text for weight, text in ranked[:n] if weight > 0.1] or [text for _, text in ranked[:1]]


def distinguishing_facts(result: SegmentationResult, segment_id: int, n: int = 5) -> list[str]:
    """What sets one segment apart from all customers, as short phrases for people, most distinctive
    first: "82% month-to-month contract (vs 55% overall)", "recency 12 days (vs 48 overall)"."""
    if segment_id not in {s.id for s in result.segments}:
        raise DataValidationError(t("There is no segment {segment}; segments are {segments}.", segment=segment_id,
                                    segments=", ".join(str(s.id) for s in result.segments)))
    return distinguishing_facts_from(result.profile, result.distinctive, kinds_of(result), segment_id, n)


def segment_description(profile: pd.DataFrame, distinctive: pd.DataFrame, kinds: dict[str, str], seg_id: int,
                        share: float) -> str:
    """One line for a segment: its share of customers and the three facts that set it apart most."""
    facts = distinguishing_facts_from(profile, distinctive, kinds, seg_id, n=3)
    if facts:
        return t("{share} of customers; {facts}.", share=_percent(share), facts=t("; ").join(facts))
    return t("{share} of customers, close to the average customer on every feature.", share=_percent(share))


def profile_for_people(result: SegmentationResult, top_levels: int = 3, min_size: int = SMALL_GROUP) -> pd.DataFrame:
    """Each segment next to all customers, formatted to read: one row per feature, one column per
    segment (by name) plus "All customers". Shares as percentages ("16%"), numbers with 2-3 significant
    digits and thousands separators, categories as their most common levels with shares
    ("Month-to-month 82%, One year 10%"). Segments under ``min_size`` customers are merged into one
    "Other (small segments)" column, or left out when even together they are under ``min_size``."""
    profile, segments = _small_merged(result, min_size)
    keys: list[object] = [s.id for s in segments] + ["All customers"]
    headers = [s.name for s in segments] + [t("All customers")]
    rows: dict[str, list[str]] = {
        t("Customers"): [f"{s.size:,}" for s in segments] + [f"{len(result.labels):,}"],
        t("Share of customers"): [_percent(s.share) for s in segments] + ["100%"],
    }
    rates = [s.target_rate for s in segments]
    all_rates = [(s.target_rate, s.size) for s in result.segments if s.target_rate is not None]
    if all_rates:
        overall = sum(r * n for r, n in all_rates) / sum(n for _, n in all_rates)
        rows[t("Target rate")] = [_percent(r) if r is not None else "–" for r in rates] + [_percent(overall)]
    rows.update(_feature_rows(profile, kinds_of(result), keys, top_levels))
    return pd.DataFrame(rows, index=headers).T


def _small_merged(result: SegmentationResult, min_size: int) -> tuple[pd.DataFrame, list[Segment]]:
    """The profile and the segments to show. A profile of a handful of customers describes those people:
    segments under ``min_size`` are shown only merged (means and shares weighted by size), and not at
    all when even the merged group is too small."""
    profile = result.profile
    segments = [s for s in result.segments if s.size >= min_size]
    small = [s for s in result.segments if s.size < min_size]
    n_small = sum(s.size for s in small)
    if small and n_small >= min_size:
        w = np.array([s.size for s in small], dtype="float64")
        merged = profile.loc[[s.id for s in small]].mul(w, axis=0).sum() / w.sum()
        other = t(OTHER_SMALL)  # i18n: OTHER_SMALL is in the catalogue
        profile = pd.concat([profile, merged.to_frame(other).T])
        known = [(s.target_rate, s.size) for s in small if s.target_rate is not None]
        rate = sum(r * n for r, n in known) / sum(n for _, n in known) if known else None
        segments.append(Segment(other, other, "", n_small,  # type: ignore[arg-type]
                                sum(s.share for s in small), rate))
    return profile, segments


def _feature_rows(profile: pd.DataFrame, kinds: dict[str, str], keys: list[object],
                  top_levels: int) -> dict[str, list[str]]:
    """One row of cells per feature, its label as people read it ("Recency (days)", "Seniors")."""
    rows: dict[str, list[str]] = {}
    for feature, cols in profile_sources(list(profile.columns), kinds).items():
        kind = kinds[feature]
        if not cols:
            continue
        label = column_words(feature).capitalize()
        unit = _UNIT_WORDS.search(label)
        if unit and kind == "number" and unit.start() > 0:
            label = f"{label[: unit.start()]} ({unit.group(1)})"  # "Recency (days)"
        if kind in ("number", "date"):
            col = cols[0][0]
            fmt = _percent if _is_share(feature, profile, col) else human_number
            rows[label + (t(" (days ago)") if kind == "date" else "")] = [fmt(profile.loc[key, col]) for key in keys]
        elif kind == "flag":
            col = cols[0][0]
            fact = flag_fact(feature)
            rows[fact[0].upper() + fact[1:]] = [_percent(profile.loc[key, col]) for key in keys]
        else:
            cells = []
            for key in keys:
                shares = sorted(((profile.loc[key, c], lv) for c, lv in cols), key=lambda t: -t[0])[:top_levels]
                cells.append(", ".join(f"{lv} {_percent(p)}" for p, lv in shares if p > 0))
            rows[label] = cells
    return rows
