"""report.json, built in one place for every command and engine: ``run``, and ``score`` in memory,
streamed or on Dask. Each step's result says what it has to say (its own ``to_report``); this module
only puts the parts together, so a key means the same thing whichever way the file was read.
"""

from __future__ import annotations

from collections.abc import Mapping

from lib.flow.listing import listing_report
from lib.flow.model_file import ModelBundle, model_card
from lib.flow.runs import RunResult, ScoreResult


def seconds(timings: Mapping[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in timings.items()}


def input_report(name: str, sha256: str, encoding: str | None, delimiter: str | None, file_format: str) -> dict:
    """Which file was read, and how: report.json's ``input``."""
    return {"file": name, "sha256": sha256, "encoding": encoding, "delimiter": delimiter, "format": file_format}


def loaded_input_report(loaded) -> dict:
    """``input_report`` of a file read whole (``lib.data.io.LoadResult``)."""
    return input_report(loaded.source_name, loaded.digest, loaded.encoding, loaded.delimiter, loaded.file_format)


def run_report(result: RunResult, timings: Mapping[str, float], model_id: str | None = None) -> dict:
    """report.json of ``run``: every step that ran, in the order they ran."""
    und, cust = result.understanding, result.customers
    rep = {
        "rows": cust.source_rows,
        "columns": cust.source_columns,
        "customers": int(len(result.table)),
        "id_column": und.id_col or "id",
        "roles": dict(und.schema.roles),
        "excluded_features": list(result.model.excluded_features) if result.model else und.schema.excluded(),
        "segmentation": None,
        "segments": [],
        "model": None,
        "explain": None,
        "targeting": None,
        "quality": {
            "problems": [p.message for p in und.quality.problems],
            "duplicate_rows": und.quality.duplicate_rows,
            "class_balance": und.quality.class_balance,
        },
        "timings_s": seconds(timings),
        "warnings": list(dict.fromkeys(result.warnings)),
    }
    if result.segmentation is not None:
        rep["segmentation"] = segmentation_report(result.segmentation)
        rep["segments"] = result.segmentation.to_report()
    if result.model is not None:
        rep["model"] = result.model.to_report()
        comparison = result.model.comparison
        rep["learners"] = comparison.to_report() if comparison is not None else []
        if cust.out_of_time:
            rep["model"]["out_of_time"] = cust.out_of_time
        if model_id is not None:  # campaigns record which model scored them: the id a saved model file carries
            rep["model"]["model_id"] = model_id
    if result.explanation is not None:
        rep["explain"] = result.explanation.to_report()
    if result.targets is not None:
        rep["targeting"] = listing_report(result.targets, result.ranking)
    for key, part in (("recommend", result.recommendations), ("value", result.value), ("uplift", result.uplift),
                      ("forecast", result.forecast), ("risk", result.risk)):
        if part is not None:
            rep[key] = part.to_report()
    return rep


def segmentation_report(s) -> dict:
    """How the segments were made (``SegmentationResult``): method, k and why, stability."""
    return {
        "method": s.method, "k": s.k, "features": list(s.features),
        "stability": None if s.stability is None else round(s.stability, 4),
        "silhouette_by_k": {str(k): round(v, 4) for k, v in s.silhouette_by_k.items()},
        "k_reason": s.k_reason,
        "k_table": None if s.k_table is None else s.k_table.round(4).to_dict("records"),
    }


def saved_uplift_report(bundle: ModelBundle) -> dict | None:
    """A saved uplift model as report.json shows it (its learners stay in the model file)."""
    return None if bundle.uplift is None else {k: v for k, v in bundle.uplift.items() if k != "learners"}


def scored_report(bundle: ModelBundle, *, rows: int, columns: int, customers: int, id_col: str | None, drift,
                  segments: list[dict], explain: dict, targets, ranking, warnings, timings: Mapping[str, float],
                  engine: dict) -> dict:
    """report.json of ``score``, whichever engine read the file: the model card, drift, the saved uplift
    model, segments (small ones hidden by the segments' own rule), explanations and the list."""
    return {
        "rows": rows,
        "columns": columns,
        "customers": customers,
        "id_column": id_col or "id",
        "model": model_card(bundle),
        "drift": drift.to_dict(),
        "uplift": saved_uplift_report(bundle),
        "segments": segments,
        "explain": explain,
        "targeting": listing_report(targets, ranking) if targets is not None else None,
        "warnings": list(dict.fromkeys(warnings)),
        "timings_s": seconds(timings),
        "engine": engine,
    }


def score_report(bundle: ModelBundle, result: ScoreResult, timings: Mapping[str, float], engine: dict) -> dict:
    """report.json of ``score`` on a file read whole (or a log rolled up in parts)."""
    new = result.new
    report = scored_report(
        bundle, rows=new.customers.source_rows, columns=new.customers.source_columns,
        customers=int(len(result.table)), id_col=new.id_col, drift=new.drift,
        segments=new.segmentation.to_report() if new.segmentation is not None else [],
        explain=result.explanation.to_report(), targets=result.targets, ranking=result.ranking,
        warnings=result.warnings, timings=timings, engine=engine)
    if result.risk is not None:
        report["risk"] = result.risk.to_report()
    return report
