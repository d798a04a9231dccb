"""Channel audiences: Google Customer Match and Meta files hashed by the platforms' documented rules, e-mail
platform imports with consent, the target group only, and the CLI's --audience end to end."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from lib.act.audiences import (
    PLATFORMS,
    audience_csv_bytes,
    build_audiences,
    find_contact_columns,
    parse_channels,
    phone_e164,
)
from lib.errors import DataValidationError
from lib.text import i18n

from .conftest import ROOT


def sha(text: str) -> str:
    """The hand-computed hash: SHA-256 of the UTF-8 bytes, lower-case hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


PII = {"email": "pii", "phone": "pii", "first_name": "pii", "last_name": "pii", "full_name": "pii"}


def members(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    if "group" not in frame.columns:
        frame["group"] = "target"
    return frame


def audiences_of(frame: pd.DataFrame, channels=("google", "meta"), region=None, roles=PII) -> dict:
    cols = find_contact_columns(frame, roles)
    return {a.channel: a for a in build_audiences(frame, channels, cols, region)}


# --- golden hashes: the platforms' documented normalisation, computed by hand ----------------------


def test_emails_with_spaces_and_capitals_hash_as_google_and_meta_document():
    frame = members([{"email": "  Anna.Nowak+Shop@GMail.com ", "country": "US"},
                     {"email": "Bob.Smith+NYC@Example.COM\t", "country": "US"}])
    a = audiences_of(frame)
    # Google (Data Manager "Format user data"): lower case; for gmail.com the dots and +suffix go.
    assert a["google"].frame["Email"].tolist() == [sha("annanowak@gmail.com"), sha("bob.smith+nyc@example.com")]
    # Meta: trimmed and lower-cased only.
    assert a["meta"].frame["email"].tolist() == [sha("anna.nowak+shop@gmail.com"), sha("bob.smith+nyc@example.com")]
    assert a["google"].frame["Email"].str.fullmatch(r"[0-9a-f]{64}").all()


@pytest.mark.parametrize("raw, region, e164", [
    ("(650) 555-1234", "US", "+16505551234"),
    ("020 7946 0018", "GB", "+442079460018"),
    ("+49 30 1234567", "US", "+49301234567"),  # a written country code wins over the region
    ("138 0013 8000", "CN", "+8613800138000"),
])
def test_phones_in_four_local_formats_hash_in_e164(raw, region, e164):
    assert phone_e164(raw, region) == e164
    frame = members([{"phone": raw, "country": region}])
    a = audiences_of(frame)
    assert a["google"].frame["Phone"].iloc[0] == sha(e164)  # Google: E.164 with "+"
    assert a["meta"].frame["phone"].iloc[0] == sha(e164[1:])  # Meta: digits with the country code, no "+"


def test_phone_region_reads_numbers_of_rows_without_a_country():
    frame = members([{"phone": "020 7946 0018"}, {"phone": "(650) 555-1234"}])
    a = audiences_of(frame, region="GB")
    assert a["google"].frame["Phone"].iloc[0] == sha("+442079460018")
    assert a["google"].frame["Country"].iloc[0] == "GB"  # the country a phone says, when the file has none
    # A US number read as British is not a valid number: counted and left out, never half-normalised.
    assert a["google"].rows == 1 and a["google"].left_out == {"no valid e-mail or phone": 1}
    assert a["google"].blanked == {"unreadable phone (no valid number for its country)": 1}


def test_meta_keeps_non_latin_names_in_utf8_and_google_trims_and_lowercases():
    frame = members([
        {"email": "w@x.cn", "first_name": "小明", "last_name": "王", "country": "CN", "city": "北京", "zip": "100000"},
        {"email": "e@x.fr", "first_name": " Émilie ", "last_name": "O'Brien-Smith", "country": "fr",
         "city": "Saint-Étienne", "zip": "42000"},
        {"email": "j@x.us", "first_name": "JOHN", "last_name": "Doe", "country": "United States",
         "city": "New York", "zip": "94043-1234"},
    ])
    a = audiences_of(frame)
    meta, google = a["meta"].frame, a["google"].frame
    assert meta["fn"].tolist() == [sha("小明"), sha("émilie"), sha("john")]
    assert meta["ln"].tolist() == [sha("王"), sha("obriensmith"), sha("doe")]
    assert meta["ct"].tolist() == [sha("北京"), sha("saintétienne"), sha("newyork")]
    assert meta["country"].tolist() == [sha("cn"), sha("fr"), sha("us")]
    assert meta["zip"].tolist() == [sha("100000"), sha("42000"), sha("94043")]  # US: first five digits
    assert google["First Name"].tolist() == [sha("小明"), sha("émilie"), sha("john")]
    # Google (Data Manager AddressInfo): lower case, no punctuation, no title before or after.
    assert google["Last Name"].tolist() == [sha("王"), sha("obriensmith"), sha("doe")]
    assert google["Country"].tolist() == ["CN", "FR", "US"] and google["Zip"].tolist() == ["100000", "42000",
                                                                                          "94043-1234"]


def test_google_names_lose_titles_punctuation_and_extra_spaces():
    frame = members([{"email": "a@b.com", "first_name": "Mrs.  Mary   Ann ", "last_name": "King Jr."}])
    google = audiences_of(frame)["google"].frame
    assert google["First Name"].iloc[0] == sha("mary ann") and google["Last Name"].iloc[0] == sha("king")


def test_a_full_name_is_split_into_first_and_last():
    frame = members([{"email": "a@b.com", "full_name": "Anna  Maria Nowak"}])
    meta = audiences_of(frame)["meta"].frame
    assert meta["fn"].iloc[0] == sha("anna") and meta["ln"].iloc[0] == sha("marianowak")


def test_headers_are_the_platforms_own():
    frame = members([{"email": "a@b.com"}])
    a = audiences_of(frame, channels=("google", "meta", "mailchimp", "klaviyo", "brevo"))
    assert list(a["google"].frame.columns) == ["Email", "Phone", "First Name", "Last Name", "Country", "Zip"]
    assert list(a["meta"].frame.columns)[:4] == ["email", "phone", "fn", "ln"]
    assert {"zip", "ct", "country"} <= set(a["meta"].frame.columns)
    assert a["mailchimp"].frame.columns[0] == "Email Address" and a["klaviyo"].frame.columns[0] == "Email Address"
    assert all(list(a[c].frame.columns) == list(PLATFORMS[c].columns) for c in a)


# The e-mail platforms' import files, byte for byte: each platform's own headers (Mailchimp "Format
# guidelines for your import file": Email Address required; Klaviyo list upload: "Email Address" first,
# then its properties; Brevo "Format your contact import file": EMAIL, FIRSTNAME, LASTNAME, SMS with + and
# country code), contacts in clear, e-mail trimmed and lower-cased, phones in E.164, non-Latin names kept.
EMAIL_PLATFORM_FILES = {
    "mailchimp": '"Email Address","First Name","Last Name","Phone Number"\n'
                 '"anna.nowak@example.com","Anna","Nowak","+16505551234"\n'
                 '"li.wei@example.cn","伟","李","+8613800138000"\n',
    "klaviyo": '"Email Address","First Name","Last Name","Phone Number","City","Country","Zip Code"\n'
               '"anna.nowak@example.com","Anna","Nowak","+16505551234","Palo Alto","US","94301"\n'
               '"li.wei@example.cn","伟","李","+8613800138000","北京","CN","100000"\n',
    "brevo": '"EMAIL","FIRSTNAME","LASTNAME","SMS"\n'
             '"anna.nowak@example.com","Anna","Nowak","+16505551234"\n'
             '"li.wei@example.cn","伟","李","+8613800138000"\n',
}


def test_email_platform_files_are_golden():
    frame = members([
        {"email": "  Anna.Nowak@Example.COM ", "first_name": " Anna ", "last_name": "Nowak", "phone": "(650) 555-1234",
         "city": "Palo Alto", "country": "US", "zip": "94301", "consent": "yes", "group": "target"},
        {"email": "li.wei@example.cn", "first_name": "伟", "last_name": "李", "phone": "138 0013 8000", "city": "北京",
         "country": "CN", "zip": "100000", "consent": "yes", "group": "target"},
        {"email": "no.consent@example.com", "consent": "no", "group": "target"},
        {"email": "in.control@example.com", "consent": "yes", "group": "control"},
    ])
    a = audiences_of(frame, channels=tuple(EMAIL_PLATFORM_FILES), roles={"email": "pii", "phone": "pii"})
    for channel, golden in EMAIL_PLATFORM_FILES.items():
        assert audience_csv_bytes(a[channel]).decode("utf-8") == golden, channel
        assert a[channel].left_out == {"no consent": 1}


# --- who is in a file ------------------------------------------------------------------------------


def test_control_group_is_never_in_an_audience():
    frame = members([{"email": f"t{i}@shop.com", "group": "target", "consent": "yes"} for i in range(5)]
                    + [{"email": f"c{i}@shop.com", "group": "control", "consent": "yes"} for i in range(3)])
    a = audiences_of(frame, channels=("google", "meta", "mailchimp", "klaviyo"), roles={"email": "pii"})
    control_hashes = {sha(f"c{i}@shop.com") for i in range(3)}
    assert not control_hashes & set(a["google"].frame["Email"]) and not control_hashes & set(a["meta"].frame["email"])
    for channel in ("mailchimp", "klaviyo"):
        text = audience_csv_bytes(a[channel]).decode()
        assert "c0@shop.com" not in text and "t0@shop.com" in text
    assert all(aud.rows == 5 for aud in a.values())


def test_unparseable_phone_is_left_out_and_counted():
    frame = members([{"email": "", "phone": "12345", "country": "US"},  # nothing usable: left out
                     {"email": "ok@shop.com", "phone": "call me", "country": "US"},  # phone blank, e-mail sent
                     {"email": "p@shop.com", "phone": "(650) 555-1234", "country": "US"}])
    a = audiences_of(frame)
    g = a["google"]
    assert g.rows == 2 and g.left_out == {"no valid e-mail or phone": 1}
    assert g.blanked["unreadable phone (no valid number for its country)"] == 2
    assert g.frame["Phone"].tolist() == ["", sha("+16505551234")]
    assert a["meta"].to_report()["left_out"] == {"no valid e-mail or phone": 1}


def test_email_platforms_respect_consent():
    frame = members([{"email": "yes@shop.com", "consent": "Yes"}, {"email": "no@shop.com", "consent": "no"},
                     {"email": "blank@shop.com", "consent": None}, {"email": "not-an-email", "consent": "yes"}])
    mc = audiences_of(frame, channels=("mailchimp",), roles={"email": "pii"})["mailchimp"]
    assert mc.frame["Email Address"].tolist() == ["yes@shop.com"]
    assert mc.left_out == {"no consent": 1, "consent not recorded": 1, "no valid e-mail": 1}


def test_small_audiences_are_warned_about():
    frame = members([{"email": f"u{i}@shop.com"} for i in range(150)])
    a = audiences_of(frame, channels=("google", "meta", "mailchimp"), roles={"email": "pii"})
    assert a["google"].warnings and "1000" in a["google"].warnings[0]
    assert not a["meta"].warnings and not a["mailchimp"].warnings


def test_behaviour_columns_are_not_taken_for_contacts():
    frame = pd.DataFrame({"email_opens_90d": [1, 2], "mail": ["a@b.com", "c@d.com"], "group": "target"})
    cols = find_contact_columns(frame, {"email_opens_90d": "numeric", "mail": "pii"}, {"email": "mail"})
    assert cols.email == "mail"
    assert find_contact_columns(frame, {"email_opens_90d": "numeric"}).email is None
    assert find_contact_columns(frame.drop(columns="mail")).email is None  # no roles given: judged by values


def test_unknown_channel_and_bad_region_are_refused():
    with pytest.raises(DataValidationError, match="tiktok"):
        parse_channels("google,tiktok")
    with pytest.raises(DataValidationError, match="two-letter"):
        audiences_of(members([{"email": "a@b.com"}]), region="USA")


def test_messages_are_translated_in_chinese():
    with i18n.using("zh"):
        assert i18n.t("no consent") == "未同意"
        assert i18n.t("Channel audiences") == "渠道受众"
        text = i18n.t("--audience needs a target list: add --top N, --top-pct P or --budget B.")
        assert "目标名单" in text


# --- the CLI end to end, on a messy contact file ---------------------------------------------------


def messy_contacts(n: int = 400, seed: int = 7) -> pd.DataFrame:
    """Contacts as exports hold them: capitals and spaces in e-mails, phones in local and international
    formats, some unreadable, a consent column."""
    rng = np.random.default_rng(seed)
    formats = ["({a}) 555-{b:04d}", "{a}-555-{b:04d}", "+1 {a} 555 {b:04d}", "1{a}555{b:04d}", "tel 12"]
    rows = []
    for i in range(n):
        area = int(rng.choice([650, 415, 212]))
        spend = float(rng.gamma(2, 50))
        rows.append({
            "customer_id": 10000 + i,
            "email": f"  User.{i}@Shop.COM " if i % 3 else f"user.{i}+promo@gmail.com",
            "phone": formats[i % 5].format(a=area, b=1000 + i),
            "first_name": "Zoë" if i % 2 else "Ann", "last_name": "Nowak",
            "email_consent": "no" if i % 10 == 0 else "yes",
            "orders": int(rng.poisson(3)), "spend": spend, "visits": int(rng.poisson(5)),
            "responded": "yes" if rng.random() < 0.2 + 0.002 * spend else "no",
        })
    return pd.DataFrame(rows)


def cli(*args: str, data_dir) -> subprocess.CompletedProcess:
    env = {**os.environ, "BULLSEYE_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "lib.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=600)


def test_cli_audience_writes_the_target_group_hashed_by_the_platforms_rules(tmp_path):
    src = tmp_path / "contacts.csv"
    people = messy_contacts()
    people.to_csv(src, index=False)
    out, data = tmp_path / "out", tmp_path / "data"
    proc = cli("run", "--input", str(src), "--out", str(out), "--target", "responded", "--top", "200",
               "--control-pct", "20", "--audience", "google,meta", "--phone-region", "US", "--campaign", "spring",
               "--save-model", str(tmp_path / "m.bullseye"), "--data-dir", str(data), data_dir=data)
    assert proc.returncode == 0, proc.stderr
    targets = pd.read_csv(out / "targets.csv")
    google, meta = pd.read_csv(out / "audience_google.csv", dtype=str).fillna(""), \
        pd.read_csv(out / "audience_meta.csv", dtype=str).fillna("")
    sent = people[people["customer_id"].isin(targets.loc[targets["group"] == "target", "id"])]
    held = people[people["customer_id"].isin(targets.loc[targets["group"] == "control", "id"])]
    assert len(held) == 40 and len(google) == len(meta) == len(sent) == 160  # every target has an e-mail

    def google_email(e: str) -> str:
        local, domain = e.strip().lower().split("@")
        return (local.split("+")[0].replace(".", "") if domain == "gmail.com" else local) + "@" + domain

    assert set(google["Email"]) == {sha(google_email(e)) for e in sent["email"]}
    assert set(meta["email"]) == {sha(e.strip().lower()) for e in sent["email"]}
    assert not {sha(e.strip().lower()) for e in held["email"]} & set(meta["email"])
    assert set(meta["fn"]) == {sha("ann"), sha("zoë")} and set(google["Last Name"]) == {sha("nowak")}
    digits = {p: "1" + "".join(ch for ch in p if ch.isdigit())[-10:] for p in sent["phone"] if p != "tel 12"}
    assert set(google["Phone"]) - {""} == {sha("+" + d) for d in digits.values()}
    assert set(meta["phone"]) - {""} == {sha(d) for d in digits.values()}
    report = json.loads((out / "report.json").read_text())
    blanked = report["audiences"]["google"]["blanked"]
    assert blanked == {"unreadable phone (no valid number for its country)": int((sent["phone"] == "tel 12").sum())}
    assert report["audiences"]["google"]["rows"] == 160 and report["audiences"]["google"]["warnings"]
    from lib.act.campaigns import list_campaigns, list_exports

    logged = set(list_exports(data)["file_name"])
    assert {"audience_google.csv", "audience_meta.csv"} <= logged
    assert json.loads(list_campaigns(data)["filters"].iloc[0])["audiences"] == ["google", "meta"]
    # score writes audiences too, and another run's audience files do not stay behind.
    proc = cli("score", "--model", str(tmp_path / "m.bullseye"), "--input", str(src), "--out", str(out), "--top",
               "50", "--audience", "klaviyo", "--phone-region", "US", "--data-dir", str(data), data_dir=data)
    assert proc.returncode == 0, proc.stderr
    assert not (out / "audience_google.csv").exists() and not (out / "audience_meta.csv").exists()
    klaviyo = pd.read_csv(out / "audience_klaviyo.csv", dtype=str)
    listed = people[people["customer_id"].isin(pd.read_csv(out / "targets.csv")["id"])]
    assert set(klaviyo["Email Address"]) == {e.strip().lower() for e in listed.loc[listed["email_consent"] == "yes", "email"]}
    assert klaviyo["Phone Number"].dropna().str.fullmatch(r"\+1\d{10}").all()
    report = json.loads((out / "report.json").read_text())["audiences"]
    assert report["klaviyo"]["left_out"] == {"no consent": int((listed["email_consent"] == "no").sum())}


def test_cli_pseudonymised_run_refuses_audiences(tmp_path):
    src = tmp_path / "contacts.csv"
    messy_contacts(60).to_csv(src, index=False)
    proc = cli("run", "--input", str(src), "--out", str(tmp_path / "out"), "--target", "responded", "--top", "20",
               "--audience", "meta", "--pseudonymise", "--data-dir", str(tmp_path / "d"), data_dir=tmp_path / "d")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: --audience meta needs the customers' e-mails and phones")
    assert not (tmp_path / "out" / "audience_meta.csv").exists()
    proc = cli("run", "--input", str(src), "--out", str(tmp_path / "out"), "--target", "responded",
               "--audience", "google", "--data-dir", str(tmp_path / "d"), data_dir=tmp_path / "d")
    assert proc.returncode == 2 and "--audience needs a target list" in proc.stderr


# --- the Target list page --------------------------------------------------------------------------


def test_target_list_page_offers_each_channel_audience_with_what_it_left_out():
    from .test_pages import new_app, no_errors

    at = new_app()
    at.button(key="sample_shop_customers.csv").click().run()
    at.switch_page("pages/propensity.py").run()
    at.button[0].click().run()
    at.switch_page("pages/targets.py").run()
    no_errors(at)
    assert any(h.value == "Channel audiences" for h in at.subheader)
    at.multiselect(key="w_cfg_aud_channels").set_value(["google", "mailchimp"]).run()
    no_errors(at)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["google"].replace(",", "")) == 900  # the target group, every one with an e-mail
    assert int(metrics["mailchimp"].replace(",", "")) == 900  # the list already left out who said no
    assert any("fewer than the 1000" in w.value for w in at.warning)
    labels = [d.label for d in at.get("download_button")]
    assert "Download audience_google.csv" in labels and "Download audience_mailchimp.csv" in labels
    # With pseudonyms on, no audience is offered: every one is made of raw contacts.
    at.toggle(key="w_privacy_pseudonymise").set_value(True).run()
    no_errors(at)
    assert not any("audience_" in d.label for d in at.get("download_button"))
    assert any("turn pseudonymising off" in i.value for i in at.info)
