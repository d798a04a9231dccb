"""The commands: check, run, score (in memory, streamed or on Dask) and results."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from lib.cli.outputs import (
    _audiences,
    _campaign,
    _deliver,
    _json_default,
    _out_dir,
    _outputs,
    _stderr,
    _write_forecast,
    _write_risk,
    _write_tables,
)
from lib.cli.parser import EXIT_OK
from lib.cli.settings import (
    _campaign_outcomes,
    _list_spec,
    _load,
    _recommend_settings,
    _risk_settings,
    _score_risk_settings,
    _segments_setting,
    _uplift_settings,
    _value_settings,
)
from lib.errors import DataValidationError
from lib.text.i18n import language, t


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


def cmd_run(args: argparse.Namespace) -> int:
    _list_spec(args)
    _audiences(args)  # refused before hours of training, not after
    if args.train_rows is not None and args.train_rows < 0:
        raise DataValidationError(t("--train-rows must be 0 (every row) or more."))
    with _out_dir(args) as folder:
        return _run_into(args, folder)


def _settings(args: argparse.Namespace):
    from lib.flow import pipeline as p
    from lib.models.forecast import parse_horizon

    spec = _list_spec(args)
    settings = p.RunSettings(
        customers=p.CustomerSettings(args.transactions, args.customer_col, args.date_col, args.amount_col,
                                     args.cutoff, args.horizon, as_of=args.as_of),
        understand=p.UnderstandSettings(target=args.target, positive=args.positive, id_col=args.id_col,
                                        exclude=tuple(args.exclude)),
        segment=p.SegmentSettings(method=args.segment_method, k=_segments_setting(args.segments), seed=args.seed),
        train=p.TrainSettings(allow=tuple(args.allow), seed=args.seed, learners=args.learners,
                              max_rows=p.TrainSettings.max_rows if args.train_rows is None else (args.train_rows or None)),
        explain_method=args.explain_method,
        target_list=spec,
        rank_by=args.rank_by,
        recommend=_recommend_settings(args),
        value=_value_settings(args),
        uplift=_uplift_settings(args),
        forecast=None if args.forecast is None else parse_horizon(args.forecast),  # a log's: see learn_more
        risk=_risk_settings(args),
    )
    if args.exclude_risky and spec is not None:
        settings = replace(settings, target_list=replace(spec, exclude_risky=True))
    return settings


def _run_into(args: argparse.Namespace, folder) -> int:
    from lib.data.kind import recognise, rolls_up
    from lib.flow import pipeline as p
    from lib.flow.report import loaded_input_report, run_report

    t0 = time.perf_counter()
    if args.save_model:
        folder.probe(args.save_model)  # an unwritable model folder fails now, not after the training
    loaded = _load(args)
    load_s = time.perf_counter() - t0
    file_kind = recognise(loaded.frame)
    args.transactions = rolls_up(file_kind, args.transactions, args.no_transactions)  # read by the checks below
    no_model = t("--save-model needs a model: give --target (or --transactions with --horizon).")
    if args.save_model and not args.target and not (args.transactions and args.horizon):
        raise DataValidationError(no_model)
    result = p.run(loaded, _settings(args), progress=lambda m: logging.getLogger("bullseye").info(m),
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
    audiences = _audiences(args, result.targets, result.customers.frame, result.understanding.ids,
                           dict(result.understanding.schema.roles))
    outputs = _outputs(args, loaded.frame, result.understanding.ids, loaded.digest, folder)
    if args.save_model:
        from lib.flow.model_file import to_bytes

        source = {"file": loaded.source_name, "sha256": loaded.digest, "rows": result.customers.source_rows}
        model_bytes = to_bytes(p.model_bundle(result.customers, result.understanding, result.model,
                                              result.segmentation, result.explanation, source, result.uplift,
                                              result.risk))
        outputs.audit(Path(args.save_model).name, model_bytes, [], 0)  # no customer rows, but it leaves Bullseye
        folder.also(args.save_model, model_bytes)  # lands with the other outputs, or not at all
    _write_tables(result.table, result.targets, outputs)
    if result.recommendations is not None:
        outputs.table(Path("recommendations.csv"), result.recommendations.table)
    _write_forecast(result.forecast, outputs)
    _write_risk(result.risk, outputs)
    timings = {**result.timings, "load": load_s, "write": time.perf_counter() - t_write,
               "total": time.perf_counter() - t0}
    report = run_report(result, timings, model_id)
    if args.save_model:
        report["model_file"] = str(args.save_model)
    report["file_kind"] = file_kind.to_report()
    return _finish(report, loaded_input_report(loaded), audiences, outputs,
                   _campaign(args, result.targets, loaded.digest, model_report, outputs))


def _engine(args: argparse.Namespace, bundle) -> str:
    """--engine auto: big CSV/Parquet files of customer-table models are read in batches."""
    from lib.scale import streaming

    if args.engine != "auto":
        return args.engine
    path = Path(args.input)
    big = path.is_file() and path.stat().st_size > streaming.STREAM_ABOVE_BYTES
    return "stream" if big and streaming.streamable(path) else "memory"


def _score_in_parts(args: argparse.Namespace, engine: str, bundle, t0: float) -> int:
    """``score`` with --engine stream or dask: customers.csv is written part by part."""
    if args.batch_rows < 1000:
        raise DataValidationError(t("--batch-rows must be at least 1000."))
    if _audiences(args) or args.audience:
        raise DataValidationError(t("--audience reads the contacts of the whole file: use --engine memory."))
    with _out_dir(args) as folder:
        return _score_parts_into(args, engine, bundle, t0, folder)


def _score_parts_into(args: argparse.Namespace, engine: str, bundle, t0: float, folder) -> int:
    import threading

    from lib.flow import model_file
    from lib.flow.report import input_report, scored_report
    from lib.scale import streaming

    spec = _list_spec(args)
    out_dir = folder.path("")  # customers.csv is written there part by part, and lands with the rest
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
                       "", folder)
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
    _write_tables(None, result.targets, outputs)
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
    _deliver(report, outputs, _campaign(args, result.targets, digest["sha256"], card, outputs))
    return EXIT_OK


def cmd_score(args: argparse.Namespace) -> int:
    from lib.flow import model_file

    t0 = time.perf_counter()
    bundle = model_file.load(args.model)
    engine = _engine(args, bundle)
    log_in_parts = engine == "stream" and bool(bundle.data.get("transactions"))
    if engine != "memory" and not log_in_parts:
        return _score_in_parts(args, engine, bundle, t0)
    _audiences(args)
    with _out_dir(args) as folder:
        return _score_into(args, bundle, log_in_parts, t0, folder)


def _score_into(args: argparse.Namespace, bundle, log_in_parts: bool, t0: float, folder) -> int:
    from lib.flow import model_file
    from lib.flow import pipeline as p
    from lib.flow.report import loaded_input_report, score_report

    spec = _list_spec(args)
    risk_settings = _score_risk_settings(args, bundle)
    if args.exclude_risky and spec is not None:
        spec = replace(spec, exclude_risky=True)
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
                                                          target_list=spec, rank_by=args.rank_by, risk=risk_settings),
                          progress=lambda m: logging.getLogger("bullseye").info(m), cust=cust)
    t_write = time.perf_counter()
    card = model_file.model_card(bundle)
    outputs = _outputs(args, result.new.customers.frame if log_in_parts else loaded.frame, result.new.ids,
                       loaded.digest, folder)
    audiences = _audiences(args, result.targets, result.new.customers.frame, result.new.ids, outputs.roles)
    _write_tables(result.table, result.targets, outputs)
    _write_risk(result.risk, outputs)
    timings = {**result.timings, "load": load_s, "write": time.perf_counter() - t_write,
               "total": time.perf_counter() - t0}
    engine_facts = {"name": "stream" if log_in_parts else "memory", "parts": 1,
                    **({"log_rolled_up_in_parts": True} if log_in_parts else {})}
    report = score_report(bundle, result, timings, engine_facts)
    return _finish(report, loaded_input_report(loaded), audiences, outputs,
                   _campaign(args, result.targets, loaded.digest, card, outputs))


def cmd_results(args: argparse.Namespace) -> int:
    from lib.act.campaigns import measure_lift

    loaded = _load(args)
    lift = measure_lift(args.campaign, loaded.frame, args.id_col, args.outcome, args.revenue, args.data_dir)
    json.dump(lift.to_dict(), sys.stdout, indent=2, default=_json_default, ensure_ascii=language() == "en")
    sys.stdout.write("\n")
    return EXIT_OK


def _finish(report: dict, source: dict, audiences, outputs, record=None) -> int:
    """The input's facts and the audience files in report.json, then every output delivered at once,
    report.json last (``record``: the campaign, recorded just before)."""
    from lib.act.audiences import write_audiences

    report["input"] = source
    if written := write_audiences(audiences, outputs.file):
        report["audiences"] = written
    _deliver(report, outputs, record)
    return EXIT_OK
