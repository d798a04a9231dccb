"""The only module that knows Streamlit caching and session state for lib/ results.

Cache keys are the sha256 of the uploaded bytes plus the settings, never a DataFrame (Streamlit would
hash only a sample of a large frame). Heavy results live in ``st.cache_resource`` (one shared,
read-only copy per file+settings): they are never mutated, and a session only ever asks for the
digest of its own upload, so no session can reach another's data.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from lib.errors import DataValidationError
from lib.explain import Explanation, explain, reason_codes
from lib.features import CustomerTable, customers_from_transactions
from lib.io import DEFAULT_MAX_BYTES, LoadResult, file_digest, load_table
from lib.pipeline import REPURCHASE_TARGET, repurchase_training_frame
from lib.propensity import PropensityResult, score_new, score_ranks, train_propensity
from lib.quality import QualityReport, assess_quality
from lib.schema import Schema, ids_as_text, infer_schema
from lib.segment import SegmentationResult, rename_segments, segment_clusters, segment_rfm

log = logging.getLogger("bullseye.app")
ROOT = Path(__file__).resolve().parent.parent
SAMPLES = {
    "Synthetic shop: 5,000 customers with a response flag": ROOT / "sample_data" / "shop_customers.csv",
    "Synthetic shop: 62,000-line transaction log": ROOT / "sample_data" / "shop_transactions.csv.gz",
    "UCI Bank Marketing: 45,211 calls, did they subscribe?": ROOT / "sample_data" / "bank_marketing.csv.gz",
}


# --- errors ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def guarded(action: str = "this step"):
    """Show a user's mistake as a clear message, and a bug as an apology with an error id (the
    traceback goes to the log, never to the page)."""
    try:
        yield
    except DataValidationError as exc:
        st.error(str(exc))
        st.stop()
    except Exception:  # st.stop()/rerun are BaseExceptions and pass through untouched
        error_id = uuid.uuid4().hex[:8]
        log.exception("error %s during %s", error_id, action)
        st.error(
            f"Something went wrong during {action} (error id {error_id}). Your data is safe; try again, "
            "and if it happens again send us the error id."
        )
        st.stop()


def automatic_or(value) -> str:
    """Label for reading options where None means "detect it"."""
    from lib.io import DELIMITER_NAMES

    return "automatic" if value is None else DELIMITER_NAMES.get(value, str(value))


def setting(widget, label: str, key: str, default=None, **kwargs):
    """Draw ``widget`` whose value is a persistent setting ``key`` that survives page changes.

    Streamlit forgets a widget's value once a run does not draw it (i.e. on another page), so the
    widget gets its own key ("w_" + key) seeded from the setting, and its value is copied back.
    """
    wkey = "w_" + key
    if wkey not in st.session_state:
        if key in st.session_state:
            st.session_state[wkey] = st.session_state[key]
        elif default is not None:
            st.session_state[wkey] = default
    value = widget(label, key=wkey, **kwargs)
    st.session_state[key] = value
    return value


# --- the data -------------------------------------------------------------------------------------


def set_source(name: str, data: bytes) -> None:
    """Remember the user's file; settings from an earlier file are dropped."""
    digest = file_digest(data)
    current = st.session_state.get("source")
    if current and current["digest"] == digest and current["name"] == name:
        return
    for key in [k for k in st.session_state if k.startswith(("cfg_", "w_cfg_", "seg_", "model_", "tgt_"))]:
        del st.session_state[key]
    st.session_state["source"] = {"name": name, "data": data, "digest": digest}


def take_upload() -> None:
    """on_change of the uploader: a new upload replaces whatever was loaded before (a sample too)."""
    upload = st.session_state.get("uploader")
    if upload is not None:
        set_source(upload.name, upload.getvalue())


def source() -> dict | None:
    return st.session_state.get("source")


@st.cache_resource(show_spinner=False, max_entries=6)
def _load(digest: str, name: str, sep: str | None, encoding: str | None, sheet: str | None, _data: bytes) -> LoadResult:
    return load_table(_data, name, sep=sep, encoding=encoding, sheet=sheet, max_bytes=DEFAULT_MAX_BYTES)


def loaded() -> LoadResult | None:
    src = source()
    if src is None:
        return None
    return _load(src["digest"], src["name"], st.session_state.get("cfg_sep"), st.session_state.get("cfg_encoding"),
                 st.session_state.get("cfg_sheet"), src["data"])


