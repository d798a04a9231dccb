"""Audience files for the channels a campaign runs in: Google Ads Customer Match and Meta custom audiences
(contacts normalised by each platform's documented rules, then SHA-256), and e-mail platforms (Mailchimp,
Klaviyo, Brevo: their import columns in clear, consent respected).

Only the target group of a list goes in an audience file: the control group must not be reached, or the
lift it measures is lost. A contact that cannot be normalised (a phone without a country, an e-mail without
a domain) is never sent half-normalised: the value is left blank and counted, and a customer with nothing
usable left is left out and counted.

The rules, as the platforms document them (checked December 2026):
- Google (Data Manager API "Format user data", Google Ads API Customer Match / OfflineUserAddressInfo):
  e-mail lower-cased with every space removed; for gmail.com and googlemail.com the dots and any
  "+suffix" of the part before the @ are removed, other domains keep both. Phone in E.164 with "+" and
  the country code. First and last names lower-cased without punctuation, spaces before, after and
  doubled in between removed, no title before a first name (Mrs.) or after a last name (Jr.).
  Those four SHA-256 (lower-case hex); Country (ISO-3166-1 alpha-2) and Zip in clear. File headers of
  Google Ads' upload template: Email, Phone, First Name, Last Name, Country, Zip.
- Meta (Marketing API "Customer File Custom Audiences", hashing and normalising table; Business Help
  "How to format a customer list"): email trimmed and lower-cased; phone digits only, with the country
  code, no "+" and no leading zeros; fn/ln lower-case without punctuation, letters kept in UTF-8 (Émilie,
  王); ct lower-case letters only; st lower-case; zip lower-case without spaces, US zips their first five
  digits; country ISO-2 lower-case. Every column SHA-256.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lib.data.schema import ids_as_text
from lib.errors import DataValidationError
from lib.text.i18n import t
from lib.text.words import is_yes

# Smallest audience each platform serves ads to (a warning below it, never a refusal: the file is still
# right, only too small to run). Google Ads Help, Customer Match: at least 1,000 active matched members
# for Search and YouTube (100 for Display) -- we warn at the stricter 1,000. Meta Business Help, "How to
# format a customer list": avoid lists of fewer than 100 people; a custom audience is usable once about
# 100 are matched. E-mail platforms have no minimum.
MIN_AUDIENCE = {"google": 1000, "meta": 100}


@dataclass(frozen=True)
class Platform:
    """One channel's upload file: its columns, and whether they are hashed."""

    name: str
    columns: tuple[str, ...]
    hashed: bool
    needs_email: bool  # e-mail platforms send e-mails: a row without one is of no use to them


PLATFORMS: dict[str, Platform] = {
    "google": Platform("google", ("Email", "Phone", "First Name", "Last Name", "Country", "Zip"), True, False),
    "meta": Platform("meta", ("email", "phone", "fn", "ln", "ct", "st", "zip", "country"), True, False),
    # Mailchimp's import recognises these headers as its default audience fields (Audience > Import contacts;
    # "Format guidelines for your import file": Email Address is the one required field).
    "mailchimp": Platform("mailchimp", ("Email Address", "First Name", "Last Name", "Phone Number"), False, True),
    # Klaviyo's standard profile properties, as its CSV import maps them; phone in E.164. Its list upload
    # wants "Email Address" (or "Phone Number") as the first column's header (Help Center, "How to create
    # and add subscribers to a new list"; older versions also took "Email").
    "klaviyo": Platform("klaviyo", ("Email Address", "First Name", "Last Name", "Phone Number", "City", "Country",
                                    "Zip Code"), False, True),
    # Brevo's four default contact attributes (Help Center, "Format your contact import file"); SMS with
    # the + and the country code, digits only: E.164.
    "brevo": Platform("brevo", ("EMAIL", "FIRSTNAME", "LASTNAME", "SMS"), False, True),
}
CHANNELS = tuple(PLATFORMS)


def needs_raw_contacts(channel: str) -> bool:
    """Every channel is built from e-mails and phones as they are: a hash of an e-mail is still personal
    data (anyone can hash a guess), so a pseudonymised run writes none of them."""
    return channel in PLATFORMS


def requested(text: str | None, *, pseudonymised: bool, has_list: bool) -> tuple[str, ...]:
    """The channels asked for, refused where they cannot be written: with pseudonyms (every audience is
    made of raw e-mails and phones, and a hash of one is still personal data), or without a list."""
    channels = parse_channels(text)
    raw = [c for c in channels if needs_raw_contacts(c)]
    if raw and pseudonymised:
        raise DataValidationError(t("--audience {channels} needs the customers' e-mails and phones, and "
                                    "--pseudonymise writes no personal data: run without --pseudonymise to write "
                                    "audiences, or drop --audience.", channels=",".join(raw)))
    if channels and not has_list:
        raise DataValidationError(t("--audience needs a target list: add --top N, --top-pct P or --budget B."))
    return channels


