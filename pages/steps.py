"""Streamlit caching of ``lib.flow.pipeline``'s steps, one cached wrapper per step (this module: the file the
user trained on, from reading it to the model; ``pages.scored``: scores, explanations and lists).

Each step's cache key is built by ``key``: the key of the steps it depends on plus its own settings
(frozen dataclasses, so their repr is the settings). The chain starts at the sha256 of the uploaded
bytes: never a DataFrame (Streamlit would hash only a sample of a large one), never ``id()`` of an
object. Results live in ``st.cache_resource`` (one shared, read-only copy per file + settings): they are
never mutated, and a session only asks for the digest of its own upload, so no session reaches
another's data. Results holding words from ``lib/`` (warnings, segment names, reasons) are keyed by
``words_key`` (key + language); the chain stays language-free, so steps holding only numbers (SHAP,
scores) serve both languages and a language switch re-runs only the steps that write words, once.
"""

from __future__ import annotations

import contextvars
import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from lib.data.io import DEFAULT_MAX_BYTES, LoadResult, load_table
from lib.data.kind import FileKind, recognise
from lib.data.schema import Schema, infer_schema
from lib.flow import model_file
from lib.flow import pipeline as p
from lib.flow.gate import heavy_jobs
from lib.models.explain import Explanation
from lib.models.model import PropensityModel
from lib.models.propensity import PropensityResult
from lib.models.segment import SegmentationResult, rename_segments
from lib.text.i18n import language, t, using
from pages import state


def key(*parts) -> str:
    """One cache key for a step: its inputs' keys and its own settings."""
    return hashlib.sha256("|".join(map(repr, parts)).encode()).hexdigest()[:32]


def words_key(k: str) -> str:
    """The key of a step whose result holds words: its own key plus the language they are written in."""
    return key(k, language())


def queue_note():
    """A callback for the heavy-job gate that says on the page how many jobs are ahead (a placeholder
    made here, outside the cached step, and emptied when the job starts)."""
    note = st.empty()

    def draw(ahead: int) -> None:
        if ahead:
            note.info(t("Queued behind {n} other job(s) on this server: this step starts as soon as one "
                        "finishes.", n=ahead), icon=":material/hourglass_top:")
        else:
            note.empty()

    def on_wait(ahead: int) -> None:
        # Called inside the cached step: Streamlit records what a cached function draws, to replay it on
        # a cache hit, and refuses a placeholder made outside it. The note is about this wait only, so
        # it is drawn as if outside the cached step (a copy of the context with that flag off).
        from streamlit.runtime.caching.cached_message_replay import in_cached_function

        def outside() -> None:
            in_cached_function.set(False)
            draw(ahead)

        contextvars.copy_context().run(outside)

    return on_wait


def heavy(label: str, wait=None):
    """Run a heavy step (training, SHAP, uplift, value) through the process's gate: one at a time per
    session, and no more at once than the cores allow (lib.flow.gate). Used inside the cached steps, so
    a result already computed never queues."""
    return heavy_jobs().hold(state.session_id(), label, wait)


# --- the trained file -----------------------------------------------------------------------------


@st.cache_resource(show_spinner=False, max_entries=6)
def _load(k: str, name: str, sep, encoding, sheet, _data: bytes) -> LoadResult:
    return load_table(_data, name, sep=sep, encoding=encoding, sheet=sheet, max_bytes=DEFAULT_MAX_BYTES)


def load_key() -> str | None:
    src = state.source()
    return None if src is None else key(src["digest"], state.read_settings())


def loaded() -> LoadResult | None:
    src = state.source()
    if src is None:
        return None
    return _load(words_key(load_key()), src["name"], *state.read_settings(), _data=src["data"])


@st.cache_resource(show_spinner=False, max_entries=6)
def _file_kind(k: str, _loaded: LoadResult) -> FileKind:
    return recognise(_loaded.frame)


def file_kind() -> FileKind:
    """What the file is (an order-line log, a customer table, campaign results): the switch's default."""
    return _file_kind(words_key(load_key()), loaded())


@st.cache_resource(show_spinner=False, max_entries=6)
def _customers(k: str, settings: p.CustomerSettings, _loaded: LoadResult) -> p.Customers:
    return p.customers(_loaded, settings)


def customers_key() -> str:
    return key(load_key(), state.customer_settings())


def customers() -> p.Customers | None:
    lr = loaded()
    return None if lr is None else _customers(words_key(customers_key()), state.customer_settings(), lr)


@st.cache_resource(show_spinner=False, max_entries=6)
def _infer_roles(k: str, _cust: p.Customers) -> Schema:
    return p.infer_roles(_cust)


def inferred_roles() -> Schema:
    return _infer_roles(words_key(customers_key()), customers())


@st.cache_resource(show_spinner=False, max_entries=12)
def _understand(k: str, settings: p.UnderstandSettings, _cust: p.Customers, _inferred: Schema) -> p.Understanding:
    return p.understand(_cust, settings, _inferred)


def understand_settings() -> p.UnderstandSettings:
    """The user's settings with "auto" resolved, so choosing what "auto" picked does not recompute."""
    return p.resolve(state.understand_settings(), customers(), inferred_roles())


