"""The model file (``.bullseye``): train once, score next month's export, and know months later what the
model was trained on and how good it was.

A zip with two members and nothing else:
- ``booster.json``: the trees in XGBoost's own JSON format; or, when another learner was chosen,
  ``learner.skops``: the scikit-learn pipeline in skops' format (a JSON schema and numpy arrays, loaded
  only when every type it names is on ``lib.models.learners.TRUSTED_TYPES``; ONNX was the other safe
  choice, but it cannot carry our own frame encoder, so scores would need a second encoder kept in step);
- ``manifest.json``: everything else, as plain JSON: the model's columns with their kinds, category
  levels and date references; the calibration; the target and its positive class; the segmentation
  (so new customers get a segment); the training data's profile for the drift check; the holdout
  metrics and top drivers (the model card); the training file's digest, rows and date; the library
  versions; and the sha256 of ``booster.json``.
Never a serialised Python object (loading one runs code), never a customer row.

Loading refuses, each with a message saying what is wrong: a file that is not a zip or not ours, a
format version this Bullseye does not know, member names that would escape the folder, a file that
would unpack to an absurd size, and a booster whose digest does not match the manifest (a damaged or
edited file).
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import zipfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from lib.data.io.atomic import write_atomic
from lib.errors import DataValidationError
from lib.models.learners import LearnerModel
from lib.models.model import PropensityModel
from lib.models.uplift.learners import learner_from_state as uplift_learner_from_state
from lib.text.i18n import t

FORMAT = "bullseye-model"
FORMAT_VERSION = 1
SUFFIX = ".bullseye"
MAX_UNPACKED_BYTES = 512 * 1024 * 1024  # a model of 600 depth-4 trees is a few MB; 512 MB is no model
MAX_MEMBER_BYTES = 256 * 1024 * 1024
MEMBERS = ("manifest.json", "booster.json", "learner.skops")
UPLIFT_LEARNERS = ("treated", "control", "single", "tau_treated", "tau_control", "effect")  # uplift_<name>.json
UPLIFT_MEMBERS = tuple(f"uplift_{n}.json" for n in UPLIFT_LEARNERS)
_LIBRARIES = ("xgboost", "scikit-learn", "pandas", "numpy", "scipy", "woodelf-explainer")


@dataclass(frozen=True)
class ModelBundle:
    """A trained model and what it needs to score and explain a new file, and to be trusted later.

    ``card``: what a person reads (target, training data, metrics, drivers); ``data``: how a new file
    becomes the table the model scores (id column, roll-up settings for a transaction log, roles);
    ``segmentation``: the state that assigns new customers to the training segments (or None);
    ``drift``: the training profile of every model column."""

    model: PropensityModel | LearnerModel
    card: dict
    data: dict
    segmentation: dict | None
    drift: dict
    model_id: str  # sha256 of the model's content: the same trees and settings give the same id
    uplift: dict | None = None  # method, treatment, treated/control values, target, learners {name: model}

    @property
    def target(self) -> str:
        return self.card["target"]


def model_member(state: dict) -> str:
    """The zip member holding the model: XGBoost's trees, or a scikit-learn learner in skops format."""
    return "booster.json" if state.get("algorithm", "xgboost") == "xgboost" else "learner.skops"


def _model_from(state: dict, payload: bytes, name: str) -> PropensityModel | LearnerModel:
    if model_member(state) == "booster.json":
        return PropensityModel.from_state(state, payload)
    return LearnerModel.from_state(state, payload, name)


def model_id_of(model: PropensityModel | LearnerModel) -> str:
    state, booster = model.to_state()
    return _model_id(state, booster)


def _model_id(state: dict, booster: bytes) -> str:
    """The model's identity: its trees as stored and its settings. A file is checked against the bytes it
    holds, so a newer XGBoost (which writes its own version into fresh JSON) still reads an old file."""
    digest = hashlib.sha256(booster)
    digest.update(json.dumps(state, sort_keys=True).encode())
    return digest.hexdigest()