def parse_channels(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"google, meta"`` -> ("google", "meta"), checked against the channels Bullseye writes."""
    if text is None:
        return ()
    items = text.split(",") if isinstance(text, str) else list(text)
    channels = tuple(dict.fromkeys(str(c).strip().lower() for c in items if str(c).strip()))
    unknown = [c for c in channels if c not in PLATFORMS]
    if unknown:
        raise DataValidationError(t("Unknown audience channel '{channel}': use one or more of {items}.",
                                    channel=unknown[0], items=", ".join(CHANNELS)))
    return channels


# --- which columns hold the contacts ---------------------------------------------------------------


@dataclass(frozen=True)
class ContactColumns:
    """The columns holding each kind of contact detail (None: the file has none)."""

    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None  # split into first and last when there are no separate columns
    country: str | None = None
    zip: str | None = None
    city: str | None = None
    state: str | None = None
    consent: str | None = None

    def used(self) -> list[str]:
        return [c for c in self.__dict__.values() if c is not None]


# Names first; e-mail, phone and name columns must also be personal data by role (email_opens_90d is not).
_NAMES = {
    "email": (r"e-?mail|邮箱", True),
    "phone": (r"phone|mobile|cell|^tel|电话|手机", True),
    # "first_name" says what it holds whatever its role (a small list's names may repeat: no "pii" role).
    "first_name": (r"first_?\s?name|given_?\s?name|fore_?name|^fname$|^名$", False),
    "last_name": (r"last_?\s?name|surname|family_?\s?name|^lname$|^姓$", False),
    "full_name": (r"^name$|full_?\s?name|customer_?\s?name|contact_?\s?name|姓名", True),
    "country": (r"country|国家", False),
    "zip": (r"zip|post_?\s?code|postal|邮编", False),
    "city": (r"^city$|town|城市", False),
    "state": (r"^state$|province|省", False),
    "consent": (r"consent|opt_?\s?in|permission|同意", False),
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")


def find_contact_columns(frame: pd.DataFrame, roles: dict[str, str] | None = None,
                         overrides: dict[str, str | None] | None = None) -> ContactColumns:
    """The contact columns of ``frame``: each kind found by its name (e-mail, phone and names only among
    the columns whose role is personal data), ``overrides`` ({kind: column}) winning over what is found."""
    roles = roles or {}
    found: dict[str, str | None] = {}
    for kind, (pattern, personal) in _NAMES.items():
        found[kind] = next((c for c in frame.columns if re.search(pattern, str(c), re.I)
                            and (not personal or roles.get(c, "pii") == "pii")
                            and (kind != "email" or _mostly_emails(frame[c]))), None)
    for kind, col in (overrides or {}).items():
        if kind not in _NAMES:
            raise DataValidationError(t("'{kind}' is not a kind of contact; use one of: {items}.", kind=kind,
                                        items=", ".join(_NAMES)))
        if col is not None and col not in frame.columns:
            raise DataValidationError(t("Contact column '{col}' is not in the data.", col=col))
        found[kind] = col
    return ContactColumns(**found)


def _mostly_emails(values: pd.Series) -> bool:
    """An e-mail column by its values too (email_opens_90d has a fitting name and no @)."""
    text = values.dropna().astype(str).str.strip().head(2000)
    text = text[text != ""]
    return len(text) > 0 and float(text.str.contains("@", regex=False).mean()) >= 0.5


# --- normalising, one rule per kind and platform ---------------------------------------------------


def sha256(text: str) -> str:
    """SHA-256 of the UTF-8 bytes, lower-case hex (what both platforms ask for)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return unicodedata.normalize("NFC", str(value)).strip()


def email_of(value: object) -> str | None:
    """Trimmed, lower-cased e-mail, or None when it is not one."""
    text = _text(value).lower()
    return text if _EMAIL.match(text) else None


def google_email(email: str) -> str:
    """Google's form of a normalised e-mail: no spaces; gmail.com/googlemail.com without dots or +suffix
    before the @ (Google reads them as the same mailbox); other domains as they are."""
    local, _, domain = re.sub(r"\s", "", email).rpartition("@")
    if domain in ("gmail.com", "googlemail.com"):
        local = local.split("+", 1)[0].replace(".", "")
    return f"{local}@{domain}"


def phone_e164(value: object, region: str | None) -> str | None:
    """The phone in E.164 (+4930123456), read by ``phonenumbers`` with ``region`` (ISO-2) for numbers
    written without a country code; None when it is not a valid number for that region."""
    import phonenumbers

    text = _text(value)
    if not text:
        return None
    if re.fullmatch(r"\d+\.0", text):  # a number column read as floats
        text = text[:-2]
    try:
        number = phonenumbers.parse(text, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_PREFIXES = ("mr", "mrs", "ms", "miss", "dr", "prof")
_SUFFIXES = ("jr", "sr", "ii", "iii", "iv")


def name_google(value: object, part: str = "first") -> str:
    """Google's form of a first (``part="first"``) or last name: lower case, no punctuation, no spaces
    before, after or doubled in between, without a title before a first name (Mrs.) or after a last
    name (Jr.), as the Data Manager API's AddressInfo asks."""
    text = "".join(ch for ch in _text(value).lower() if not unicodedata.category(ch).startswith(("P", "S")))
    words = text.split()
    if part == "first" and len(words) > 1 and words[0] in _PREFIXES:
        words = words[1:]
    if part == "last" and len(words) > 1 and words[-1] in _SUFFIXES:
        words = words[:-1]
    return " ".join(words)


def name_meta(value: object) -> str:
    """Lower-case, punctuation and spaces removed, letters of any script kept (UTF-8)."""
    text = _text(value).lower()
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith(("P", "Z", "S", "C")))


def city_meta(value: object) -> str:
    return "".join(ch for ch in _text(value).lower() if unicodedata.category(ch).startswith("L"))


def zip_meta(value: object, country: str | None) -> str:
    text = re.sub(r"\s", "", _text(value).lower())
    if re.fullmatch(r"\d+\.0", text):
        text = text[:-2]
    if country == "US" or re.fullmatch(r"\d{5}-\d{4}", text):
        text = text[:5]  # Meta: US zips by their first five digits
    return text


# Country names a file commonly holds instead of the ISO code (the code itself is always understood).
_COUNTRY_NAMES = {
    "united states": "US", "usa": "US", "us": "US", "america": "US", "united kingdom": "GB", "uk": "GB",
    "great britain": "GB", "england": "GB", "germany": "DE", "deutschland": "DE", "france": "FR",
    "china": "CN", "中国": "CN", "españa": "ES", "spain": "ES", "italy": "IT", "italia": "IT",
    "netherlands": "NL", "canada": "CA", "australia": "AU", "japan": "JP", "日本": "JP", "india": "IN",
    "ireland": "IE", "poland": "PL", "polska": "PL", "switzerland": "CH", "austria": "AT", "belgium": "BE",
    "sweden": "SE", "brazil": "BR", "mexico": "MX", "hong kong": "HK", "singapore": "SG", "taiwan": "TW",
}


def country_code(value: object) -> str | None:
    """ISO-3166-1 alpha-2 (upper case) of a country written as a code or a common name, else None."""
    text = _text(value).lower()
    if re.fullmatch(r"[a-z]{2}", text):
        return "GB" if text == "uk" else text.upper()
    return _COUNTRY_NAMES.get(text)


# --- the audience files ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Audience:
    """One channel's upload file and what was left out of it, and why."""

    channel: str
    frame: pd.DataFrame  # the file's rows, in its columns (hashed where the platform asks)
    rows: int
    left_out: dict[str, int] = field(default_factory=dict)  # customers left out, by reason
    blanked: dict[str, int] = field(default_factory=dict)  # values not sent (unreadable), row still sent
    warnings: tuple[str, ...] = ()

    def to_report(self) -> dict:
        return {"rows": self.rows, "left_out": dict(self.left_out), "blanked": dict(self.blanked),
                "warnings": list(self.warnings)}


def audience_file_name(channel: str) -> str:
    return f"audience_{channel}.csv"


def audience_csv_bytes(audience: Audience) -> bytes:
    """The upload file as UTF-8 CSV, cells a spreadsheet would run as formulas neutralised."""
    from lib.act.targeting import to_csv_bytes

    return to_csv_bytes(audience.frame)


def write_audiences(audiences: Sequence[Audience], write: Callable[[Path, bytes, list[str], int], None]) -> dict:
    """Each audience_<channel>.csv through ``write`` (path, bytes, columns, rows: the caller's protect, audit
    and stage path; an earlier run's audience files go when the outputs land). Returns report.json's
    ``audiences``."""
    for a in audiences:
        write(Path(audience_file_name(a.channel)), audience_csv_bytes(a), [str(c) for c in a.frame.columns], a.rows)
    return {a.channel: a.to_report() for a in audiences}


def with_contacts(targets: pd.DataFrame, contacts: pd.DataFrame, ids: Sequence, id_col: str = "id") -> pd.DataFrame:
    """``targets`` (a list with ``id_col`` and ``group``) with the contact columns of ``contacts``, whose
    row i belongs to ``ids[i]``; ids matched as text, the first row of a repeated id kept."""
    people = contacts.assign(**{"__id": ids_as_text(pd.Series(list(ids), index=contacts.index))})
    people = people.drop_duplicates("__id").drop(columns=[c for c in targets.columns if c in people.columns])
    keyed = targets.assign(__id=ids_as_text(targets[id_col]).to_numpy())
    return keyed.merge(people, on="__id", how="left").drop(columns="__id")


def list_audiences(targets: pd.DataFrame, contacts: pd.DataFrame, ids: Sequence, channels: Sequence[str], *,
                   roles: dict[str, str] | None = None, phone_region: str | None = None,
                   overrides: dict[str, str] | Sequence[str] = ()) -> tuple[Audience, ...]:
    """The audiences of a list (``targets``: ``id`` and ``group``) whose contacts are in another frame
    (``contacts``, row i being customer ``ids[i]``, e.g. the input file); ``overrides`` as {kind: column}
    or ["kind=column", ...]."""
    if not channels:
        return ()
    columns = find_contact_columns(contacts, roles, _overrides(overrides))
    return build_audiences(with_contacts(targets, contacts[columns.used()], ids), channels, columns, phone_region)


def _overrides(items: dict[str, str] | Sequence[str]) -> dict[str, str]:
    if isinstance(items, dict):
        return dict(items)
    out = {}
    for item in items:
        kind, sep, col = str(item).partition("=")
        if not sep or not kind.strip() or not col.strip():
            raise DataValidationError(t("--contact-col takes KIND=COLUMN (e.g. email=mail); got '{item}'.", item=item))
        out[kind.strip()] = col.strip()
    return out


def build_audiences(members: pd.DataFrame, channels: Sequence[str], columns: ContactColumns,
                    phone_region: str | None = None) -> tuple[Audience, ...]:
    """One audience per channel from a list's ``members`` (holding ``group`` and the contact columns):
    the target group only, each contact normalised once and then shaped per platform."""
    if "group" not in members.columns:
        raise DataValidationError(t("The list has no 'group' column: build a target list first."))
    if columns.email is None and columns.phone is None:
        raise DataValidationError(t("No e-mail or phone column found for the audiences: name them (--contact-col "
                                    "email=COLUMN phone=COLUMN), or check their role is personal data."))
    if phone_region and not re.fullmatch(r"[A-Za-z]{2}", phone_region):
        raise DataValidationError(t("--phone-region must be a two-letter country code such as US, GB or CN; "
                                    "got '{region}'.", region=phone_region))
    send = members[members["group"].astype(str) == "target"]
    contacts, blanked = _normalised(send, columns, phone_region)
    return tuple(_audience(channel, contacts, blanked, columns.consent is not None)
                 for channel in parse_channels(channels))


def _normalised(send: pd.DataFrame, columns: ContactColumns, region: str | None) -> tuple[pd.DataFrame, dict]:
    """Every target's contacts, normalised once (None where missing or unreadable), and how many values
    were unreadable by kind."""
    def col(name: str | None) -> pd.Series:
        return send[name] if name is not None else pd.Series([None] * len(send), index=send.index, dtype=object)

    countries = col(columns.country).map(country_code)
    raw_email, raw_phone = col(columns.email), col(columns.phone)
    emails = raw_email.map(email_of)
    phones = pd.Series([phone_e164(v, c if isinstance(c, str) else region) for v, c in zip(raw_phone, countries)], index=send.index,
                       dtype=object)
    if columns.country is None or countries.isna().any():  # the country a phone says, where the file has none
        countries = countries.where(countries.notna(), phones.map(_phone_country))
    first, last = col(columns.first_name).map(_text), col(columns.last_name).map(_text)
    if columns.full_name is not None and (columns.first_name is None or columns.last_name is None):
        split = col(columns.full_name).map(_split_name)
        first, last = split.map(lambda p: p[0]), split.map(lambda p: p[1])
    consent = col(columns.consent).map(is_yes)
    frame = pd.DataFrame({"email": emails, "phone": phones, "first": first, "last": last, "country": countries,
                          "zip": col(columns.zip).map(_zip_text), "city": col(columns.city).map(_text),
                          "state": col(columns.state).map(_text)}, index=send.index)
    # One spelling of "missing" from here on: "" (pandas may hold None as NaN, which is truthy).
    frame = frame.astype(object).where(frame.notna(), "").assign(consent=consent.astype(object))
    blanked = {
        t("unreadable e-mail"): int((raw_email.map(_text).ne("") & emails.isna()).sum()),
        t("unreadable phone (no valid number for its country)"): int((raw_phone.map(_text).ne("") & phones.isna()).sum()),
    }
    return frame.reset_index(drop=True), {k: n for k, n in blanked.items() if n}


def _phone_country(e164: str | None) -> str | None:
    if not isinstance(e164, str) or not e164:
        return None
    import phonenumbers

    return phonenumbers.region_code_for_number(phonenumbers.parse(e164)) or None


def _split_name(value: object) -> tuple[str, str]:
    """'Anna Nowak' -> ('Anna', 'Nowak'); a name without a space (王小明) cannot be split: left blank."""
    parts = _text(value).split(None, 1)
    return (parts[0], parts[1]) if len(parts) == 2 else ("", "")


def _zip_text(value: object) -> str:
    text = _text(value)
    return text[:-2] if re.fullmatch(r"\d+\.0", text) else text


def _audience(channel: str, c: pd.DataFrame, blanked: dict, has_consent: bool) -> Audience:
    platform = PLATFORMS[channel]
    keep = pd.Series(True, index=c.index)
    left_out: dict[str, int] = {}

    def drop(reason: str, mask: pd.Series) -> None:
        nonlocal keep
        newly = int((keep & ~mask).sum())
        if newly:
            left_out[reason] = left_out.get(reason, 0) + newly
        keep &= mask

    if platform.needs_email:
        if has_consent:  # an e-mail goes only to those who said yes; a blank is no yes
            drop(t("no consent"), c["consent"].map(lambda v: v is not False))
            drop(t("consent not recorded"), c["consent"].map(lambda v: v is True))
        drop(t("no valid e-mail"), c["email"].ne(""))
    else:
        drop(t("no valid e-mail or phone"), c["email"].ne("") | c["phone"].ne(""))
    kept = c[keep].reset_index(drop=True)
    frame = _SHAPES[channel](kept).loc[:, list(platform.columns)]
    warnings = []
    minimum = MIN_AUDIENCE.get(channel)
    if minimum is not None and len(frame) < minimum:
        warnings.append(t("{channel}: {rows} people, fewer than the {minimum} the platform needs before it "
                          "serves ads to an audience (and not everyone will be matched).", channel=channel,
                          rows=len(frame), minimum=minimum))
    return Audience(channel, frame, len(frame), left_out, dict(blanked), tuple(warnings))


def _hash(values: pd.Series) -> pd.Series:
    return values.map(lambda v: sha256(v) if v else "")


def _google(c: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "Email": _hash(c["email"].map(lambda e: google_email(e) if e else "")),
        "Phone": _hash(c["phone"].fillna("")),
        "First Name": _hash(c["first"].map(lambda v: name_google(v, "first"))),
        "Last Name": _hash(c["last"].map(lambda v: name_google(v, "last"))),
        "Country": c["country"].fillna(""),
        "Zip": c["zip"].fillna(""),
    })


