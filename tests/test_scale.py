"""Big files: `score --engine stream` (batches, flat memory) and `--engine dask` (a LocalCluster with 2
workers) give the same outputs as scoring the file whole."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lib.scale import streaming

from .conftest import SAMPLES
from .test_cli import _planted_campaign, assert_bad_input, cli

SHOP = SAMPLES / "shop_customers.csv"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A shop model with a date column (signup_date), so each part must count back from the file's latest date."""
    out = tmp_path_factory.mktemp("train")
    proc = cli("run", "--input", str(SHOP), "--out", str(out), "--target", "responded", "--segments", "4",
               "--save-model", str(out / "shop.bullseye"))
    assert proc.returncode == 0, proc.stderr
    assert "signup_date" in json.loads((out / "report.json").read_text())["model"]["features"]
    return out / "shop.bullseye"


def _score(model, path, out, *extra):
    proc = cli("score", "--model", str(model), "--input", str(path), "--out", str(out), "--top-pct", "10",
               "--control-pct", "20", *extra)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def whole(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("memory")
    _score(model, SHOP, out, "--engine", "memory")
    return out


def test_streaming_in_small_batches_writes_the_same_files_as_scoring_the_file_whole(model, whole, tmp_path):
    """Five batches of 1,000 rows: customers.csv and targets.csv are byte for byte the ones the whole file
    gives (ranks, deciles and the control draw are global; dates count back from the file's latest)."""
    proc = _score(model, SHOP, tmp_path, "--engine", "stream", "--batch-rows", "1000")
    assert (tmp_path / "customers.csv").read_bytes() == (whole / "customers.csv").read_bytes()
    assert (tmp_path / "targets.csv").read_bytes() == (whole / "targets.csv").read_bytes()
    a = json.loads((whole / "report.json").read_text())
    b = json.loads((tmp_path / "report.json").read_text())
    assert set(a) <= set(b)
    for key in ("rows", "customers", "id_column", "drift", "segments", "targeting", "model"):
        assert a[key] == b[key], key
    assert a["explain"]["top_features"] == b["explain"]["top_features"]
    assert b["engine"]["name"] == "stream" and b["engine"]["parts"] == 5
    # One progress line per batch on stderr: rows done, rows/s, time left.
    lines = [ln for ln in proc.stderr.splitlines() if "rows scored and explained" in ln]
    assert len(lines) == 5 and "rows/s" in lines[0] and "s left" in lines[0] and "5,000 rows" in lines[-1]
    assert not list(tmp_path.glob(".bullseye-parts-*"))  # the parked parts are cleaned up


def test_a_parquet_file_streams_to_the_same_scores_and_reasons(model, whole, tmp_path):
    frame = pd.read_csv(SHOP, dtype={"customer_id": str})
    frame["signup_date"] = pd.to_datetime(frame["signup_date"])
    frame.to_parquet(tmp_path / "shop.parquet", row_group_size=1500)
    _score(model, tmp_path / "shop.parquet", tmp_path / "out", "--engine", "stream", "--batch-rows", "1000",
           "--output-format", "parquet")
    a = pd.read_csv(whole / "customers.csv", dtype={"id": str}, keep_default_na=False)
    b = pd.read_parquet(tmp_path / "out" / "customers.parquet").reset_index(drop=True)
    assert len(list((tmp_path / "out" / "customers.parquet").glob("part-*.parquet"))) == 5
    assert (a["id"] == b["id"]).all() and np.abs(a["score"] - b["score"]).max() <= 1e-6
    assert (a["reason_1"] == b["reason_1"]).all() and (a["rank"] == b["rank"]).all()


def test_dask_on_a_local_cluster_of_two_workers_gives_the_same_files(model, whole, tmp_path):
    """--engine dask without --scheduler starts a LocalCluster; 2 workers score parts of the CSV (cut by
    bytes: 8 parts here) and the outputs are the whole-file ones."""
    import lib.scale.distributed as d

    source = streaming.open_source(SHOP)
    cuts = d.pieces(source, 60_000)
    assert len(cuts) >= 8
    # Every row is read exactly once, whatever the cut.
    rows = sum(len(d.read_piece(source, c, ["customer_id"])) for c in cuts)
    assert rows == 5000
    proc = cli("score", "--model", str(model), "--input", str(SHOP), "--out", str(tmp_path), "--top-pct", "10",
               "--control-pct", "20", "--engine", "dask", "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "customers.csv").read_bytes() == (whole / "customers.csv").read_bytes()
    assert (tmp_path / "targets.csv").read_bytes() == (whole / "targets.csv").read_bytes()
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["engine"]["name"] == "dask" and report["explain"]["method"] == "woodelf"
    assert "Dask: 2 worker(s)" in proc.stderr


def test_an_uplift_model_streams_to_the_same_uplift_and_list(tmp_path):
    _planted_campaign(tmp_path / "campaign.csv")
    model = tmp_path / "uplift.bullseye"
    proc = cli("run", "--input", str(tmp_path / "campaign.csv"), "--out", str(tmp_path / "run"), "--target",
               "converted", "--treatment", "group", "--save-model", str(model))
    assert proc.returncode == 0, proc.stderr
    for engine in ("memory", "stream"):
        _score(model, tmp_path / "campaign.csv", tmp_path / engine, "--engine", engine, "--batch-rows", "1000")
    for name in ("customers.csv", "targets.csv"):
        assert (tmp_path / "memory" / name).read_bytes() == (tmp_path / "stream" / name).read_bytes()
    assert "uplift" in pd.read_csv(tmp_path / "stream" / "targets.csv").columns


def test_quoted_line_breaks_and_messy_numbers_stream_like_the_whole_file(model, whole, tmp_path):
    """Cells with line breaks inside quotes, 'N/A' and thousands separators in number columns: the batch
    reader reads them by lib.data.io's rules, as the whole-file reader does."""
    frame = pd.read_csv(SHOP, dtype=str)
    frame.loc[::7, "name"] = "Line one\nline two"
    frame.loc[::11, "total_spend"] = "N/A"
    frame.loc[1::13, "total_spend"] = "1,234.50"
    frame.to_csv(tmp_path / "messy.csv", index=False)
    for engine in ("memory", "stream"):
        _score(model, tmp_path / "messy.csv", tmp_path / engine, "--engine", engine, "--batch-rows", "1000")
    assert (tmp_path / "memory" / "customers.csv").read_bytes() == (tmp_path / "stream" / "customers.csv").read_bytes()


def test_small_files_are_read_whole_by_default(model, tmp_path):
    _score(model, SHOP, tmp_path)
    assert json.loads((tmp_path / "report.json").read_text())["engine"]["name"] == "memory"


def test_a_file_missing_a_model_column_stops_the_stream_naming_it(model, tmp_path):
    pd.read_csv(SHOP).drop(columns=["web_visits_last_month"]).to_csv(tmp_path / "less.csv", index=False)
    proc = cli("score", "--model", str(model), "--input", str(tmp_path / "less.csv"), "--out", str(tmp_path / "o"),
               "--engine", "stream")
    assert_bad_input(proc, "'web_visits_last_month'")


def test_a_transaction_log_streams_by_rolling_it_up_in_parts(tmp_path):
    """A log model with --engine stream: the log is filed by customer into partitions and each is rolled up
    alone (never the whole log in memory); the outputs are the whole-log ones. A cluster cannot cut a log."""
    proc = cli("run", "--input", str(SAMPLES / "shop_transactions.csv.gz"), "--out", str(tmp_path / "run"),
               "--transactions", "--horizon", "60", "--no-value", "--save-model", str(tmp_path / "log.bullseye"))
    assert proc.returncode == 0, proc.stderr
    for engine in ("memory", "stream"):
        _score(tmp_path / "log.bullseye", SAMPLES / "shop_transactions.csv.gz", tmp_path / engine, "--engine", engine)
    for name in ("customers.csv", "targets.csv"):
        assert (tmp_path / "memory" / name).read_bytes() == (tmp_path / "stream" / name).read_bytes()
    report = json.loads((tmp_path / "stream" / "report.json").read_text())
    assert report["engine"]["log_rolled_up_in_parts"] and report["rows"] == 62106
    proc = cli("score", "--model", str(tmp_path / "log.bullseye"), "--input", str(SAMPLES / "shop_transactions.csv.gz"),
               "--out", str(tmp_path / "s"), "--engine", "dask")
    assert_bad_input(proc, "transaction log", "--engine stream")


def test_a_log_rolled_up_in_partitions_equals_the_log_rolled_up_whole(tmp_path):
    """Lines without a customer id are counted, not turned into a customer called 'nan'; the counts and
    features of every customer are those of the log rolled up whole."""
    from lib.data.features import customers_from_transactions
    from lib.data.io import load_table

    log = pd.read_csv(SAMPLES / "shop_transactions.csv.gz", dtype=str)
    log.loc[::50, log.columns[log.columns.str.contains("customer", case=False)][0]] = None
    log.to_csv(tmp_path / "log.csv", index=False)
    whole = customers_from_transactions(load_table(tmp_path / "log.csv").frame)
    parts = streaming.roll_up_log(streaming.open_source(tmp_path / "log.csv"), batch_rows=5000, partitions=7,
                                  say=lambda m: None)
    pd.testing.assert_frame_equal(parts.customers, whole.customers, check_dtype=False)
    assert (parts.lines_used, parts.lines_dropped_no_customer, parts.as_of) == \
        (whole.lines_used, whole.lines_dropped_no_customer, whole.as_of)
    assert whole.lines_dropped_no_customer > 1000 and parts.warnings == whole.warnings


def test_stray_future_lines_are_left_out_of_a_log_rolled_up_in_parts_as_of_one_read_whole(tmp_path):
    """Five lines dated 2031 in a 2021-2026 export: streamed, as in memory, they neither set the as-of date nor
    count, and are said once (lib.data.orders.plausible_end on the whole log's dates)."""
    from lib.data.features import customers_from_transactions
    from lib.data.io import load_table

    log = pd.read_csv(SAMPLES / "shop_transactions.csv.gz", dtype=str)
    stray = log.head(5).copy()
    stray["order_date"] = "2031-01-02"
    stray["order_id"] = [f"99999{i}" for i in range(5)]
    pd.concat([log.iloc[:30_000], stray, log.iloc[30_000:]]).to_csv(tmp_path / "log.csv", index=False)
    whole = customers_from_transactions(load_table(tmp_path / "log.csv").frame)
    parts = streaming.roll_up_log(streaming.open_source(tmp_path / "log.csv"), batch_rows=5000, partitions=7,
                                  say=lambda m: None)
    assert whole.as_of.year < 2030 and whole.lines_after_end == 5
    assert (parts.as_of, parts.lines_after_end, parts.lines_used) == (whole.as_of, 5, whole.lines_used)
    pd.testing.assert_frame_equal(parts.customers, whole.customers, check_dtype=False)
    assert sorted(parts.warnings) == sorted(whole.warnings)
    assert sum("plausible end" in w for w in parts.warnings) == 1


def test_big_training_files_train_on_a_stratified_sample_and_say_so(tmp_path):
    """--train-rows caps the rows the trees learn from (same share of positives); the holdout is whole."""
    proc = cli("run", "--input", str(SHOP), "--out", str(tmp_path / "cap"), "--target", "responded",
               "--train-rows", "1000")
    assert proc.returncode == 0, proc.stderr
    capped = json.loads((tmp_path / "cap" / "report.json").read_text())
    proc = cli("run", "--input", str(SHOP), "--out", str(tmp_path / "all"), "--target", "responded",
               "--train-rows", "0")
    assert proc.returncode == 0, proc.stderr
    full = json.loads((tmp_path / "all" / "report.json").read_text())
    assert capped["model"]["n_fit"] == 1000 and full["model"]["n_fit"] > 3000
    assert capped["model"]["n_holdout"] == full["model"]["n_holdout"] == 1000
    assert any("stratified sample of 1,000" in w for w in capped["warnings"])
    assert not any("stratified sample" in w for w in full["warnings"])
    assert_bad_input(cli("run", "--input", str(SHOP), "--out", str(tmp_path / "x"), "--target", "responded",
                         "--train-rows", "-5"), "--train-rows")


def test_explaining_in_batches_gives_the_same_values_and_reports_progress(shop_model, shop_loaded, monkeypatch):
    """The app explains a big file in batches to show progress; each row's SHAP is the same as in one go."""
    from lib.flow import pipeline, steps

    frame = shop_loaded.frame
    whole = pipeline.explain_scores(shop_model.model, frame)
    monkeypatch.setattr(steps, "EXPLAIN_BATCH_ROWS", 1500)  # where explain_scores reads it
    seen = []
    batched = pipeline.explain_scores(shop_model.model, frame, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1500, 5000), (3000, 5000), (4500, 5000), (5000, 5000)]
    assert np.abs(batched.values - whole.values).max() < 1e-6 and batched.base_value == pytest.approx(whole.base_value)
    assert streaming.progress_line(2000, 5000, 2.0) == "2,000 rows scored and explained, 1,000 rows/s, about 3 s left"


def test_the_score_page_shows_a_progress_bar_for_a_big_file(model, monkeypatch):
    from lib.flow import steps

    from .test_pages import new_app, no_errors

    monkeypatch.setattr(steps, "EXPLAIN_BATCH_ROWS", 2000)
    at = new_app()
    at.switch_page("pages/score.py").run()
    at.file_uploader(key="score_model").upload("shop.bullseye", model.read_bytes(), "application/zip").run()
    at.file_uploader(key="score_file").upload("shop.csv", SHOP.read_bytes(), "text/csv").run()
    [b for b in at.button if b.label == "Score this file"][0].click().run()
    no_errors(at)
    bar = at.get("progress")[0]
    assert bar.value == 100 and bar.text.startswith("5,000 rows scored and explained") and "rows/s" in bar.text


def test_a_streamed_file_is_pseudonymised_like_a_whole_one_and_audited(model, tmp_path, monkeypatch):
    """--pseudonymise with --engine stream: the same pseudonyms as the whole-file run (same key), no raw id
    in any output, and customers.csv is in the audit trail with the digest of the bytes on disk."""
    import hashlib

    from lib.act.campaigns import list_exports

    env = {**__import__("os").environ, "BULLSEYE_SECRET_KEY": "a-test-key-of-enough-length",
           "BULLSEYE_DATA_DIR": str(tmp_path / "data")}
    for engine in ("memory", "stream"):
        proc = cli("score", "--model", str(model), "--input", str(SHOP), "--out", str(tmp_path / engine),
                   "--top-pct", "10", "--engine", engine, "--batch-rows", "1000", "--pseudonymise", env=env)
        assert proc.returncode == 0, proc.stderr
    for name in ("customers.csv", "targets.csv"):
        assert (tmp_path / "memory" / name).read_bytes() == (tmp_path / "stream" / name).read_bytes()
    from .test_privacy import _leaks

    assert _leaks(tmp_path / "stream") == {"customers.csv": set(), "targets.csv": set(), "report.json": set()}
    trail = list_exports(tmp_path / "data")
    streamed = (tmp_path / "stream" / "customers.csv").read_bytes()
    assert hashlib.sha256(streamed).hexdigest() in set(trail["file_sha256"])
    assert trail[trail["file_name"] == "customers.csv"]["pseudonymised"].astype(bool).all()


def test_ranks_of_a_big_file_are_the_ranks_of_the_whole_file():
    """The lean int32/int8 ranks of the streaming engine equal lib.models.propensity.score_ranks (ties by row order)."""
    from lib.models.propensity import score_ranks

    scores = np.round(np.random.default_rng(0).random(10_007), 2)  # many ties
    rank, decile = streaming._ranks(scores)
    whole = score_ranks(scores)
    assert (rank == whole["rank"].to_numpy()).all() and (decile == whole["decile"].to_numpy()).all()


def test_dask_skips_and_counts_malformed_rows_like_the_stream_engine(model, tmp_path):
    """Rows with the wrong number of fields: both engines read CSV parts with the same options, skip the
    same rows and say how many (Dask used to skip them silently)."""
    lines = SHOP.read_text().splitlines()
    lines[10] += ",an extra field"
    lines[2500] += ",x,y"
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    reports = {}
    for engine in ("stream", "dask"):
        proc = cli("score", "--model", str(model), "--input", str(tmp_path / "bad.csv"), "--out", str(tmp_path / engine),
                   "--engine", engine, "--batch-rows", "1000", "--workers", "2")
        assert proc.returncode == 0, proc.stderr
        reports[engine] = json.loads((tmp_path / engine / "report.json").read_text())
        assert reports[engine]["customers"] == 4998
        assert any(w.startswith("2 row(s) with the wrong number of fields") for w in reports[engine]["warnings"])
    assert (tmp_path / "stream" / "customers.csv").read_bytes() == (tmp_path / "dask" / "customers.csv").read_bytes()


def test_segments_under_ten_customers_keep_only_their_size_in_every_engine(model, tmp_path):
    """The privacy rule of report.json (a segment of a handful of people is not described) holds for a
    file scored whole, streamed or on Dask: the report's segments are the same."""
    pd.read_csv(SHOP, dtype=str).head(30).to_csv(tmp_path / "few.csv", index=False)
    reports = {}
    for engine in ("memory", "stream", "dask"):
        proc = cli("score", "--model", str(model), "--input", str(tmp_path / "few.csv"), "--out", str(tmp_path / engine),
                   "--engine", engine, "--workers", "2")
        assert proc.returncode == 0, proc.stderr
        reports[engine] = json.loads((tmp_path / engine / "report.json").read_text())["segments"]
    small = [s for s in reports["memory"] if s["size"] < 10]
    assert small and all(s.get("hidden") and "description" not in s for s in small)
    assert reports["stream"] == reports["memory"] == reports["dask"]