@st.cache_resource(show_spinner=False, max_entries=6)
def _rollup(load_key: str, customer_col: str | None, date_col: str | None, amount_col: str | None,
            _frame: pd.DataFrame) -> CustomerTable:
    return customers_from_transactions(_frame, customer_col, date_col, amount_col)


@st.cache_resource(show_spinner=False, max_entries=12)
def _schema(key: tuple, _frame: pd.DataFrame) -> Schema:
    return infer_schema(_frame)


def is_transactions() -> bool:
    return bool(st.session_state.get("cfg_transactions", False))


def _load_key() -> str:
    """The file's digest plus how it was read: two readings of one file are two datasets."""
    src = source()
    opts = (st.session_state.get("cfg_sep"), st.session_state.get("cfg_encoding"), st.session_state.get("cfg_sheet"))
    return f"{src['digest']}|{opts}"


def rollup_columns() -> tuple[str | None, str | None, str | None]:
    """Customer, date and amount columns chosen for the roll-up (None = inferred)."""
    return (st.session_state.get("cfg_customer_col"), st.session_state.get("cfg_date_col"),
            st.session_state.get("cfg_amount_col"))


def customer_frame() -> tuple[pd.DataFrame, str] | None:
    """The table Bullseye analyses (the file itself, or its customer roll-up) and a key naming it."""
    lr = loaded()
    if lr is None:
        return None
    if is_transactions():
        table = _rollup(_load_key(), *rollup_columns(), _frame=lr.frame)
        return table.customers, f"{_load_key()}|rollup|{rollup_columns()}"
    return lr.frame, _load_key()


def rollup_table() -> CustomerTable | None:
    lr = loaded()
    if lr is None or not is_transactions():
        return None
    return _rollup(_load_key(), *rollup_columns(), _frame=lr.frame)


def schema() -> Schema | None:
    """Inferred roles with the user's overrides applied."""
    cf = customer_frame()
    if cf is None:
        return None
    frame, key = cf
    s = _schema((key,), _frame=frame)
    for col, role in st.session_state.get("cfg_roles", {}).items():
        if col in s.roles and s.roles[col] != role:
            s = s.with_role(col, role)
    return s


def roles_key() -> tuple:
    return tuple(sorted(st.session_state.get("cfg_roles", {}).items()))


@st.cache_resource(show_spinner=False, max_entries=12)
def _quality(key: tuple, _frame: pd.DataFrame, _schema: Schema, target: str | None, positive: str | None) -> QualityReport:
    return assess_quality(_frame, _schema, target, positive)


def quality() -> QualityReport | None:
    cf, s = customer_frame(), schema()
    if cf is None or s is None:
        return None
    target, positive = target_choice()
    return _quality((cf[1], roles_key(), target, positive), cf[0], s, target, positive)


def target_choice() -> tuple[str | None, str | None]:
    if repurchase_horizon() is not None:
        return REPURCHASE_TARGET, "yes"
    return st.session_state.get("cfg_target"), st.session_state.get("cfg_positive")


def id_column() -> str | None:
    cf, s = customer_frame(), schema()
    if cf is None or s is None:
        return None
    chosen = st.session_state.get("cfg_id")
    if chosen in cf[0].columns:
        return chosen
    if is_transactions():
        return "customer_id"
    return _unique_identifier((cf[1], roles_key()), cf[0], s)


@st.cache_resource(show_spinner=False, max_entries=12)
def _unique_identifier(key: tuple, _frame: pd.DataFrame, _schema: Schema) -> str | None:
    unique = [c for c in _schema.columns_with_role("identifier") if _frame[c].is_unique]
    return unique[0] if unique else None


def require_data() -> tuple[pd.DataFrame, Schema]:
    """Guard clause for every page after Upload."""
    with guarded("loading your file"):
        cf, s = customer_frame(), schema()
    if cf is None or s is None:
        st.info("Start by loading data on the **Upload** page (or try a sample there).")
        st.page_link("pages/upload.py", label="Go to Upload", icon=":material/upload:")
        st.stop()
    return cf[0], s


# --- segments -------------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False, max_entries=12)
def _segment(key: tuple, method: str, features: tuple[str, ...], k: int | None, seed: int,
             _frame: pd.DataFrame, _target: pd.Series | None) -> SegmentationResult:
    if method == "rfm":
        return segment_rfm(_frame, *features, target=_target)
    return segment_clusters(_frame, list(features), k=k, seed=seed, target=_target)


