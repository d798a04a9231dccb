"""Bullseye from the command line, for automation.

    python -m lib.cli check --input FILE [--sep S] [--encoding E] [--sheet NAME]
    python -m lib.cli run --input FILE --out DIR [--target COL] [--positive V] [--id COL] ...
    python -m lib.cli run ... --save-model PATH      (also writes the model file)
    python -m lib.cli score --model PATH --input FILE --out DIR [--id COL] [--top N | --top-pct P] ...
    python -m lib.cli results --campaign NAME --input FILE [--data-dir DIR]
    run/score ... --pseudonymise    (every id replaced by a keyed pseudonym; no personal data written)

The CLI only maps its flags to the settings of ``lib.flow.pipeline``'s steps and writes their results.

Exit codes: 0 done; 2 bad input (one ``error:`` line on stderr saying what and what to do); 1 a bug.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from lib.errors import DataValidationError
from lib.text.i18n import DEFAULT_LANGUAGE, LANGUAGES, language, set_language, t

EXIT_OK, EXIT_BUG, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports mistakes as one ``error:`` line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message}. Run '{self.prog} --help' for usage.\n")
        raise SystemExit(EXIT_BAD_INPUT)


def _read_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", required=True, help="CSV/TSV/TXT, .gz, single-file .zip, .xlsx or .parquet")
    p.add_argument("--sep", help="delimiter (default: detected among , ; TAB |); 'tab' or '\\t' for TAB")
    p.add_argument("--encoding", help="text encoding (default: detected: UTF-8, GB18030, cp1252...)")
    p.add_argument("--sheet", help="Excel sheet name (default: the first sheet)")


def _lang_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lang", choices=list(LANGUAGES), default=DEFAULT_LANGUAGE,
                   help="language of the text in report.json, warnings, reasons and errors (keys and column "
                        "names stay English)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m lib.cli", description="Bullseye: segment, score, explain and target customers.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    check = sub.add_parser("check", help="print column roles and the data-quality report as JSON")
    _read_options(check)
    check.add_argument("--target", help="target column to check class balance and leakage for")
    check.add_argument("--positive", help="the target value that counts as positive")

    run = sub.add_parser("run", help="run the whole pipeline and write report.json, customers.csv, targets.csv")
    _read_options(run)
    run.add_argument("--out", required=True, help="output folder (created if missing)")
    run.add_argument("--target", help="column to predict (e.g. responded)")
    run.add_argument("--positive", help="the target value that counts as positive (default: yes/true/1...)")
    run.add_argument("--id", dest="id_col", help="customer id column (default: detected)")
    run.add_argument("--exclude", nargs="+", default=[], metavar="COL", help="columns never to use as features")
    run.add_argument("--allow", nargs="+", default=[], metavar="COL",
                     help="leakage suspects to keep as features anyway (only if known before the campaign)")
    run.add_argument("--segments", default="auto", help="'auto' (k by silhouette) or a number of segments")
    run.add_argument("--segment-method", choices=["kmeans", "rfm"], default="kmeans",
                     help="clustering (default) or RFM groups")
    _list_options(run)
    run.add_argument("--transactions", action="store_true", help="the input is an order-line log")
    run.add_argument("--no-transactions", action="store_true", help="a customer table, even if it looks like a log")
    run.add_argument("--customer-col")
    run.add_argument("--date-col")
    run.add_argument("--amount-col")
    run.add_argument("--cutoff", help="as-of date YYYY-MM-DD (transactions)")
    run.add_argument("--horizon", type=int, metavar="DAYS", help="label = bought again within DAYS after the cutoff")
    run.add_argument("--explain-method", choices=["auto", "woodelf", "xgboost"], default="auto")
    run.add_argument("--train-rows", type=int, default=None, metavar="N",
                     help="train the trees on a stratified sample of N rows when there are more (default 300000; "
                          "0 = every row). The holdout is never sampled.")
    run.add_argument("--campaign", help="record the target list as a campaign under this name")
    run.add_argument("--data-dir", help="where campaign history is kept (default ~/.bullseye)")
    run.add_argument("--save-model", metavar="PATH", help="write the trained model file (.bullseye) here")
    run.add_argument("--recommend", type=int, metavar="K", help="transactions: K product recommendations per customer")
    run.add_argument("--recommend-mode", choices=["all", "new"], default="all",
                     help="all: what they will buy next, own items included; new: only items never bought")
    run.add_argument("--forecast", metavar="NM|NW",
                     help="transactions: forecast the shop's net sales N months (3M) or weeks (8W) ahead: forecast.csv")
    run.add_argument("--no-value", action="store_true",
                     help="transactions: skip the customer value and churn-risk predictions")
    run.add_argument("--treatment", metavar="COL",
                     help="who got the campaign (sent/control): learn the uplift and target by it")
    run.add_argument("--treated-value", metavar="V", help="the treatment column's value for those who got it")
    run.add_argument("--learn-from", metavar="CAMPAIGN",
                     help="learn who a recorded campaign changed (its list, control group and --results) and "
                          "target by it, as the app's Campaigns page does")
    run.add_argument("--results", metavar="FILE", help="with --learn-from: the campaign's results file")
    run.add_argument("--results-outcome", metavar="COL",
                     help="with --learn-from: the results' responded column (default: detected)")
    _privacy_options(run)

    sc = sub.add_parser("score", help="score a new file with a saved model: customers.csv, targets.csv, report.json")
    sc.add_argument("--model", required=True, help="a model file written by run --save-model or the app")
    _read_options(sc)
    sc.add_argument("--out", required=True, help="output folder (created if missing)")
    sc.add_argument("--id", dest="id_col", help="customer id column (default: the training file's, else detected)")
    _list_options(sc)
    sc.add_argument("--explain-method", choices=["auto", "woodelf", "xgboost"], default="auto")
    sc.add_argument("--campaign", help="record the target list as a campaign under this name")
    sc.add_argument("--data-dir", help="where campaign history is kept (default ~/.bullseye)")
    sc.add_argument("--engine", choices=["auto", "memory", "stream", "dask"], default="auto",
                    help="memory: read the file whole; stream: in batches, flat memory (CSV/Parquet); dask: on a "
                         "Dask cluster; auto (default): stream files over 256 MB, else memory")
    sc.add_argument("--scheduler", metavar="ADDRESS",
                    help="dask: the cluster's scheduler (tcp://host:8786); default: a LocalCluster on this machine")
    sc.add_argument("--workers", type=int, metavar="N", help="dask LocalCluster: worker processes (default: cores)")
    sc.add_argument("--batch-rows", type=int, default=250_000, metavar="N", help="stream: rows per batch")
    sc.add_argument("--output-format", choices=["csv", "parquet"], default="csv",
                    help="stream/dask: customers.csv (default), or a customers.parquet folder of parts")
    _privacy_options(sc)

    res = sub.add_parser("results", help="measure a recorded campaign's lift from a results file")
    res.add_argument("--campaign", required=True)
    _read_options(res)
    res.add_argument("--id", dest="id_col", help="customer id column of the results file")
    res.add_argument("--outcome", help="responded/converted column (default: detected; none = every id responded)")
    res.add_argument("--revenue", help="revenue column")
    res.add_argument("--data-dir")
    for p in (check, run, sc, res):
        _lang_option(p)
    return parser


def _privacy_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pseudonymise", "--pseudonymize", action="store_true",
                   help="replace every customer id by a keyed pseudonym (HMAC-SHA256; key from BULLSEYE_SECRET_KEY, "
                        "else kept in the data folder) and write no personal data")


def _list_options(p: argparse.ArgumentParser) -> None:
    from lib.flow.listing import AUTO, RANK_BY

    size = p.add_mutually_exclusive_group()
    size.add_argument("--top", type=int, dest="top_n", metavar="N", help="target the N best-ranked customers")
    size.add_argument("--top-pct", type=float, metavar="P", help="target the best P percent")
    size.add_argument("--budget", type=float, metavar="B", help="target as many as B buys at --cost-per-contact")
    p.add_argument("--control-pct", type=float, default=0.0, metavar="P", help="hold out P%% of the list as control")
    p.add_argument("--rank-by", choices=[AUTO, *RANK_BY], default=AUTO,
                   help="order of the list: auto (default: uplift when an uplift model beats random, else score), "
                        "score, uplift, expected_profit (score x predicted value - cost) or uplift_value")
    p.add_argument("--cost-per-contact", type=float, default=1.0, metavar="C", help="cost of one contact (default 1)")
    p.add_argument("--value-per-conversion", type=float, default=0.0, metavar="V",
                   help="value of one response, for the list's expected profit (default: each customer's predicted "
                        "value where there is one)")
    p.add_argument("--seed", type=int, default=42)


def _load(args: argparse.Namespace):
    from lib.data.io import load_table

    return load_table(args.input, sep=args.sep, encoding=args.encoding, sheet=args.sheet)


def cmd_check(args: argparse.Namespace) -> int:
    from lib.flow import pipeline as p

    t0 = time.perf_counter()
    loaded = _load(args)
    und = p.understand(p.customers(loaded, p.CustomerSettings()),
                       p.UnderstandSettings(target=args.target, positive=args.positive))
    if und.target_problem:
        raise DataValidationError(und.target_problem)
    schema, quality = und.schema, und.quality
    out = {
        "file": loaded.source_name,
        "format": loaded.file_format,
        "encoding": loaded.encoding,
        "delimiter": loaded.delimiter,
        "decimal": loaded.decimal,
        "rows": len(loaded.frame),
        "columns": len(loaded.frame.columns),
        "roles": schema.roles,
        "role_reasons": schema.reasons,
        "target_candidates": list(schema.target_candidates),
        "positive_classes": schema.positive_classes,
        "excluded_features": schema.excluded(),
        "quality": quality.to_dict(),
        "target": und.target,
        "positive": und.positive,
        "warnings": list(loaded.warnings) + list(und.warnings),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    json.dump(out, sys.stdout, indent=2, default=_json_default, ensure_ascii=False)
    sys.stdout.write("\n")
    return EXIT_OK


def _list_spec(args: argparse.Namespace):
    """The list settings from --top/--top-pct/--budget/--control-pct/--seed, or None when no list was asked for."""
    from lib.act.targeting import ListSpec

    if args.top_n is not None and args.top_n < 0:
        raise DataValidationError(t("--top must be 0 or more."))
    if args.top_pct is not None and not 0 < args.top_pct <= 100:
        raise DataValidationError(t("--top-pct must be between 0 and 100."))
    if not 0 <= args.control_pct < 100:
        raise DataValidationError(t("--control-pct must be at least 0 and below 100."))
    if args.budget is not None and (args.budget < 0 or args.cost_per_contact <= 0):
        raise DataValidationError(t("--budget needs a budget of 0 or more and a --cost-per-contact above 0."))
    if args.top_n is None and args.top_pct is None and args.budget is None and not args.control_pct:
        return None
    return ListSpec(top_n=args.top_n, top_pct=args.top_pct, budget=args.budget, control_pct=args.control_pct,
                    cost_per_contact=args.cost_per_contact, value_per_conversion=args.value_per_conversion,
                    seed=args.seed)


def _out_dir(args: argparse.Namespace) -> Path:
    out_dir = Path(args.out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataValidationError(t("Cannot create output folder {folder}: {reason}.", folder=out_dir, reason=exc.strerror)) from None
    return out_dir


@dataclass(frozen=True)
class _Outputs:
    """What every output file passes through: personal-data columns left out, ids pseudonymised when
    asked (``key``), and a line in the audit trail for each file written."""

    key: bytes | None  # None: ids as they are
    roles: dict  # column -> role of the input, to know its personal-data columns
    redactions: dict  # raw id / personal value -> its stand-in in report.json (empty without a key)
    source_sha256: str
    campaign: str | None
    data_dir: str | None

    def table(self, path: Path, frame: pd.DataFrame, id_cols: tuple[str, ...] = ("id",)) -> None:
        from lib.act.targeting import to_csv_bytes
        from lib.data.privacy import protect

        safe = protect(frame, id_cols, self.roles, self.key)
        self.file(path, to_csv_bytes(safe.frame), list(safe.frame.columns), len(safe.frame))

    def file(self, path: Path, data: bytes, columns: list[str], rows: int) -> None:
        self.audit(path.name, data, columns, rows)  # logged first: no file leaves without its line in the trail
        path.write_bytes(data)

    def audit(self, name: str, data: bytes | None, columns: list[str], rows: int, sha256: str | None = None) -> None:
        import sqlite3

        from lib.act.campaigns import record_export
        from lib.data.privacy import LOCAL_USER

        try:
            record_export(name, data, columns, rows, self.key is not None, owner=LOCAL_USER, via="cli",
                          campaign=self.campaign, source_sha256=self.source_sha256, data_dir=self.data_dir,
                          file_sha256=sha256)
        except (sqlite3.Error, OSError) as exc:
            where = self.data_dir or "BULLSEYE_DATA_DIR (default ~/.bullseye)"
            raise DataValidationError(t("Cannot log {name} in the audit trail ({why}): give a writable data folder "
                                        "with --data-dir or BULLSEYE_DATA_DIR instead of {where}.", name=name,
                                        why=exc, where=where)) from None

    def ids(self, ids: pd.Series) -> np.ndarray | pd.Series:
        from lib.data.privacy import pseudonymise

        return ids if self.key is None else pseudonymise(ids, self.key)


def _outputs(args: argparse.Namespace, frame: pd.DataFrame, ids: np.ndarray, digest: str) -> _Outputs:
    """The output rules of this command: with --pseudonymise, the key and what report.json must not quote.
    ``frame``: the input (or its first rows, for a file read in parts)."""
    from lib.data import privacy
    from lib.data.schema import infer_schema

    # Roles from the first rows are enough to know the personal-data columns, and cost no time on a big file.
    roles = dict(infer_schema(frame.head(50_000)).roles) if len(frame.columns) else {}
    key = redactions = None
    if getattr(args, "pseudonymise", False):
        key = privacy.load_key(args.data_dir)
        personal = frame[privacy.personal_columns(roles)]
        redactions = privacy.report_redactions(ids, privacy.pseudonymise(ids, key), personal)
    return _Outputs(key, roles, redactions or {}, digest, getattr(args, "campaign", None), args.data_dir)


def _write_tables(out_dir: Path, table: pd.DataFrame | None, targets, args: argparse.Namespace, digest: str,
                  model_report: dict | None, outputs: _Outputs) -> None:
    """customers.csv (unless written already, part by part), and targets.csv when a list was asked for
    (recorded as a campaign when named)."""
    from lib.act.targeting import export_columns

    if table is not None:
        outputs.table(out_dir / "customers.csv", table)
    targets_path = out_dir / "targets.csv"
    if targets is None:
        if targets_path.exists():
            targets_path.unlink()  # a stale list from an earlier run must not pass for this one
        return
    outputs.table(targets_path, export_columns(targets.table, "id", []))
    if args.campaign:
        from lib.act.campaigns import record_campaign

        # A pseudonymised campaign keeps pseudonyms: results come back by them (or are pseudonymised to match).
        members = targets.table.assign(id=outputs.ids(targets.table["id"]))
        record_campaign(args.campaign, members, "id", digest, targets.spec.describe(), model_report,
                        args.data_dir, pseudonymised=outputs.key is not None)


def _write_report(out_dir: Path, report: dict, outputs: _Outputs) -> None:
    from lib.data.privacy import key_id, redact

    report = {**redact(report, outputs.redactions), "pseudonymised": outputs.key is not None}
    if outputs.key is not None:
        report["pseudonym_key_id"] = key_id(outputs.key)  # which key: the same id joins only under the same key
    text = json.dumps(report, indent=2, default=_json_default, ensure_ascii=False)
    outputs.file(out_dir / "report.json", text.encode("utf-8"), sorted(report), 1)


def _segments_setting(value: str) -> int | None:
    if str(value).lower() == "auto":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DataValidationError(t("--segments must be 'auto' or a whole number of segments (2-20); got '{value}'.", value=value)) from None


def _recommend_settings(args: argparse.Namespace):
    if args.recommend is None:
        return None
    if not args.transactions:
        raise DataValidationError(t("--recommend needs a transaction log: add --transactions (one row per order line, "
                                    "with a product column)."))
    if args.recommend < 1:
        raise DataValidationError(t("--recommend must be 1 or more products per customer."))
    from lib.models.recommend import RecommendSettings

    return RecommendSettings(k=args.recommend, mode=args.recommend_mode, seed=args.seed)


def _value_settings(args: argparse.Namespace):
    """A transaction log always gets value and churn-risk predictions (over --horizon days, default 90)."""
    if not args.transactions or args.no_value:
        return None
    from lib.models.value import ValueSettings

    return ValueSettings(horizon_days=args.horizon or 90, seed=args.seed)


def _uplift_settings(args: argparse.Namespace):
    if args.treatment is None:
        if args.treated_value is not None:
            raise DataValidationError(t("--treated-value goes with --treatment COL (the column saying who got the campaign)."))
        return None
    if not args.target:
        raise DataValidationError(t("--treatment needs --target: the outcome the campaign should change."))
    from lib.models.uplift import UpliftSettings

    return UpliftSettings(treatment=args.treatment, treated_value=args.treated_value, seed=args.seed)


def _campaign_outcomes(args: argparse.Namespace) -> pd.DataFrame | None:
    """--learn-from CAMPAIGN --results FILE: who the recorded campaign reached, and what each did."""
    if args.learn_from is None:
        if args.results is not None:
            raise DataValidationError(t("--results goes with --learn-from CAMPAIGN (the recorded campaign they belong to)."))
        return None
    if args.results is None or args.treatment is not None:
        raise DataValidationError(t("--learn-from needs --results FILE (what the campaign's customers did), and "
                                    "no --treatment (the uplift is learnt from the campaign, not from a column)."))
    from lib.act.campaigns import campaign_outcomes
    from lib.data.io import load_table

    results = load_table(args.results).frame
    return campaign_outcomes(args.learn_from, results, outcome_col=args.results_outcome, data_dir=args.data_dir)


def _write_forecast(out_dir: Path, market, outputs: _Outputs) -> None:
    """forecast.csv (shop-level sales, no customer rows), or no stale one from an earlier run."""
    from lib.act.targeting import to_csv_bytes

    if market is not None:
        return outputs.file(out_dir / "forecast.csv", to_csv_bytes(market.forecast.round(2)),
                            list(market.forecast.columns), len(market.forecast))
    (out_dir / "forecast.csv").unlink(missing_ok=True)


def cmd_run(args: argparse.Namespace) -> int:
    from lib.data.kind import recognise, rolls_up
    from lib.flow import pipeline as p
    from lib.flow.report import input_report, run_report
    from lib.models.forecast import parse_horizon

    t0 = time.perf_counter()
    spec = _list_spec(args)
    if args.train_rows is not None and args.train_rows < 0:
        raise DataValidationError(t("--train-rows must be 0 (every row) or more."))
    out_dir = _out_dir(args)
    t_load = time.perf_counter()
    loaded = _load(args)
    load_s = time.perf_counter() - t_load
    args.transactions = rolls_up(file_kind := recognise(loaded.frame), args.transactions, args.no_transactions)
    settings = p.RunSettings(
        customers=p.CustomerSettings(args.transactions, args.customer_col, args.date_col, args.amount_col,
                                     args.cutoff, args.horizon),
        understand=p.UnderstandSettings(target=args.target, positive=args.positive, id_col=args.id_col,
                                        exclude=tuple(args.exclude)),
        segment=p.SegmentSettings(method=args.segment_method, k=_segments_setting(args.segments), seed=args.seed),
        train=p.TrainSettings(allow=tuple(args.allow), seed=args.seed,
                              max_rows=p.TrainSettings.max_rows if args.train_rows is None else (args.train_rows or None)),
        explain_method=args.explain_method,
        target_list=spec,
        rank_by=args.rank_by,
        recommend=_recommend_settings(args),
        value=_value_settings(args),
        uplift=_uplift_settings(args),
        forecast=None if args.forecast is None else parse_horizon(args.forecast),  # a log's: see learn_more
    )
    no_model = t("--save-model needs a model: give --target (or --transactions with --horizon).")
    if args.save_model and not args.target and not (args.transactions and args.horizon):
        raise DataValidationError(no_model)
    result = p.run(loaded, settings, progress=lambda m: logging.getLogger("bullseye").info(m),
                   outcomes=_campaign_outcomes(args))
    if args.save_model and result.model is None:
        raise DataValidationError(no_model)
    t_write = time.perf_counter()
    model_report = model_id = None
    if result.model is not None:
        from lib.flow.model_file import model_id_of

        # Campaigns record which model scored them: the same id a saved model file carries.
        model_id = model_id_of(result.model.model)
        model_report = {**result.model.to_report(), "model_id": model_id}
    if args.save_model:
        from lib.flow.model_file import save

        source = {"file": loaded.source_name, "sha256": loaded.digest, "rows": result.customers.source_rows}
        bundle = p.model_bundle(result.customers, result.understanding, result.model, result.segmentation,
                                result.explanation, source, result.uplift)
        save(bundle, args.save_model)
    outputs = _outputs(args, loaded.frame, result.understanding.ids, loaded.digest)
    if args.save_model:  # the model file holds no customer rows, but it leaves Bullseye too
        outputs.audit(Path(args.save_model).name, Path(args.save_model).read_bytes(), [], 0)
    _write_tables(out_dir, result.table, result.targets, args, loaded.digest, model_report, outputs)
    rec_path = out_dir / "recommendations.csv"
    if result.recommendations is not None:
        outputs.table(rec_path, result.recommendations.table)
    elif rec_path.exists():
        rec_path.unlink()  # never leave another run's recommendations beside this run's report
    _write_forecast(out_dir, result.forecast, outputs)
    timings = {**result.timings, "load": load_s, "write": time.perf_counter() - t_write,
               "total": time.perf_counter() - t0}
    report = run_report(result, timings, model_id)
    if args.save_model:
        report["model_file"] = str(args.save_model)
    report["file_kind"] = file_kind.to_report()
    report["input"] = input_report(loaded.source_name, loaded.digest, loaded.encoding, loaded.delimiter,
                                   loaded.file_format)
    _write_report(out_dir, report, outputs)
    return EXIT_OK


def _engine(args: argparse.Namespace, bundle) -> str:
    """--engine auto: big CSV/Parquet files of customer-table models are read in batches."""
    from lib.scale import streaming

    if args.engine != "auto":
        return args.engine
    path = Path(args.input)
    big = path.is_file() and path.stat().st_size > streaming.STREAM_ABOVE_BYTES
    return "stream" if big and streaming.streamable(path) else "memory"


def _stderr(message: str) -> None:
    """Progress on stderr, one line per batch, so a long run shows it is alive."""
    sys.stderr.write(f"bullseye: {message}\n")
    sys.stderr.flush()


def _score_in_parts(args: argparse.Namespace, engine: str, bundle, t0: float) -> int:
    """``score`` with --engine stream or dask: customers.csv is written part by part."""
    import threading

    from lib.flow import model_file
    from lib.flow.report import input_report, scored_report
    from lib.scale import streaming

    if args.batch_rows < 1000:
        raise DataValidationError(t("--batch-rows must be at least 1000."))
    out_dir = _out_dir(args)
    spec = _list_spec(args)
    source = streaming.open_source(args.input, args.sep, args.encoding)
    digest: dict[str, str] = {}
    # The input's sha256 (for report.json and the campaign record) is read alongside the scoring.
    hasher = threading.Thread(target=lambda: digest.setdefault("sha256", streaming.file_sha256(args.input)))
    hasher.start()
    say = _stderr
    model_bytes = Path(args.model).read_bytes()
    # Personal-data columns and the ids report.json must not quote, judged on the first rows.
    head = next(streaming.batches(source, None, 50_000), pd.DataFrame())
    id_col = args.id_col or bundle.data.get("id_column")
    outputs = _outputs(args, head, head[id_col].astype("str").to_numpy() if id_col in head.columns else np.array([]),
                       "")
    ids = None if outputs.key is None else outputs.ids  # every part's ids are pseudonymised as it is written
    if engine == "dask":
        from lib.scale.distributed import score_dask

        result = score_dask(bundle, model_bytes, source, out_dir, args.id_col, spec, args.explain_method, args.rank_by,
                            scheduler=args.scheduler, workers=args.workers, say=say,
                            parquet=args.output_format == "parquet", ids=ids)
    else:
        result = streaming.score_stream(bundle, model_bytes, source, out_dir, args.id_col, spec, args.explain_method,
                                        args.rank_by,
                                        batch_rows=args.batch_rows, say=say, parquet=args.output_format == "parquet",
                                        ids=ids)
    hasher.join()
    outputs = replace(outputs, source_sha256=digest["sha256"])
    for written in result.written:
        outputs.audit(written.name, None, list(result.columns), result.rows, sha256=streaming.file_sha256(written))
    card = model_file.model_card(bundle)
    t_write = time.perf_counter()
    _write_tables(out_dir, None, result.targets, args, digest["sha256"], card, outputs)
    timings = {**result.timings, "write_targets": time.perf_counter() - t_write, "total": time.perf_counter() - t0}
    engine_facts = {"name": engine, "parts": result.parts,
                    "rows_per_s": round(result.rows / max(timings["total"], 1e-9)),
                    "scheduler": args.scheduler if engine == "dask" else None, "output_format": args.output_format}
    report = scored_report(bundle, rows=result.rows, columns=len(source.columns), customers=result.customers,
                           id_col=result.id_col, drift=result.drift, segments=result.segments,
                           explain=result.explain, targets=result.targets, ranking=result.ranking,
                           warnings=result.warnings, timings=timings, engine=engine_facts)
    report["input"] = input_report(Path(args.input).name, digest["sha256"], source.encoding, source.delimiter,
                                   source.file_format)
    _write_report(out_dir, report, outputs)
    return EXIT_OK


def cmd_score(args: argparse.Namespace) -> int:
    from lib.flow import model_file
    from lib.flow import pipeline as p
    from lib.flow.report import input_report, score_report

    t0 = time.perf_counter()
    bundle = model_file.load(args.model)
    engine = _engine(args, bundle)
    log_in_parts = engine == "stream" and bool(bundle.data.get("transactions"))
    if engine != "memory" and not log_in_parts:
        return _score_in_parts(args, engine, bundle, t0)
    spec = _list_spec(args)
    out_dir = _out_dir(args)
    t_load = time.perf_counter()
    cust = None
    if log_in_parts:  # a log is rolled up in parts; its customer table is then scored whole
        from lib.scale import streaming

        source = streaming.open_source(args.input, args.sep, args.encoding)
        loaded, cust = streaming.rolled_up_customers(bundle, source, streaming.file_sha256(args.input),
                                                     args.batch_rows, _stderr)
    else:
        loaded = _load(args)
    load_s = time.perf_counter() - t_load
    result = p.score_file(bundle, loaded, p.ScoreSettings(id_col=args.id_col, explain_method=args.explain_method,
                                                          target_list=spec, rank_by=args.rank_by),
                          progress=lambda m: logging.getLogger("bullseye").info(m), cust=cust)
    t_write = time.perf_counter()
    card = model_file.model_card(bundle)
    outputs = _outputs(args, result.new.customers.frame if log_in_parts else loaded.frame, result.new.ids,
                       loaded.digest)
    _write_tables(out_dir, result.table, result.targets, args, loaded.digest, card, outputs)
    timings = {**result.timings, "load": load_s, "write": time.perf_counter() - t_write,
               "total": time.perf_counter() - t0}
    engine_facts = {"name": "stream" if log_in_parts else "memory", "parts": 1,
                    **({"log_rolled_up_in_parts": True} if log_in_parts else {})}
    report = score_report(bundle, result, timings, engine_facts)
    report["input"] = input_report(loaded.source_name, loaded.digest, loaded.encoding, loaded.delimiter,
                                   loaded.file_format)
    _write_report(out_dir, report, outputs)
    return EXIT_OK


def cmd_results(args: argparse.Namespace) -> int:
    from lib.act.campaigns import measure_lift

    loaded = _load(args)
    lift = measure_lift(args.campaign, loaded.frame, args.id_col, args.outcome, args.revenue, args.data_dir)
    json.dump(lift.to_dict(), sys.stdout, indent=2, default=_json_default, ensure_ascii=language() == "en")
    sys.stdout.write("\n")
    return EXIT_OK


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if np.isnan(o) else float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, (pd.Timestamp,)):
        return o.isoformat()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    set_language(args.lang)
    handler = {"check": cmd_check, "run": cmd_run, "score": cmd_score, "results": cmd_results}[args.command]
    try:
        return handler(args)
    except DataValidationError as exc:
        sys.stderr.write("error: " + " ".join(str(exc).split()) + "\n")
        return EXIT_BAD_INPUT
    except MemoryError:
        sys.stderr.write("error: " + t("the file is too large for the memory of this machine; split it or drop columns.") + "\n")
        return EXIT_BAD_INPUT
    except Exception:  # a bug: keep the traceback for the developer, one line for the user
        error_id = uuid.uuid4().hex[:8]
        sys.stderr.write(traceback.format_exc())
        sys.stderr.write(f"error: internal error {error_id}; please report it with the traceback above.\n")
        return EXIT_BUG


if __name__ == "__main__":
    raise SystemExit(main())
