"""Reusing a model: what a saved model file holds (``model_bundle``), and a new file made ready for it
(``prepare_new``: its columns checked, drift measured, segments assigned, dates rebased).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from lib.data.io import LoadResult
from lib.data.schema import Schema, infer_schema
from lib.errors import DataValidationError
from lib.flow.drift import DriftReport, check_drift, reference_profile
from lib.flow.model_file import ModelBundle, model_id_of
from lib.flow.steps import Customers, CustomerSettings, Understanding, customer_ids, customers, pick_id_column
from lib.models.explain import Explanation
from lib.models.model import PropensityModel
from lib.models.propensity import PropensityResult
from lib.models.segment import (
    SegmentationResult,
)
from lib.text.i18n import t

# --- the model file -------------------------------------------------------------------------------


def training_card(cust: Customers, result: PropensityResult, explanation: Explanation | None, source: dict) -> dict:
    """What a person needs to trust a model later: target, training data, validation, metrics, drivers.
    ``source``: the training file's name, sha256 and rows."""
    return {
        "kind": "propensity",
        "target": result.target,
        "positive_class": result.positive,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training": {**source, "customers": len(cust.frame), "labelled_rows": result.n_train + result.n_holdout,
                     "positives": result.positives},
        "validation": result.validation,
        "out_of_time": cust.out_of_time,
        "metrics": {k: v for k, v in result.to_report().items()
                    if k in ("holdout_auc", "baseline_auc", "pr_auc", "brier", "lift_top_decile", "cv_auc",
                             "n_train", "n_holdout", "trees", "quality_gate", "quality_gate_reasons", "algorithm",
                             "refit_on_all_rows", "learner_verdict")},
        "learners": result.comparison.to_report() if result.comparison is not None else [],
        "features": list(result.features),
        "excluded_features": list(result.excluded_features),
        "top_drivers": explanation.top_features(5) if explanation is not None else [],
    }


def model_bundle(cust: Customers, und: Understanding, result: PropensityResult, seg: SegmentationResult | None,
                 explanation: Explanation | None, source: dict, uplift_result=None, risk_result=None) -> ModelBundle:
    """Everything a saved model needs to score and explain a new file, and to be trusted later; with an
    uplift model, its learners too (a new file then gets uplift, p_treated and p_control); with a risk
    check (``lib.models.risk.RiskResult``), its thresholds, so next month's file is judged by the same
    standard."""
    from lib.models.segment import segmentation_state

    model = result.model
    judged = cust.training if cust.training is not None else cust.frame
    card = training_card(cust, result, explanation, source)
    rollup = None
    if cust.rollup is not None:
        c = cust.rollup.columns
        rollup = {"customer_col": c.customer, "date_col": c.date, "amount_col": c.amount}
    data = {
        "id_column": und.id_col,
        "columns": [str(c) for c in cust.frame.columns],
        "roles": {c: und.schema.roles.get(c) for c in result.features},
        "transactions": cust.settings.transactions,
        "rollup": rollup,
    }
    if risk_result is not None:
        data["risk"] = risk_result.rules.to_dict()
    uplift_state = None
    if uplift_result is not None:
        r = uplift_result
        uplift_state = {"method": r.method, "treatment": r.treatment, "treated_value": r.treated_value,
                        "control_value": r.control_value, "target": r.target, "positive": r.positive,
                        "training": {k: v for k, v in r.to_report().items()
                                     if k in ("qini", "auuc", "ate", "ate_ci", "n_treated", "n_control", "verdict",
                                              "refit_on_all_rows", "refit_note")},
                        # ``score`` ranks a new file by uplift only when this model beat random, as ``run`` did.
                        "beats_random": bool(r.beats_random),
                        "learners": dict(r.learners)}
    return ModelBundle(model=model, card=card, data=data,
                       segmentation=segmentation_state(seg) if seg is not None else None,
                       drift=reference_profile(judged, model.column_specs), model_id=model_id_of(model),
                       uplift=uplift_state)