def run_segmentation(method: str, features: tuple[str, ...], k: int | None, seed: int) -> SegmentationResult:
    frame, _ = require_data()
    cf_key = customer_frame()[1]
    target_s = _target_series(frame)
    seg = _segment((cf_key, roles_key(), target_choice()), method, features, k, seed, frame, target_s)
    st.session_state["seg_params"] = (method, features, k, seed)
    return seg


def _target_series(frame: pd.DataFrame) -> pd.Series | None:
    target, positive = target_choice()
    if target and target in frame.columns:
        return _binary_target((customer_frame()[1], target, positive), frame)
    return None


@st.cache_resource(show_spinner=False, max_entries=12)
def _binary_target(key: tuple, _frame: pd.DataFrame) -> pd.Series | None:
    from lib.schema import binary_target

    _, target, positive = key
    try:
        return binary_target(_frame[target], positive, column=target)
    except DataValidationError:
        return None


def segmentation() -> SegmentationResult | None:
    """The current segmentation with the user's renames, or None if the user has not segmented yet."""
    params = st.session_state.get("seg_params")
    if params is None:
        return None
    seg = run_segmentation(*params)
    names = st.session_state.get("seg_names", {})
    return rename_segments(seg, names) if names else seg


# --- model ----------------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False, max_entries=8)
def _train(key: tuple, target: str, positive: str | None, features: tuple[str, ...], allow: tuple[str, ...],
           seed: int, _frame: pd.DataFrame, _schema: Schema, _leakage: list[dict] | None) -> PropensityResult:
    return train_propensity(_frame, _schema, target, positive, features=list(features), allow=list(allow), seed=seed,
                            leakage=_leakage)


@st.cache_resource(show_spinner=False, max_entries=8)
def _train_repurchase(key: tuple, horizon: int, features: tuple[str, ...], allow: tuple[str, ...], seed: int,
                      _raw: pd.DataFrame, _cols: tuple) -> PropensityResult:
    frame, split, _ = repurchase_training_frame(_raw, horizon, None, *_cols)
    schema = infer_schema(frame).with_role("customer_id", "identifier")
    return train_propensity(frame, schema, REPURCHASE_TARGET, "yes", features=list(features), allow=list(allow),
                            seed=seed, split=split, validation="out-of-time")


def repurchase_horizon() -> int | None:
    """Days of the "bought again within N days" target of a transaction log, or None."""
    h = st.session_state.get("cfg_horizon") or 0
    return int(h) if is_transactions() and h > 0 else None


def train_model(target: str, positive: str | None, features: tuple[str, ...], allow: tuple[str, ...], seed: int) -> PropensityResult:
    frame, s = require_data()
    key = (customer_frame()[1], roles_key())
    horizon = repurchase_horizon()
    if horizon is not None and target == REPURCHASE_TARGET:
        result = _train_repurchase(key, horizon, features, allow, seed, loaded().frame, rollup_columns())
    else:
        # The quality report already judged every column for leakage against this target: reuse it.
        leaks = list(quality().leakage_suspects) if (target, positive) == target_choice() else None
        result = _train(key, target, positive, features, allow, seed, frame, s, leaks)
    st.session_state["model_params"] = (target, positive, features, allow, seed)
    return result


def model() -> PropensityResult | None:
    params = st.session_state.get("model_params")
    if params is None:
        return None
    return train_model(*params)


@st.cache_resource(show_spinner=False, max_entries=8)
def _sorted_scores(key: tuple, _scores: np.ndarray) -> np.ndarray:
    return np.sort(_scores)[::-1]


def sorted_scores() -> np.ndarray:
    """Current scores, highest first (cached: profit curves re-plan on every input change)."""
    return _sorted_scores((customer_frame()[1], roles_key(), st.session_state["model_params"]), current_scores())


@st.cache_resource(show_spinner=False, max_entries=8)
def _current_scores(key: tuple, _model: PropensityResult, _frame: pd.DataFrame) -> np.ndarray:
    return score_new(_model, _frame)


def current_scores() -> np.ndarray | None:
    """The model's score for every customer on screen. A repurchase model was trained on past
    windows, so today's customers are scored afresh; otherwise the training run already scored them."""
    m = model()
    if m is None:
        return None
    frame, _ = require_data()
    if len(m.scores) == len(frame) and m.validation != "out-of-time":
        return m.scores
    return _current_scores((customer_frame()[1], roles_key(), st.session_state["model_params"]), m, frame)


