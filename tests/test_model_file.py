"""The model file: train once, save, score another file in a fresh process; refuse what is not ours."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from lib.data.io import load_table
from lib.errors import DataValidationError
from lib.flow import model_file
from lib.flow.pipeline import RunSettings, SegmentSettings, UnderstandSettings, model_bundle, run

from .conftest import SAMPLES
from .test_cli import assert_bad_input, cli


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """`run --save-model` on the shop sample, in a fresh process."""
    out = tmp_path_factory.mktemp("run")
    proc = cli("run", "--input", str(SAMPLES / "shop_customers.csv"), "--out", str(out), "--target", "responded",
               "--segments", "4", "--save-model", str(out / "shop.bullseye"))
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def bundle_bytes(saved):
    return (saved / "shop.bullseye").read_bytes()


def test_scoring_the_training_file_in_a_fresh_process_gives_the_same_scores_reasons_and_segments(saved, tmp_path):
    proc = cli("score", "--model", str(saved / "shop.bullseye"), "--input", str(SAMPLES / "shop_customers.csv"),
               "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    trained = pd.read_csv(saved / "customers.csv", dtype={"id": str})
    scored = pd.read_csv(tmp_path / "customers.csv", dtype={"id": str})
    assert list(scored.columns) == list(trained.columns)
    assert (scored["id"] == trained["id"]).all()
    assert np.abs(scored["score"] - trained["score"]).max() <= 1e-6
    assert (scored[["rank", "decile", "segment", "segment_name"]] == trained[["rank", "decile", "segment",
                                                                              "segment_name"]]).all().all()
    assert (scored[["reason_1", "reason_2", "reason_3"]].fillna("") == trained[["reason_1", "reason_2",
                                                                               "reason_3"]].fillna("")).all().all()
    report = json.loads((tmp_path / "report.json").read_text())
    assert {"rows", "model", "drift", "warnings", "timings_s"} <= set(report)
    card = report["model"]
    assert card["target"] == "responded" and card["positive_class"] == "yes"
    assert card["training_rows"] == 5000 and card["holdout_auc"] > 0.7 and card["trained_at"]
    assert card["training_file"] == "shop_customers.csv" and len(card["training_sha256"]) == 64
    assert set(card["top_drivers"]) >= {"email_opens_90d", "web_visits_last_month"}
    assert report["drift"]["warnings"] == []  # the same file has not moved


def test_a_new_file_gets_a_drift_warning_per_column_and_is_still_scored(saved, tmp_path):
    frame = pd.read_csv(SAMPLES / "shop_customers.csv")
    rng = np.random.default_rng(0)
    new = frame.sample(3000, random_state=1).reset_index(drop=True)
    new["region"] = np.where(rng.random(len(new)) < 0.3, "Atlantis", new["region"])  # a region never seen
    new["total_spend"] = new["total_spend"] * 5  # the distribution moved
    new.loc[rng.random(len(new)) < 0.5, "web_visits_last_month"] = np.nan  # half missing now
    new["loyalty_tier"] = "gold"  # a column the model does not know
    path = tmp_path / "next_month.csv"
    new.to_csv(path, index=False)
    proc = cli("score", "--model", str(saved / "shop.bullseye"), "--input", str(path), "--out", str(tmp_path / "o"),
               "--top", "300", "--control-pct", "10")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    kinds = {(w["column"], w["kind"]) for w in report["drift"]["warnings"]}
    assert {("region", "new_categories"), ("total_spend", "shifted"), ("web_visits_last_month", "missing_up"),
            ("loyalty_tier", "extra_column")} <= kinds
    assert not {c for c, _ in kinds} & {"age", "email_opens_90d"}  # unchanged columns raise nothing
    assert "Atlantis" in " ".join(report["warnings"])
    assert len(pd.read_csv(tmp_path / "o" / "customers.csv")) == 3000
    targets = pd.read_csv(tmp_path / "o" / "targets.csv")
    assert targets["group"].value_counts().to_dict() == {"target": 270, "control": 30}


def test_a_missing_model_column_exits_2_naming_it(saved, tmp_path):
    frame = pd.read_csv(SAMPLES / "shop_customers.csv").drop(columns=["email_opens_90d"])
    path = tmp_path / "short.csv"
    frame.to_csv(path, index=False)
    proc = cli("score", "--model", str(saved / "shop.bullseye"), "--input", str(path), "--out", str(tmp_path / "o"))
    assert_bad_input(proc, "email_opens_90d", "lacks")


def _rezip(data: bytes, change) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members = change(members)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, payload in members.items():
            z.writestr(name, payload)
    return buf.getvalue()


def _edit_manifest(data: bytes, edit) -> bytes:
    def change(m):
        manifest = json.loads(m["manifest.json"])
        edit(manifest)
        return {**m, "manifest.json": json.dumps(manifest).encode()}

    return _rezip(data, change)


def test_an_intact_file_loads(bundle_bytes):
    bundle = model_file.load(bundle_bytes, "shop.bullseye")
    assert bundle.target == "responded" and bundle.segmentation is not None
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(bundle_bytes)).read("manifest.json"))
    assert manifest["format"] == "bullseye-model" and manifest["format_version"] == 1
    assert {"xgboost", "scikit-learn", "pandas", "python"} <= set(manifest["libraries"])
    assert {c["name"] for c in manifest["model"]["columns"]} == set(bundle.model.features)
    assert zipfile.ZipFile(io.BytesIO(bundle_bytes)).namelist() == ["manifest.json", "booster.json"]


def test_no_customer_row_is_in_the_model_file(bundle_bytes):
    text = b"".join(zipfile.ZipFile(io.BytesIO(bundle_bytes)).read(n) for n in ("manifest.json", "booster.json"))
    frame = pd.read_csv(SAMPLES / "shop_customers.csv", dtype=str)
    for col in ("email", "name"):
        assert not any(v.encode() in text for v in frame[col].head(500)), col
    assert not any(f'"{v}"'.encode() in text for v in frame["customer_id"].head(500))


@pytest.mark.parametrize("case,words", [
    ("not a zip", "not a Bullseye model file"),
    ("foreign zip", "not a Bullseye model file"),
    ("tampered trees", "changed since it was saved"),
    ("tampered settings", "changed since it was saved"),
    ("newer format", "format version 99"),
    ("escaping path", "outside itself"),
    ("extra member", "holds files a Bullseye model file does not"),
    ("damaged zip", "damaged"),
    ("edited card", "changed since it was saved"),
    ("absurd size", "unpack to more than"),
])
def test_a_tampered_or_foreign_file_is_refused_with_a_clear_message(bundle_bytes, case, words, monkeypatch):
    monkeypatch.setattr(model_file, "MAX_UNPACKED_BYTES", 4 * 1024 * 1024)  # a small bomb shows the rule
    def bigger_trees(m):
        trees = json.loads(m["booster.json"])
        trees["learner"]["gradient_booster"]["model"]["trees"][0]["split_conditions"][0] += 1.0
        return {**m, "booster.json": json.dumps(trees).encode()}

    def bomb() -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("manifest.json", b"{}")
            z.writestr("padding.bin", b"\0" * (5 * 1024 * 1024))
        return buf.getvalue()

    def escaping(m):
        return {**m, "../../evil.txt": b"x"}

    def damaged() -> bytes:
        raw = bytearray(bundle_bytes)
        at = raw.index(b"booster.json", 40) + 200  # inside the compressed trees
        raw[at] ^= 0xFF
        return bytes(raw)

    data = {
        "not a zip": lambda: b"just some text, not a model",
        "foreign zip": lambda: _rezip(bundle_bytes, lambda m: {"readme.txt": b"hello"}),
        "tampered trees": lambda: _rezip(bundle_bytes, bigger_trees),
        "tampered settings": lambda: _edit_manifest(bundle_bytes, lambda m: m["model"]["platt"].__setitem__(0, 9.0)),
        "newer format": lambda: _edit_manifest(bundle_bytes, lambda m: m.__setitem__("format_version", 99)),
        "escaping path": lambda: _rezip(bundle_bytes, escaping),
        "absurd size": bomb,
        "extra member": lambda: _rezip(bundle_bytes, lambda m: {**m, "notes.txt": b"hello"}),
        "damaged zip": damaged,
        "edited card": lambda: _edit_manifest(bundle_bytes, lambda m: m["card"]["metrics"].__setitem__("holdout_auc", 0.99)),
    }[case]()
    with pytest.raises(DataValidationError, match=words):
        model_file.load(data, "suspicious.bullseye")


def test_score_refuses_a_foreign_model_file_with_exit_2(tmp_path):
    fake = tmp_path / "fake.bullseye"
    fake.write_bytes(b"PK not really")
    proc = cli("score", "--model", str(fake), "--input", str(SAMPLES / "shop_customers.csv"), "--out", str(tmp_path))
    assert_bad_input(proc, "not a Bullseye model file")


def test_a_transaction_log_model_scores_next_months_log(tmp_path):
    """A repurchase model rolls the new log up with the saved columns and scores every customer."""
    out = tmp_path / "run"
    proc = cli("run", "--input", str(SAMPLES / "shop_transactions.csv.gz"), "--out", str(out), "--transactions",
               "--horizon", "60", "--save-model", str(tmp_path / "log.bullseye"))
    assert proc.returncode == 0, proc.stderr
    proc = cli("score", "--model", str(tmp_path / "log.bullseye"), "--input",
               str(SAMPLES / "shop_transactions.csv.gz"), "--out", str(tmp_path / "score"))
    assert proc.returncode == 0, proc.stderr
    a = pd.read_csv(out / "customers.csv", dtype={"id": str})
    b = pd.read_csv(tmp_path / "score" / "customers.csv", dtype={"id": str})
    assert len(b) == 5000 and np.abs(a["score"] - b["score"]).max() <= 1e-6
    assert json.loads((tmp_path / "score" / "report.json").read_text())["model"]["validation"] == "out-of-time"


def test_dates_count_back_from_the_new_files_own_snapshot(shop_loaded):
    """A model with a date column, scored on the same customers one month later (every date moved by 30
    days): "days before the snapshot" is unchanged, so the scores are too."""
    frame = shop_loaded.frame.copy()
    frame["last_order"] = pd.Timestamp("2024-06-30") - pd.to_timedelta(frame["recency_days"], unit="D")
    result = run(load_table(_csv(frame), "with_dates.csv"),
                 RunSettings(understand=UnderstandSettings(target="responded", exclude=("recency_days",)),
                             segment=SegmentSettings(k=3)))
    assert "last_order" in result.model.features
    bundle = model_file.load(model_file.to_bytes(model_bundle(
        result.customers, result.understanding, result.model, result.segmentation, result.explanation,
        {"file": "with_dates.csv"})))
    later = frame.assign(last_order=frame["last_order"] + pd.Timedelta(days=30))
    moved = bundle.model.rebase_dates(later).predict_proba(later)[:, 1]
    assert np.abs(moved - result.model.scores).max() < 1e-9
    stale = bundle.model.predict_proba(later)[:, 1]  # without rebasing, everyone looks 30 days more lapsed
    assert np.abs(stale - result.model.scores).max() > 1e-3


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def test_an_uplift_model_is_saved_and_scores_a_new_file_like_at_training(tmp_path):
    """run --treatment --save-model keeps the uplift learners; score gives the same uplift (1e-6), ranks the list
    by it, and a file with edited learner trees is refused."""
    from .test_cli import _planted_campaign

    _planted_campaign(tmp_path / "campaign.csv")
    model = tmp_path / "uplift.bullseye"
    proc = cli("run", "--input", str(tmp_path / "campaign.csv"), "--out", str(tmp_path / "run"), "--target",
               "converted", "--treatment", "group", "--top-pct", "20", "--save-model", str(model))
    assert proc.returncode == 0, proc.stderr
    next_month = pd.read_csv(tmp_path / "campaign.csv").drop(columns=["group", "converted"])  # not known yet
    next_month.to_csv(tmp_path / "next.csv", index=False)
    proc = cli("score", "--model", str(model), "--input", str(tmp_path / "next.csv"), "--out", str(tmp_path / "s"),
               "--top-pct", "20")
    assert proc.returncode == 0, proc.stderr
    trained = pd.read_csv(tmp_path / "run" / "customers.csv")
    scored = pd.read_csv(tmp_path / "s" / "customers.csv")
    assert np.abs(trained["uplift"] - scored["uplift"]).max() <= 1e-6
    assert (pd.read_csv(tmp_path / "run" / "targets.csv")["id"] == pd.read_csv(tmp_path / "s" / "targets.csv")["id"]).all()
    report = json.loads((tmp_path / "s" / "report.json").read_text())
    assert report["uplift"]["treatment"] == "group" and report["uplift"]["training"]["qini"] > 0.05
    names = zipfile.ZipFile(model).namelist()
    learner = next(n for n in names if n.startswith("uplift_"))

    def edit(members):
        trees = json.loads(members[learner])
        trees["learner"]["gradient_booster"]["model"]["trees"][0]["split_conditions"][0] += 1.0
        return {**members, learner: json.dumps(trees).encode()}

    with pytest.raises(DataValidationError, match="changed since it was saved"):
        model_file.load(_rezip(model.read_bytes(), edit), "edited.bullseye")


def test_a_model_file_saved_before_uplift_models_existed_still_loads(bundle_bytes):
    """Files written before the checksum covered uplift learners keep loading (format version 1)."""
    def old_style(m):
        keys = ("model_id", "model", "card", "data", "segmentation", "drift")
        m["content_sha256"] = hashlib.sha256(json.dumps({k: m.get(k) for k in keys}, sort_keys=True,
                                                        ensure_ascii=False).encode()).hexdigest()

    assert model_file.load(_edit_manifest(bundle_bytes, old_style), "old.bullseye").target == "responded"
