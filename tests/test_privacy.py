"""Privacy: keyed pseudonyms, no personal data in outputs, small groups hidden, per-user campaigns and the
audit trail, in lib/ and through the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import stat
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from lib.act.campaigns import (
    campaign_members,
    db_path,
    list_campaigns,
    list_exports,
    measure_lift,
    record_campaign,
    record_export,
)
from lib.data import privacy
from lib.errors import DataValidationError

from .conftest import SAMPLES
from .test_cli import cli

KEY = b"k" * 32


@pytest.fixture
def no_env_key(monkeypatch):
    monkeypatch.delenv(privacy.KEY_ENV, raising=False)


# --- pseudonyms -----------------------------------------------------------------------------------


def test_pseudonym_is_a_keyed_hmac_not_a_plain_hash():
    p = privacy.pseudonymise(["anna@example.com"], KEY)[0]
    plain = hashlib.sha256(b"anna@example.com").hexdigest()
    assert p != plain[: len(p)]  # a plain hash is reversed by hashing guesses
    assert p == __import__("hmac").new(KEY, b"anna@example.com", "sha256").hexdigest()[:privacy.PSEUDONYM_HEX]


def test_same_key_gives_the_same_pseudonyms_and_another_key_different_ones():
    ids = pd.Series(["100001", "100002", "100003"])
    a, b = privacy.pseudonymise(ids, KEY), privacy.pseudonymise(ids, KEY)
    other = privacy.pseudonymise(ids, b"z" * 32)
    assert list(a) == list(b)
    assert len(set(a)) == 3 and not set(a) & set(other)
    assert not set(a) & set(ids)


def test_an_id_read_as_a_number_gets_the_same_pseudonym_as_its_text():
    assert list(privacy.pseudonymise(pd.Series([100001.0]), KEY)) == list(privacy.pseudonymise(["100001"], KEY))
    assert privacy.pseudonymise(pd.Series(["1", None]), KEY)[1] is None


def test_key_file_is_created_once_with_mode_600_and_reused(tmp_path, no_env_key):
    key = privacy.load_key(tmp_path)
    path = tmp_path / privacy.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert privacy.load_key(tmp_path) == key
    assert len(key) >= privacy.MIN_KEY_CHARS
    path.chmod(0o644)  # someone loosened it: it is tightened again, the key kept
    assert privacy.load_key(tmp_path) == key and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_environment_key_wins_over_the_key_file(tmp_path, monkeypatch):
    monkeypatch.delenv(privacy.KEY_ENV, raising=False)
    stored = privacy.load_key(tmp_path)
    monkeypatch.setenv(privacy.KEY_ENV, "an-environment-key-of-some-length")
    assert privacy.load_key(tmp_path) == b"an-environment-key-of-some-length" != stored


def test_a_short_environment_key_is_refused_with_a_message(tmp_path, monkeypatch):
    monkeypatch.setenv(privacy.KEY_ENV, "short")
    with pytest.raises(DataValidationError, match=privacy.KEY_ENV):
        privacy.load_key(tmp_path)


# --- personal data --------------------------------------------------------------------------------


def test_personal_columns_leave_only_when_picked_and_never_with_pseudonyms():
    frame = pd.DataFrame({"id": ["1", "2"], "email": ["a@x.com", "b@x.com"], "name": ["Ann", "Bob"], "score": [.1, .2]})
    roles = {"id": "identifier", "email": "pii", "name": "pii", "score": "numeric"}
    plain = privacy.protect(frame, ("id",), roles, None)
    assert list(plain.frame.columns) == ["id", "score"] and not plain.pseudonymised
    picked = privacy.protect(frame, ("id",), roles, None, keep_personal=("email",))
    assert list(picked.frame.columns) == ["id", "email", "score"]
    pseudo = privacy.protect(frame, ("id",), roles, KEY, keep_personal=("email",))
    assert list(pseudo.frame.columns) == ["id", "score"] and pseudo.pseudonymised
    assert list(pseudo.frame["id"]) == list(privacy.pseudonymise(frame["id"], KEY))
    assert list(frame.columns) == ["id", "email", "name", "score"]  # the input is not modified


def test_report_text_quoting_an_id_or_a_name_is_redacted():
    stand_in = privacy.report_redactions(np.array(["100231", "1750", "7"]), np.array(["p1", "p2", "p7"]),
                                         pd.DataFrame({"name": ["Anna Nowak"]}))
    out = privacy.redact({"w": ["duplicate id 100231, and 1750. (Anna Nowak)", "1,750 rows, 7 segments"]}, stand_in)
    # Ids inside numbers and row-number-short ids are left alone: a message must still read right.
    assert out == {"w": ["duplicate id p1, and p2. ([personal data])", "1,750 rows, 7 segments"]}


# --- small groups ---------------------------------------------------------------------------------


def _rfm_with_small_groups():
    """200 customers whose RFM groups include three of three customers each (Champions among them)."""
    from lib.models.segment import segment_rfm

    i = np.arange(200)
    f = pd.DataFrame({"recency_days": i, "orders": i + 1, "total_spend": (i + 1) * 10.0})
    f.loc[:2, ["orders", "total_spend"]] = [1000, 99999.0]
    return segment_rfm(f, "recency_days", "orders", "total_spend")


def test_segments_under_ten_customers_are_hidden_from_profiles_and_the_report():
    from lib.act.plots import profile_heatmap
    from lib.models.segment import profile_for_people

    seg = _rfm_with_small_groups()
    small = {s.name for s in seg.segments if s.size < 10}
    assert "Champions" in small and sum(s.size for s in seg.segments if s.size < 10) < 10
    table = profile_for_people(seg)
    assert not small & set(table.columns) and privacy.OTHER_SMALL not in table.columns  # too few even merged
    assert not small & set(profile_heatmap(seg).data[0].y)
    report = {r["name"]: r for r in seg.to_report()}
    assert report["Champions"]["hidden"] and "description" not in report["Champions"]
    assert "description" in report["New"]
    shown = profile_for_people(seg, min_size=1)  # the threshold is the only reason they are hidden
    assert "Champions" in shown.columns


def test_small_segments_that_reach_ten_together_are_shown_merged():
    from lib.models.segment import profile_for_people

    seg = _rfm_with_small_groups()
    seg = replace(seg, segments=tuple(replace(s, size=5) if s.size < 10 else s for s in seg.segments))
    table = profile_for_people(seg)
    assert privacy.OTHER_SMALL in table.columns and "Champions" not in table.columns
    assert table.loc["Customers", privacy.OTHER_SMALL] == "15"


def test_the_segments_of_a_report_under_ten_customers_keep_only_their_size():
    rows = [{"id": 0, "name": "Big", "size": 120, "share": 0.923077, "description": "Most.", "target_rate": 0.123456},
            {"id": 1, "name": "Tiny", "size": 9, "share": 0.069231, "description": "Nine people.", "target_rate": 1.0},
            {"id": 2, "name": "Gone", "size": 0, "share": 0.0, "description": "Nobody in this file."}]
    assert privacy.segments_report(rows) == [
        {"id": 0, "name": "Big", "size": 120, "share": 0.9231, "description": "Most.", "target_rate": 0.1235},
        {"id": 1, "name": "Tiny", "size": 9, "share": 0.0692, "hidden": True},
        {"id": 2, "name": "Gone", "size": 0, "share": 0.0, "hidden": True}]
    assert privacy.segments_report(rows, min_size=5)[1]["description"] == "Nine people."


def test_merge_small_merges_or_hides_groups_under_the_threshold():
    merged = privacy.merge_small(["a"] * 12 + ["b"] * 5 + ["c"] * 6)
    assert merged.value_counts().to_dict() == {"a": 12, privacy.OTHER_SMALL: 11}
    hidden = privacy.merge_small(["a"] * 12 + ["b"] * 3)
    assert hidden.isna().sum() == 3 and "b" not in set(hidden.dropna())


# --- sign-in allow-list ---------------------------------------------------------------------------


def test_allow_list_takes_addresses_and_whole_domains_and_fails_closed():
    allowed = ["ann@shop.com", "@example.org"]
    assert privacy.is_allowed("Ann@Shop.com", allowed)
    assert privacy.is_allowed("bob@example.org", allowed)
    assert not privacy.is_allowed("bob@shop.com", allowed)
    assert not privacy.is_allowed("eve@evil-example.org", allowed)
    assert not privacy.is_allowed("eve@example.org.evil.com", allowed)
    assert not privacy.is_allowed("ann@shop.com", [])


# --- the campaign database ------------------------------------------------------------------------


def _members(n: int = 40) -> pd.DataFrame:
    return pd.DataFrame({"id": [str(1000 + i) for i in range(n)], "group": ["target", "control"] * (n // 2)})


def test_a_database_from_before_owners_still_opens_and_its_campaigns_are_local(tmp_path):
    con = sqlite3.connect(db_path(tmp_path))
    con.executescript("""CREATE TABLE campaigns (name TEXT PRIMARY KEY, created_at TEXT NOT NULL, file_digest TEXT,
        filters TEXT, model TEXT, selected INTEGER, control INTEGER);
        INSERT INTO campaigns VALUES ('Old', '2025-01-01T00:00:00+00:00', 'd', '{}', '{}', 1, 1);""")
    con.commit()
    con.close()
    history = list_campaigns(tmp_path, owner="local")
    assert list(history["name"]) == ["Old"] and history["pseudonymised"].tolist() == [0]
    assert list_campaigns(tmp_path, owner="ann@shop.com").empty


def test_nobody_reads_another_owners_campaign(tmp_path):
    record_campaign("Ann's", _members(), "id", "d", {}, None, tmp_path, owner="ann@shop.com")
    record_campaign("Bob's", _members(), "id", "d", {}, None, tmp_path, owner="bob@shop.com")
    assert list(list_campaigns(tmp_path, owner="ann@shop.com")["name"]) == ["Ann's"]
    with pytest.raises(DataValidationError, match="No campaign named") as err:
        campaign_members("Bob's", tmp_path, owner="ann@shop.com")
    assert "Bob" not in str(err.value).split("Known campaigns:")[1]
    assert len(campaign_members("Ann's", tmp_path, owner="ann@shop.com")) == 40


def test_every_export_is_in_the_audit_trail(tmp_path):
    record_export("list.csv", b"id\n1\n", ["id"], 1, True, owner="ann@shop.com", campaign="C", data_dir=tmp_path)
    record_export("other.csv", b"x", ["x"], 3, False, owner="bob@shop.com", data_dir=tmp_path)
    audit = list_exports(tmp_path, owner="ann@shop.com")
    assert len(audit) == 1
    row = audit.iloc[0]
    assert row["file_sha256"] == hashlib.sha256(b"id\n1\n").hexdigest()
    assert json.loads(row["columns"]) == ["id"] and row["rows"] == 1 and row["pseudonymised"] == 1
    assert row["owner"] == "ann@shop.com" and row["created_at"]
    assert len(list_exports(tmp_path)) == 2


def test_a_pseudonymised_campaign_matches_results_by_real_ids_or_by_pseudonyms(tmp_path, no_env_key):
    key = privacy.load_key(tmp_path)
    members = _members(400)
    record_campaign("P", members.assign(id=privacy.pseudonymise(members["id"], key)), "id", "d", {}, None, tmp_path,
                    pseudonymised=True)
    responded = np.where(members["group"] == "target", "yes", "no")
    by_real = measure_lift("P", pd.DataFrame({"customer_id": members["id"], "responded": responded}), data_dir=tmp_path)
    by_pseudo = measure_lift("P", pd.DataFrame({"customer_id": privacy.pseudonymise(members["id"], key),
                                                "responded": responded}), data_dir=tmp_path)
    assert by_real.target_rate == by_pseudo.target_rate == 1.0 and by_real.unmatched_results == 0


# --- the CLI --------------------------------------------------------------------------------------

SHOP = pd.read_csv(SAMPLES / "shop_customers.csv", dtype=str)
RAW_IDS = set(SHOP["customer_id"])
PERSONAL = set(SHOP["email"]) | set(SHOP["name"])


def _leaks(out_dir) -> dict[str, set[str]]:
    """Raw ids (as whole tokens) and personal values (anywhere) found in each output file."""
    found = {}
    for path in out_dir.iterdir():
        text = path.read_text(encoding="utf-8-sig")
        tokens = set(re.findall(r"[^\s\",;:()\[\]{}]+", text))
        found[path.name] = (tokens & RAW_IDS) | {v for v in PERSONAL if v in text}
    return found


def _env(data_dir, key: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != privacy.KEY_ENV}
    env["BULLSEYE_DATA_DIR"] = str(data_dir)
    if key is not None:
        env[privacy.KEY_ENV] = key
    return env


def _run(out, data_dir, *extra, key=None):
    proc = cli("run", "--input", str(SAMPLES / "shop_customers.csv"), "--out", str(out), "--target", "responded",
               "--positive", "yes", "--top", "500", "--control-pct", "10", *extra, env=_env(data_dir, key))
    assert proc.returncode == 0, proc.stderr
    return pd.read_csv(out / "customers.csv", dtype=str), pd.read_csv(out / "targets.csv", dtype=str)


def test_pseudonymised_run_writes_no_raw_id_or_personal_value_and_logs_every_file(tmp_path):
    data = tmp_path / "data"
    _run(tmp_path / "plain", data)
    assert _leaks(tmp_path / "plain")["customers.csv"]  # the check finds raw ids when they are there
    customers, targets = _run(tmp_path / "pseudo", data, "--pseudonymise", "--campaign", "Spring",
                              "--save-model", str(tmp_path / "m.bullseye"))
    assert _leaks(tmp_path / "pseudo") == {"customers.csv": set(), "targets.csv": set(), "report.json": set()}
    assert set(targets["id"]) <= set(customers["id"]) and len(set(customers["id"])) == 5000
    report = json.loads((tmp_path / "pseudo" / "report.json").read_text())
    assert report["pseudonymised"] is True and report["pseudonym_key_id"]
    key = privacy.load_key(data)  # the key the CLI made and kept in the data folder
    assert list(customers["id"][:3]) == list(privacy.pseudonymise(SHOP["customer_id"][:3], key))
    members = campaign_members("Spring", data)
    assert set(members["customer_id"]) <= set(customers["id"])  # the campaign record holds pseudonyms too
    audit = list_exports(data)
    pseudo = audit[audit["pseudonymised"] == 1]
    assert set(pseudo["file_name"]) == {"customers.csv", "targets.csv", "report.json", "m.bullseye"}
    assert (audit["via"] == "cli").all() and (audit["owner"] == "local").all()
    row = pseudo[pseudo["file_name"] == "targets.csv"].iloc[0]
    assert row["rows"] == 500 and row["campaign"] == "Spring"
    assert row["file_sha256"] == hashlib.sha256((tmp_path / "pseudo" / "targets.csv").read_bytes()).hexdigest()


def test_the_same_key_gives_the_same_pseudonyms_across_runs_and_another_key_does_not(tmp_path):
    a, _ = _run(tmp_path / "a", tmp_path / "d1", "--pseudonymise", key="one-key-long-enough-1234")
    b, _ = _run(tmp_path / "b", tmp_path / "d2", "--pseudonymise", key="one-key-long-enough-1234")
    c, _ = _run(tmp_path / "c", tmp_path / "d1", "--pseudonymise", key="another-key-long-enough-9")
    assert list(a["id"]) == list(b["id"])
    assert not set(a["id"]) & set(c["id"])


def test_score_and_recommendations_are_pseudonymised_too(tmp_path):
    data, model = tmp_path / "data", tmp_path / "m.bullseye"
    trained, _ = _run(tmp_path / "run", data, "--pseudonymise", "--save-model", str(model))
    proc = cli("score", "--model", str(model), "--input", str(SAMPLES / "shop_customers.csv"), "--out",
               str(tmp_path / "score"), "--top", "100", "--pseudonymise", env=_env(data))
    assert proc.returncode == 0, proc.stderr
    assert not any(_leaks(tmp_path / "score").values())
    scored = pd.read_csv(tmp_path / "score" / "customers.csv", dtype=str)
    assert set(scored["id"]) == set(trained["id"])  # same key, same file: the lists join
    log = cli("run", "--input", str(SAMPLES / "shop_transactions.csv.gz"), "--out", str(tmp_path / "log"),
              "--transactions", "--recommend", "3", "--no-value", "--pseudonymise", env=_env(data))
    assert log.returncode == 0, log.stderr
    rec = pd.read_csv(tmp_path / "log" / "recommendations.csv", dtype=str)
    customers = pd.read_csv(tmp_path / "log" / "customers.csv", dtype=str)
    assert set(rec["id"]) <= set(customers["id"]) and rec["id"].str.fullmatch(r"[0-9a-f]{20}").all()


def test_an_unwritable_data_folder_is_a_clear_error_and_no_file_leaves_unlogged(tmp_path):
    data = tmp_path / "data"
    data.write_text("a file where the data folder should be")
    proc = cli("run", "--input", str(SAMPLES / "shop_customers.csv"), "--out", str(tmp_path / "out"), "--target",
               "responded", "--positive", "yes", env=_env(data))
    assert proc.returncode == 2 and "error:" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert "--data-dir" in proc.stderr
    assert not (tmp_path / "out" / "customers.csv").exists()
    proc = cli("run", "--input", str(SAMPLES / "shop_customers.csv"), "--out", str(tmp_path / "out"), "--pseudonymise",
               env=_env(data))
    assert proc.returncode == 2 and "pseudonymisation key" in proc.stderr and "Traceback" not in proc.stderr