def _content_sha256(manifest: dict) -> str:
    """Checksum of everything in the manifest a person or the scorer relies on (all but the checksum)."""
    keys = ("model_id", "model", "card", "data", "segmentation", "drift")
    if manifest.get("uplift"):  # files saved before uplift models existed keep their checksum
        keys += ("files", "uplift")
    parts = {k: manifest.get(k) for k in keys}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def library_versions() -> dict[str, str]:
    import xgboost

    out = {"python": platform.python_version(), "xgboost": xgboost.__version__}
    for name in _LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def to_bytes(bundle: ModelBundle) -> bytes:
    """The model file's bytes (a zip; the same bundle gives the same bytes but for ``saved_at``)."""
    state, booster = bundle.model.to_state()
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_id": bundle.model_id,
        "libraries": library_versions(),
        "files": {model_member(state): hashlib.sha256(booster).hexdigest()},
        "model": state,
        "card": bundle.card,
        "data": bundle.data,
        "segmentation": bundle.segmentation,
        "drift": bundle.drift,
    }
    members = [(model_member(state), booster)]
    if bundle.uplift is not None:
        learners = {}
        for learner, model in bundle.uplift["learners"].items():
            l_state, l_booster = model.to_state()
            file = f"uplift_{learner}.json"
            learners[learner] = {"state": l_state, "file": file}
            manifest["files"][file] = hashlib.sha256(l_booster).hexdigest()
            members.append((file, l_booster))
        manifest["uplift"] = {**{k: v for k, v in bundle.uplift.items() if k != "learners"}, "learners": learners}
    manifest = json.loads(json.dumps(manifest, default=_plain))  # exactly what a reader will see
    manifest["content_sha256"] = _content_sha256(manifest)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, payload in [("manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8")),
                              *members]:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # fixed: no clock in the bytes
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, payload)
    return buf.getvalue()


def _plain(o):
    """numpy and pandas values as plain JSON."""
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def save(bundle: ModelBundle, path: str | Path) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, to_bytes(bundle))  # whole or not at all: an older model file stays until then
    except OSError as exc:
        raise DataValidationError(t("Cannot write the model file {path}: {strerror}.", path=path, strerror=exc.strerror)) from None
    return path


def load(source: str | Path | bytes, name: str | None = None) -> ModelBundle:
    """Read a model file (a path or its bytes), checking that it is ours and intact."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = name or path.name
        if not path.is_file():
            raise DataValidationError(t("Model file not found: {path} (give the path of a .bullseye file).", path=path))
        data = path.read_bytes()
    else:
        data, name = source, name or t("the model file")
    try:
        manifest, booster, uplift_trees = _read_members(data, name)
    except (zipfile.BadZipFile, zlib.error, OSError, RuntimeError, NotImplementedError, EOFError):
        raise DataValidationError(t("{name} is damaged (its zip cannot be read). Save the model again.", name=name)) from None
    changed = (t("{name} has been changed since it was saved (its content does not match its checksum): refused. Use the file as Bullseye saved it.", name=name))
    member = model_member(manifest.get("model") or {}) if isinstance(manifest.get("model"), dict) else "booster.json"
    if hashlib.sha256(booster).hexdigest() != (manifest.get("files") or {}).get(member):
        raise DataValidationError(changed)
    if manifest.get("content_sha256") != _content_sha256(manifest):
        raise DataValidationError(changed)
    try:
        if _model_id(manifest["model"], booster) != manifest["model_id"]:
            raise DataValidationError(changed)
        model = _model_from(manifest["model"], booster, name)
        uplift = None
        if manifest.get("uplift"):
            uplift = dict(manifest["uplift"])
            for file, trees in uplift_trees.items():
                if hashlib.sha256(trees).hexdigest() != manifest["files"].get(file):
                    raise DataValidationError(changed)
            uplift["learners"] = {k: uplift_learner_from_state(v["state"], uplift_trees[v["file"]])
                                  for k, v in uplift["learners"].items()}
        bundle = ModelBundle(model=model, card=dict(manifest["card"]), data=dict(manifest["data"]),
                             segmentation=manifest.get("segmentation"), drift=dict(manifest["drift"]),
                             model_id=str(manifest["model_id"]), uplift=uplift)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        if isinstance(exc, DataValidationError):
            raise
        raise DataValidationError(t("{name}: its manifest lacks or garbles '{exc}'; the file is damaged.", name=name, exc=exc)) from None
    return bundle


def _read_members(data: bytes, name: str) -> tuple[dict, bytes, dict[str, bytes]]:
    not_ours = (t("{name} is not a Bullseye model file. Save one with the Save model button or `run --save-model` and use that file.", name=name))
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise DataValidationError(not_ours)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        infos = z.infolist()
        for info in infos:
            parts = Path(info.filename).parts
            if info.filename.startswith(("/", "\\")) or ".." in parts or ":" in info.filename:
                raise DataValidationError(t("{name} holds a path outside itself ('{filename}'): refused.", name=name, filename=info.filename))
        if sum(i.file_size for i in infos) > MAX_UNPACKED_BYTES or any(i.file_size > MAX_MEMBER_BYTES for i in infos):
            raise DataValidationError(t("{name} would unpack to more than {most} MB: refused; no Bullseye model is that large.", name=name, most=MAX_UNPACKED_BYTES >> 20))
        names = [i.filename for i in infos]
        if "manifest.json" not in names:
            raise DataValidationError(not_ours)
        extra = [n for n in names if n not in MEMBERS + UPLIFT_MEMBERS]
        if extra:
            raise DataValidationError(t("{name} holds files a Bullseye model file does not ({items}): refused.", name=name, items=', '.join(extra[:3])))
        try:
            manifest = json.loads(z.read("manifest.json").decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise DataValidationError(t("{name}: its manifest is not readable JSON; the file is damaged.", name=name)) from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise DataValidationError(not_ours)
        found = manifest.get("format_version")
        if not isinstance(found, int) or found > FORMAT_VERSION or found < 1:
            raise DataValidationError(
                t("{name} is a Bullseye model file of format version {found}; this Bullseye reads version {ours}. Update Bullseye, or retrain the model here.", name=name, found=found, ours=FORMAT_VERSION))
        model = manifest.get("model")
        member = model_member(model) if isinstance(model, dict) else "booster.json"
        if member not in names:
            raise DataValidationError(t("{name} has no model ({member} is missing); the file is damaged.", name=name, member=member))
        uplift = {n: z.read(n) for n in names if n in UPLIFT_MEMBERS}
        return manifest, z.read(member), uplift

def model_card(bundle: ModelBundle) -> dict:
    """What the model is, flat, for report.json and campaign records: target, training data, quality."""
    return flat_card(bundle.card, bundle.model_id)


def flat_card(c: dict, model_id: str) -> dict:
    """A model's card (``lib.flow.pipeline.training_card``) as one flat dict."""
    training, metrics = c.get("training", {}), c.get("metrics", {})
    return {
        "model_id": model_id,
        "kind": c.get("kind", "propensity"),
        "target": c.get("target"),
        "positive_class": c.get("positive_class"),
        "trained_at": c.get("trained_at"),
        "training_file": training.get("file"),
        "training_sha256": training.get("sha256"),
        "training_rows": training.get("rows"),
        "training_customers": training.get("customers"),
        "validation": c.get("validation"),
        "holdout_auc": metrics.get("holdout_auc"),
        "baseline_auc": metrics.get("baseline_auc"),
        "pr_auc": metrics.get("pr_auc"),
        "lift_top_decile": metrics.get("lift_top_decile"),
        "quality_gate": metrics.get("quality_gate"),
        "algorithm": metrics.get("algorithm", "xgboost"),
        "refit_on_all_rows": bool(metrics.get("refit_on_all_rows", False)),
        "learner_verdict": metrics.get("learner_verdict"),
        "quality_gate_reasons": metrics.get("quality_gate_reasons", []),
        "top_drivers": c.get("top_drivers", []),
        "features": c.get("features", []),
    }


