"""Risk on a customer table (one row per customer, no order lines): the same contact detail shared by
several customers (account farming, one person behind many sign-up coupons) and implausible
combinations of values (a relation between two numbers that holds for nearly every customer, broken).

Contact details are never compared in clear: each is normalised (e-mail lower-cased, Gmail's dots and
+tags dropped; phone digits only, the last 9; address words only) and replaced by its keyed pseudonym
(``lib.data.privacy.pseudonymise``, HMAC-SHA256 under the user's key); only pseudonyms are grouped.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pandas as pd

from lib.data.privacy import pseudonymise
from lib.data.schema import ids_as_text
from lib.errors import DataValidationError
from lib.models.risk.patterns import Baselines, Measures
from lib.text.i18n import t

ADDRESS_NAMES = r"address|street|addr|地址"
CONTACT_KINDS = ("email", "phone", "address")
PHONE_DIGITS = 9  # the last 9 digits: the same phone with or without its country code or trunk 0
# A relation between two numbers is a rule of the shop when it holds for this share of customers; a
# customer who breaks it is implausible (orders in 90 days above orders in a year, spend without orders).
RELATION_HOLDS = 0.995
MAX_COLUMNS = 25  # pairs of at most 25 numeric columns: 600 comparisons, a few seconds at 1M customers
MIN_SUPPORT = 0.05  # a relation is learned only where both sides of it are common (not a trivial truth)


def normalise_contact(kind: str, values: pd.Series) -> pd.Series:
    """One form per contact detail, so that "Ann.Lee+promo@GMail.com " and "annlee@gmail.com" match; NA
    where there is none."""
    s = values.astype("string").str.strip().str.lower()
    if kind == "email":
        parts = s.str.replace(r"\s", "", regex=True).str.extract(r"^([^@]+)@([^@]+\.[^@]+)$")
        local, domain = parts[0], parts[1]
        gmail = domain.isin(["gmail.com", "googlemail.com"])
        local = local.where(~gmail, local.str.split("+").str[0].str.replace(".", "", regex=False))
        domain = domain.where(~gmail, "gmail.com")
        return local + "@" + domain
    if kind == "phone":
        digits = s.str.replace(r"\D", "", regex=True)
        return digits.where(digits.str.len() >= 7).str[-PHONE_DIGITS:]
    words = s.str.replace(r"[^\w]+", " ", regex=True).str.strip()
    return words.where(words.str.len() >= 5)


def sharing(frame: pd.DataFrame, contacts: dict[str, str], key: bytes) -> pd.DataFrame:
    """Per row: how many other customers share its most shared contact detail (``shared_contact``) and
    which kind it is (``shared_kind``), from keyed pseudonyms of the normalised details."""
    most = np.zeros(len(frame))
    kind = np.full(len(frame), "", dtype=object)
    for k in CONTACT_KINDS:
        if k not in contacts:
            continue
        norm = normalise_contact(k, frame[contacts[k]])
        ok = norm.notna().to_numpy()
        pseud = pd.Series(pseudonymise(norm[ok], key))
        others = np.zeros(len(frame))
        others[ok] = pseud.map(pseud.value_counts()).to_numpy(dtype="float64") - 1
        better = others > most
        most, kind = np.where(better, others, most), np.where(better, k, kind)
    return pd.DataFrame({"shared_contact": most, "shared_kind": kind})


def _numbers(frame: pd.DataFrame, roles: dict) -> pd.DataFrame:
    cols = [c for c in frame.columns if roles.get(c) == "numeric" and pd.api.types.is_numeric_dtype(frame[c])]
    return frame[cols[:MAX_COLUMNS]].astype("float64")


def _words(name: str) -> set[str]:
    return {w for w in re.split(r"[^a-z\u4e00-\u9fff]+", str(name).lower()) if len(w) >= 3}


def learn_relations(num: pd.DataFrame) -> list[list]:
    """Relations that hold for ``RELATION_HOLDS`` of the customers, each [kind, a, b, share that holds]:
    "nonneg" (a is never negative), "le" (a never exceeds b; only between columns of one unit, whose names
    share a word, as orders_90d and orders_365d: visits last month never exceed age, by accident) and
    "needs" (a above 0 only where b is above 0)."""
    out: list[list] = []
    cols = list(num.columns)
    arr = {c: num[c].to_numpy() for c in cols}
    for a in cols:
        x = arr[a]
        ok = ~np.isnan(x)
        if ok.sum() and (x[ok] < 0).any() and (x[ok] >= 0).mean() >= RELATION_HOLDS:
            out.append(["nonneg", a, "", float((x[ok] >= 0).mean())])
        for b in cols:
            if a == b:
                continue
            y = arr[b]
            both = ok & ~np.isnan(y)
            if both.sum() < 100:
                continue
            xa, yb = x[both], y[both]
            ma, mb = float(np.mean(xa)), float(np.mean(yb))
            differ = float((xa != yb).mean())
            holds = float((xa <= yb).mean())
            if (ma > 0 and mb > 0 and 0.1 * mb <= ma and differ >= 0.1 and RELATION_HOLDS <= holds < 1
                    and _words(a) & _words(b)):
                out.append(["le", a, b, holds])
            pos, zero = xa > 0, yb == 0
            if pos.mean() >= MIN_SUPPORT and zero.mean() >= MIN_SUPPORT:
                need = float((yb[pos] > 0).mean())
                if RELATION_HOLDS <= need < 1:
                    out.append(["needs", a, b, need])
    return out


def _broken(num: pd.DataFrame, rel: list) -> np.ndarray:
    kind, a, b, _ = rel
    x = num[a].to_numpy()
    if kind == "nonneg":
        return x < 0
    y = num[b].to_numpy()
    return (x > y) if kind == "le" else ((x > 0) & (y == 0))


def _relation_words(rel: list, x: float, y: float) -> str:
    kind, a, b, holds = rel
    share = f"{100 * holds:.2f}%"
    if kind == "nonneg":
        return t("{a} is negative ({x}); for {share} of customers it is not", a=a, x=f"{x:,.4g}", share=share)
    if kind == "le":
        return t("{a} ({x}) is above {b} ({y}); for {share} of customers it is not", a=a, x=f"{x:,.4g}", b=b,
                 y=f"{y:,.4g}", share=share)
    return t("{a} is {x} while {b} is 0; for {share} of customers it is not", a=a, x=f"{x:,.4g}", b=b, share=share)


def implausible(num: pd.DataFrame, relations: list[list]) -> pd.DataFrame:
    """Per row: how many learned relations it breaks and the first one in words."""
    count = np.zeros(len(num))
    what = np.full(len(num), "", dtype=object)
    for rel in relations:
        if rel[1] not in num or (rel[2] and rel[2] not in num):
            continue
        broken = _broken(num, rel)
        first = broken & (count == 0)
        for i in np.flatnonzero(first):
            what[i] = _relation_words(rel, num[rel[1]].iat[i], num[rel[2]].iat[i] if rel[2] else 0.0)
        count += broken
    return pd.DataFrame({"implausible": count, "implausible_what": what})


def table_risk(frame: pd.DataFrame, ids, contacts: dict[str, str], key: bytes, roles: dict, settings=None,
               rules=None):
    """Risk score, flag and reasons per customer of a customer table (``lib.models.risk.RiskResult``).
    ``ids``: each row's customer id; ``contacts``: kind (email, phone, address) -> column; ``key``: the
    pseudonym key the details are compared under; ``rules``: a saved model's (default: learned here)."""
    from lib.models.risk import RiskSettings, judge, learn_rules, outlier_score

    settings = settings or RiskSettings()
    if not 0 < settings.share < 1:
        raise DataValidationError(t("The risky share must be between 0 and 1 (e.g. 0.02 for 2%); got {share}.",
                                    share=settings.share))
    index = pd.Index(ids_as_text(pd.Series(np.asarray(ids))).fillna("").to_numpy(), dtype="str")
    keep = ~index.duplicated() & (index != "")
    frame, index = frame[keep], index[keep]
    if not len(frame):
        raise DataValidationError(t("No customers to analyse."))
    num = _numbers(frame, roles)
    relations = rules.extra.get("relations", []) if rules is not None else learn_relations(num)
    skipped = {}
    parts = []
    if contacts:
        parts.append(sharing(frame, contacts, key))
    else:
        skipped["shared_contact"] = t("the table has no e-mail, phone or address column")
    if relations:
        parts.append(implausible(num, relations))
    else:
        skipped["implausible"] = t("no relation between its numbers holds for nearly every customer, so none can be broken")
    tab = pd.concat([p.reset_index(drop=True) for p in parts], axis=1) if parts else pd.DataFrame(index=range(len(frame)))
    tab.index = index
    feats = num.fillna(num.median()).fillna(0.0)
    feats.index = index
    for p in ("shared_contact", "implausible"):
        if p in tab:
            feats[p] = tab[p].to_numpy()
    m = Measures(tab, skipped, None, feats)
    saved = rules is not None
    scored = outlier_score(m)
    if rules is None:
        rules = replace(learn_rules(m, Baselines({}, {}, 0.0), settings.share, scored), kind="table",
                        extra={"relations": relations, "contacts": dict(contacts)})
    return replace(judge(m, rules, None, scored), rules_from="model file" if saved else "this file")