@st.cache_resource(show_spinner=False, max_entries=8)
def _explain(key: tuple, _model: PropensityResult, _frame: pd.DataFrame) -> Explanation:
    return explain(_model, _frame)


def explanation() -> Explanation | None:
    m = model()
    if m is None:
        return None
    frame, _ = require_data()
    return _explain((customer_frame()[1], roles_key(), st.session_state["model_params"]), m, frame)


@st.cache_resource(show_spinner=False, max_entries=8)
def _reasons(key: tuple, actionable: tuple[str, ...] | None, _expl: Explanation, _frame: pd.DataFrame) -> pd.DataFrame:
    return reason_codes(_expl, _frame.reset_index(drop=True), actionable=list(actionable) if actionable else None)


def reasons() -> pd.DataFrame | None:
    expl = explanation()
    if expl is None:
        return None
    frame, _ = require_data()
    actionable = st.session_state.get("cfg_actionable")
    key = (customer_frame()[1], roles_key(), st.session_state["model_params"])
    return _reasons(key, tuple(actionable) if actionable else None, expl, frame)


@st.cache_resource(show_spinner=False, max_entries=8)
def _scored(key: tuple, _ids: pd.Series, _seg: SegmentationResult | None, _scores: np.ndarray | None,
            _reason_table: pd.DataFrame | None) -> pd.DataFrame:
    out = pd.DataFrame({"id": ids_as_text(_ids).to_numpy()})
    if _seg is not None:
        out["segment"] = _seg.labels
        out["segment_name"] = _seg.names().to_numpy()
    if _scores is not None:
        ranks = score_ranks(_scores)
        out["score"] = np.round(_scores, 6)
        out["rank"] = ranks["rank"].to_numpy()
        out["decile"] = ranks["decile"].to_numpy()
        if _reason_table is not None:
            for c in _reason_table.columns:
                out[c] = _reason_table[c].to_numpy()
    return out


def scored_customers() -> pd.DataFrame:
    """Every customer with id, segment, score, rank, decile and reasons, as far as they exist yet.
    Built once per file and settings (read-only): sliders on later pages do not rebuild 1M rows."""
    frame, _ = require_data()
    id_col = id_column()
    ids = frame[id_col] if id_col else pd.Series(np.arange(1, len(frame) + 1))
    seg = segmentation()
    scores = current_scores()
    r = reasons() if scores is not None else None
    key = (customer_frame()[1], roles_key(), id_col, st.session_state.get("seg_params"),
           tuple(sorted(st.session_state.get("seg_names", {}).items())), st.session_state.get("model_params"),
           tuple(st.session_state.get("cfg_actionable") or ()))
    return _scored(key, ids, seg, scores, r)


@st.cache_resource(show_spinner=False, max_entries=4)
def _list_base(key: tuple, _scored: pd.DataFrame, _frame: pd.DataFrame) -> pd.DataFrame:
    extra = _frame.reset_index(drop=True).drop(columns=[c for c in _scored.columns if c in _frame.columns])
    base = _scored.join(extra)
    if "score" in base.columns:
        # Best first: the list builder's stable sort then finds the order already in place (O(n)).
        base = base.iloc[np.argsort(-base["score"].to_numpy(), kind="stable")].reset_index(drop=True)
    return base


def list_base() -> pd.DataFrame:
    """Scored customers with all their columns: what a target list is filtered from (read-only)."""
    frame, _ = require_data()
    scored = scored_customers()
    return _list_base((customer_frame()[1], id(scored)), scored, frame)


@st.cache_resource(show_spinner=False, max_entries=8)
def _score_by_segment(key: tuple, _scores: np.ndarray, _names: np.ndarray):
    from lib import plots

    return plots.score_by_segment(_scores, _names)


def score_by_segment_chart(seg: SegmentationResult):
    key = (customer_frame()[1], roles_key(), st.session_state["model_params"], st.session_state.get("seg_params"),
           tuple(sorted(st.session_state.get("seg_names", {}).items())))
    return _score_by_segment(key, current_scores(), seg.names().to_numpy())


def next_step(page: str, label: str) -> None:
    st.divider()
    st.page_link(page, label=f"Next: {label}", icon=":material/arrow_forward:")