@dataclass(frozen=True)
class NewFile:
    """A new file made ready for a saved model: its customers, ids, drift check and segments."""

    customers: Customers
    ids: np.ndarray
    id_col: str | None
    model: PropensityModel  # the saved model with dates counted back from this file's latest dates
    drift: DriftReport
    segmentation: SegmentationResult | None
    warnings: tuple[str, ...]


def model_columns(bundle: ModelBundle) -> list[str]:
    """The columns a saved model reads from a new file: its features, the segments', the uplift learners'."""
    from lib.models.uplift import TREATED_FEATURE

    needed = list(bundle.model.features) + [c for c in (bundle.segmentation or {}).get("features", [])
                                            if c not in bundle.model.features]
    for learner in ((bundle.uplift or {}).get("learners") or {}).values():
        needed += [c for c in learner.features if c not in needed and c != TREATED_FEATURE]
    return needed


def check_model_columns(bundle: ModelBundle, columns) -> None:
    """Refuse a file that lacks a column the model reads, naming each one."""
    missing = [c for c in model_columns(bundle) if c not in columns]
    if missing:
        raise DataValidationError(
            t("The file lacks {what} the model needs: {items}. Export it with the same columns as the training file ({file}).",
              what=t("a column") if len(missing) == 1 else t("columns"), items=", ".join(repr(m) for m in missing),
              file=bundle.card["training"].get("file", t("the training file"))))


def prepare_new(bundle: ModelBundle, loaded: LoadResult, id_col: str | None = None,
                cust: Customers | None = None) -> NewFile:
    """Check a new file against the model: every model column present (else a clear error naming them),
    drift per column, ids, and each customer's segment from the training segmentation. ``cust``: the
    customers already made from the file (a log too big to read whole, rolled up in parts)."""
    from lib.models.segment import assign_segments

    data = bundle.data
    if cust is not None:
        pass
    elif data.get("transactions"):
        r = data.get("rollup") or {}
        cust = customers(loaded, CustomerSettings(True, r.get("customer_col"), r.get("date_col"), r.get("amount_col")))
    else:
        cust = customers(loaded, CustomerSettings())
    frame = cust.frame
    check_model_columns(bundle, frame.columns)
    if id_col is None and data.get("id_column") in frame.columns:
        id_col = data["id_column"]
    warnings = list(cust.warnings)
    # Roles are inferred only when neither the user nor the model names an id column present here.
    chosen = pick_id_column(frame, infer_schema(frame) if id_col is None else Schema({}, {}), id_col)
    ids = customer_ids(frame, chosen, warnings)
    ignored = {data.get("id_column")} | set(data.get("columns", []))
    drift = check_drift(bundle.drift, frame, bundle.model.column_specs, tuple(c for c in ignored if c))
    seg = assign_segments(bundle.segmentation, frame) if bundle.segmentation else None
    model = bundle.model.rebase_dates(frame)
    return NewFile(customers=cust, ids=ids, id_col=chosen, model=model, drift=drift, segmentation=seg,
                   warnings=tuple(warnings) + tuple(drift.warnings))


def saved_risk_rules(bundle: ModelBundle):
    """The risk thresholds a saved model carries (``lib.models.risk.RiskRules``), or None."""
    if not bundle.data.get("risk"):
        return None
    from lib.models.risk import RiskRules

    return RiskRules.from_dict(bundle.data["risk"])


def saved_uplift(bundle: ModelBundle, frame: pd.DataFrame) -> pd.DataFrame | None:
    """uplift, p_treated and p_control of a new file's customers under the saved uplift model (None when
    the file has none). The learners were saved as trained: dates count back from this file's snapshot."""
    if bundle.uplift is None:
        return None
    from lib.models.uplift import score_uplift

    learners = {k: m.rebase_dates(frame) for k, m in bundle.uplift["learners"].items()}
    return score_uplift(bundle.uplift["method"], learners, frame)