def understanding_key() -> str:
    return key(customers_key(), understand_settings())


def understanding() -> p.Understanding | None:
    cust = customers()
    if cust is None:
        return None
    return _understand(words_key(understanding_key()), understand_settings(), cust, inferred_roles())


@st.cache_resource(show_spinner=False, max_entries=12)
def _segment(k: str, settings: p.SegmentSettings, _cust: p.Customers, _und: p.Understanding) -> SegmentationResult:
    return p.segment(_cust, _und, settings)


@st.cache_resource(show_spinner=False, max_entries=12)
def _rename(k: str, names: tuple, _seg: SegmentationResult) -> SegmentationResult:
    return rename_segments(_seg, dict(names))


def segmentation_key(settings: p.SegmentSettings | None = None) -> str:
    return key(understanding_key(), settings or state.segment_settings())


def run_segmentation(settings: p.SegmentSettings) -> SegmentationResult:
    return _segment(words_key(segmentation_key(settings)), settings, customers(), understanding())


def segmentation() -> SegmentationResult | None:
    """The segmentation the user asked for, with their names, or None before they asked."""
    settings = state.segment_settings()
    if settings is None:
        return None
    seg = run_segmentation(settings)
    names = state.segment_names()
    return _rename(words_key(key(segmentation_key(), names)), names, seg) if names else seg


@st.cache_resource(show_spinner=False, max_entries=8)
def _train(k: str, settings: p.TrainSettings, _cust: p.Customers, _und: p.Understanding,
           _wait=None) -> PropensityResult:
    with heavy("train", _wait):
        return p.train(_cust, _und, settings)


def model_key(settings: p.TrainSettings | None = None) -> str:
    return key(understanding_key(), settings or state.train_settings())


def train(settings: p.TrainSettings) -> PropensityResult:
    return _train(words_key(model_key(settings)), settings, customers(), understanding(), _wait=queue_note())


def model() -> PropensityResult | None:
    settings = state.train_settings()
    return None if settings is None else train(settings)


@st.cache_resource(show_spinner=False, max_entries=8)
def _learner_table(k: str, _result: PropensityResult) -> pd.DataFrame | None:
    from lib.models.learners.compare import comparison_table

    return None if _result.comparison is None else comparison_table(_result.comparison)


def learner_table(result: PropensityResult) -> pd.DataFrame | None:
    """The trained model's learner comparison as a table in words (None: no comparison was made)."""
    return _learner_table(words_key(model_key()), result)


def named_segmentation_key() -> str | None:
    return None if state.segment_settings() is None else key(segmentation_key(), state.segment_names())


@st.cache_resource(show_spinner=False, max_entries=8)
def _explain(k: str, _model: PropensityModel, _frame: pd.DataFrame, _progress=None, _wait=None) -> Explanation:
    with heavy("explain", _wait):
        return p.explain_scores(_model, _frame, progress=_progress)


@st.cache_resource(show_spinner=False, max_entries=4)
def _bundle_bytes(k: str, lang: str, source: tuple, _cust, _und, _result, _seg, _expl, _uplift=None,
                  _risk=None) -> bytes:
    with using(lang):  # a download runs after the page's run: the card's words in the page's language
        bundle = p.model_bundle(_cust, _und, _result, _seg, _expl, dict(source), _uplift, _risk)
    return model_file.to_bytes(bundle)


def model_file_maker():
    """A function making the trained model's .bullseye file (segments included when the user made them,
    and the Uplift page's model when there is one, as ``run --treatment --save-model`` saves it; the Risk
    page's thresholds when it has run, as ``run --risk --save-model``).
    Everything is read now: a download's deferred callable runs outside the page, without session state."""
    from pages import log_steps

    src, seg, cust, und, result = state.source(), segmentation(), customers(), understanding(), model()
    source = (("file", src["name"]), ("sha256", src["digest"]), ("rows", cust.source_rows))
    expl = _explain(model_key(), result.model, cust.frame)
    persuaded, danger = log_steps.uplift(), log_steps.customer_risk()
    k = key(model_key(), named_segmentation_key(), st.session_state.get("uplift_settings"),
            st.session_state.get("risk_settings"))
    lang = language()
    return lambda: _bundle_bytes(k, lang, source, cust, und, result, seg, expl, persuaded, danger)


def model_file_bytes() -> bytes:
    return model_file_maker()()


@st.cache_resource(show_spinner=False, max_entries=8)
def _score_by_segment(k: str, _scores: np.ndarray, _names: np.ndarray):
    from lib.act import plots

    return plots.score_by_segment(_scores, _names)


@st.cache_resource(show_spinner=False, max_entries=4)
def _roles(k: str, _frame: pd.DataFrame) -> Schema:
    """Roles of a scored file's columns (the Target list offers its consent and contact columns)."""
    return infer_schema(_frame)


@st.cache_resource(show_spinner=False, max_entries=4)
def _score_new(k: str, _model: PropensityModel, _frame: pd.DataFrame) -> np.ndarray:
    return _model.predict_proba(_frame)[:, 1]
