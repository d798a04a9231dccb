"""Privacy in the app (AppTest): the pseudonymise switch, the audit trail on the Campaigns page, sign-in with
an allow-list (AppTest's simulated user: no identity provider is reachable here), per-user campaigns and
small segments hidden."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from lib.act.campaigns import campaign_members, list_exports, record_campaign

from .conftest import ROOT
from .test_pages import no_errors

APP = str(ROOT / "app.py")
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32, "client_id": "c",
        "client_secret": "s", "server_metadata_url": "https://idp.example.org/.well-known/openid-configuration",
        "allowed": ["ann@shop.com", "@example.org"]}


def new_app(user: dict | None = None, auth: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    if auth is not None:
        at.secrets["auth"] = auth
    if user is not None:
        at.user = user
    return at.run()


@pytest.fixture(scope="module")
def trained():
    at = new_app()
    at.button(key="sample_shop_customers.csv").click().run()
    at.switch_page("pages/propensity.py").run()
    at.button[0].click().run()
    return at


def _click(at: AppTest, label: str) -> None:
    [b for b in at.get("download_button") if b.label == label][0].click().run()


def test_target_list_switch_pseudonymises_the_list_and_the_campaign_and_logs_the_download(trained):
    at = trained
    at.switch_page("pages/targets.py").run()
    no_errors(at)
    contacts = [m for m in at.multiselect if m.label.startswith("Contact columns")][0]
    assert {"email", "name"} <= set(contacts.options)  # a plain send list may carry contact columns
    at.toggle(key="w_privacy_pseudonymise").set_value(True).run()
    no_errors(at)
    contacts = [m for m in at.multiselect if m.label.startswith("Contact columns")][0]
    assert contacts.options == []  # never personal data beside pseudonyms
    preview = at.dataframe[0].value
    assert preview["customer_id"].str.fullmatch(r"[0-9a-f]{20}").all()
    at.text_input[0].set_value("Pseudo spring").run()
    _click(at, "CSV (UTF-8)")
    no_errors(at)
    assert any(s.value.startswith("Recorded campaign") for s in at.success)
    members = campaign_members("Pseudo spring", owner="local")
    assert members["customer_id"].str.fullmatch(r"[0-9a-f]{20}").all()
    assert set(members["customer_id"]) >= set(preview["customer_id"][preview["group"] == "target"]) - {None}
    audit = list_exports(owner="local")
    row = audit.iloc[0]
    assert row["file_name"] == "Pseudo spring.csv" and row["pseudonymised"] == 1 and row["via"] == "app"
    assert row["campaign"] == "Pseudo spring" and row["rows"] == 900
    assert "email" not in json.loads(row["columns"]) and "customer_id" in json.loads(row["columns"])

    at.switch_page("pages/campaigns.py").run()
    no_errors(at)
    shown = [d.value for d in at.dataframe if "file_sha256" in d.value.columns][0]
    assert list(shown["file_name"]) == ["Pseudo spring.csv"] and shown["pseudonymised"].iloc[0] == 1
    assert any(e.label.startswith("Downloads (audit trail)") for e in at.expander)


def test_a_plain_list_may_carry_picked_contact_columns_and_is_logged_as_such(trained):
    at = trained
    at.switch_page("pages/targets.py").run()
    at.toggle(key="w_privacy_pseudonymise").set_value(False).run()
    [m for m in at.multiselect if m.label.startswith("Contact columns")][0].set_value(["email"]).run()
    at.text_input[0].set_value("Plain spring").run()
    _click(at, "Excel (.xlsx)")
    no_errors(at)
    row = list_exports(owner="local").iloc[0]
    assert row["file_name"] == "Plain spring.xlsx" and row["pseudonymised"] == 0
    assert "email" in json.loads(row["columns"])
    assert campaign_members("Plain spring")["customer_id"].str.fullmatch(r"1\d{5}").all()


def test_sign_in_is_required_when_auth_is_configured():
    at = new_app(user={"is_logged_in": False}, auth=AUTH)
    no_errors(at)
    assert [t.value for t in at.title] == ["Bullseye"]
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.file_uploader  # no page ran
    at = new_app(user={"is_logged_in": True, "email": "eve@elsewhere.com"}, auth=AUTH)
    assert "not on the allow-list" in at.error[0].value and not at.file_uploader
    at = new_app(user={"is_logged_in": True, "email": "bob@example.org"}, auth=AUTH)
    no_errors(at)
    assert at.title[0].value == "Upload & understand your data"
    assert any("Signed in as bob@example.org" in c.value for c in at.sidebar.caption)


def test_without_auth_the_app_says_it_is_a_local_single_user_tool():
    at = new_app()
    no_errors(at)
    assert any("Local single-user mode" in c.value for c in at.sidebar.caption)


def test_each_signed_in_user_sees_only_their_own_campaigns():
    members = pd.DataFrame({"id": [str(i) for i in range(40)], "group": ["target", "control"] * 20})
    record_campaign("Ann's launch", members, "id", "d", {}, None, owner="ann@shop.com")
    record_campaign("Bob's launch", members, "id", "d", {}, None, owner="bob@example.org")
    record_campaign("Local test", members, "id", "d", {}, None)
    at = new_app(user={"is_logged_in": True, "email": "Ann@Shop.com"}, auth=AUTH)
    at.switch_page("pages/campaigns.py").run()
    no_errors(at)
    assert [s for s in at.selectbox if s.label == "Campaign"][0].options == ["Ann's launch"]
    history = [d.value for d in at.dataframe if "selected" in d.value.columns][0]
    assert list(history["name"]) == ["Ann's launch"]
    at = new_app(user={"is_logged_in": True, "email": "carl@example.org"}, auth=AUTH)
    at.switch_page("pages/campaigns.py").run()
    no_errors(at)
    assert "No campaigns yet" in at.info[0].value


def test_segments_page_hides_segments_under_ten_customers(tmp_path):
    i = np.arange(200)
    f = pd.DataFrame({"customer_id": [f"C{k:04d}" for k in i], "recency_days": i, "orders": i + 1,
                      "total_spend": (i + 1) * 10.0})
    f.loc[:2, ["orders", "total_spend"]] = [1000, 99999.0]  # three champions: too few to profile
    at = new_app()
    at.file_uploader[0].upload("rfm.csv", f.to_csv(index=False).encode(), "text/csv").run()
    at.switch_page("pages/segments.py").run()
    at.radio(key="w_cfg_seg_method").set_value("RFM").run()
    at.button[0].click().run()
    no_errors(at)
    profile = [d.value for d in at.dataframe if "All customers" in d.value.columns][0]
    assert "Champions" not in profile.columns and "New" in profile.columns
    assert any("Champions" in c.value and "single one out" in c.value for c in at.caption)
    pick = [s for s in at.selectbox if s.label == "Segment"][0]  # segments are chosen by id, shown by name
    pick.set_value(next(i for i in range(50) if pick.format_func(i) == "Champions")).run()
    assert any("too few to describe" in m.value for m in at.markdown)


def test_a_secrets_file_that_cannot_be_read_keeps_the_app_closed(tmp_path):
    from streamlit.testing.v1.util import patch_config_options

    broken = tmp_path / "secrets.toml"
    broken.write_text('[auth]\nallowed = ["ann@shop.com"\n')  # a typo must not turn sign-in off
    with patch_config_options({"secrets.files": [str(broken)]}):
        at = new_app()
    assert not at.exception
    assert "cannot be read" in at.error[0].value and not at.file_uploader


@pytest.mark.parametrize("page", ["upload", "campaigns", "targets"])
def test_a_page_run_without_app_py_still_needs_an_allowed_sign_in(page):
    """On a fresh server Streamlit's pages/-folder mode can run a page by its URL, skipping app.py's gate."""
    for user in ({"is_logged_in": False}, {"is_logged_in": True, "email": "eve@elsewhere.com"}):
        at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=60)
        at.secrets["auth"] = AUTH
        at.user = user
        at.run()
        assert not at.exception
        assert any("Sign in first" in i.value for i in at.info), page
        assert not at.dataframe and not at.get("download_button")