def _learner_line(card: dict) -> str:
    """Which learner scores, and whether its scores come from the model measured or a refit of it."""
    name = card.get("algorithm") or "xgboost"
    if card.get("refit_on_all_rows"):
        return t("{name}; the metrics above are from validation, then it was refitted on every labelled row "
                 "to score", name=name)
    return t("{name}; the metrics above are those of this very model, fitted on the training rows", name=name)


def card_lines(card: dict) -> list[tuple[str, str]]:
    """The model card in words, for a person: (what, says) pairs."""
    from lib.models.explain import pretty_name

    rows = card.get("training_rows")
    file = card.get("training_file") or t("a file")
    customers = card.get("training_customers") or 0
    date = str(card.get("trained_at") or "")[:10]
    trained_on = (t("{file} ({rows:,} rows, {customers:,} customers), {date}", file=file, rows=rows, customers=customers,
                    date=date) if isinstance(rows, int)
                  else t("{file} (, {customers:,} customers), {date}", file=file, customers=customers, date=date))
    lines = [
        (t("Predicts"), f"{card['target']} = {card['positive_class']}"),
        (t("Trained on"), trained_on),
        (t("How good"), t("holdout AUC {auc} against {baseline} for the simple baseline ({validation})",
                          auc=card.get("holdout_auc"), baseline=card.get("baseline_auc"),
                          validation=t(str(card.get("validation"))))),  # i18n: a validation code ("stratified holdout"/"out-of-time"), both in the catalogue
        (t("Learner"), _learner_line(card)),
        (t("Quality gate"), t("passed") if card.get("quality_gate") == "passed"
         else t("failed: {reasons}", reasons=" ".join(card.get("quality_gate_reasons") or []))),
        (t("Top drivers"), t(", ").join(pretty_name(f) for f in card.get("top_drivers") or []) or t("not recorded")),
        (t("Model id"), str(card.get("model_id", ""))[:12]),
    ]
    return lines