def _meta(c: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "email": _hash(c["email"].fillna("")),
        "phone": _hash(c["phone"].map(lambda p: p.lstrip("+") if p else "")),
        "fn": _hash(c["first"].map(name_meta)),
        "ln": _hash(c["last"].map(name_meta)),
        "ct": _hash(c["city"].map(city_meta)),
        "st": _hash(c["state"].map(city_meta)),
        "zip": _hash(pd.Series([zip_meta(z, k) for z, k in zip(c["zip"], c["country"])], index=c.index,
                               dtype=object)),
        "country": _hash(c["country"].map(lambda k: k.lower() if k else "")),
    })


def _clear(c: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    source = {"email": c["email"], "first": c["first"], "last": c["last"], "phone": c["phone"],
              "city": c["city"], "country": c["country"], "zip": c["zip"]}
    return pd.DataFrame({header: source[kind].fillna("") for kind, header in names.items()})


_SHAPES = {
    "google": _google,
    "meta": _meta,
    "mailchimp": lambda c: _clear(c, {"email": "Email Address", "first": "First Name", "last": "Last Name",
                                      "phone": "Phone Number"}),
    "klaviyo": lambda c: _clear(c, {"email": "Email Address", "first": "First Name", "last": "Last Name",
                                    "phone": "Phone Number", "city": "City", "country": "Country",
                                    "zip": "Zip Code"}),
    "brevo": lambda c: _clear(c, {"email": "EMAIL", "first": "FIRSTNAME", "last": "LASTNAME", "phone": "SMS"}),
}
