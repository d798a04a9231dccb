"""What Explain and Target list show: the trained file's scores, or a new file scored by a saved model,
each cached per step like ``pages.steps`` (the same ``key`` chain: file digests plus settings).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from lib.data.io import LoadResult
from lib.flow import model_file
from lib.flow import pipeline as p
from lib.models.explain import Explanation
from lib.models.model import PropensityModel
from lib.models.propensity import PropensityResult
from lib.models.segment import SegmentationResult
from lib.text.i18n import t
from pages import log_steps, state
from pages.steps import (
    _explain,
    _load,
    _roles,
    _score_new,
    customers,
    key,
    model,
    model_file_bytes,
    model_key,
    named_segmentation_key,
    queue_note,
    segmentation,
    understanding,
    understanding_key,
    words_key,
)
from pages.steps import _score_by_segment as steps_score_by_segment


@st.cache_resource(show_spinner=False, max_entries=8)
def _score(k: str, _result: PropensityResult, _cust: p.Customers) -> np.ndarray:
    return p.score(_result, _cust)


@st.cache_resource(show_spinner=False, max_entries=8)
def _reasons(k: str, actionable: tuple[str, ...] | None, _expl: Explanation, _frame: pd.DataFrame) -> pd.DataFrame:
    return p.reasons(_expl, _frame, actionable)


@st.cache_resource(show_spinner=False, max_entries=8)
def _table(k: str, _ids: np.ndarray, _seg, _scores, _reasons) -> pd.DataFrame:
    return p.customer_table(_ids, _seg, _scores, _reasons)


@st.cache_resource(show_spinner=False, max_entries=4)
def _list_base(k: str, _table: pd.DataFrame, _frame: pd.DataFrame) -> pd.DataFrame:
    return p.list_base(_table, _frame)


@st.cache_resource(show_spinner=False, max_entries=8)
def _sorted(k: str, _scores: np.ndarray) -> np.ndarray:
    return np.sort(_scores)[::-1]


# --- what Explain and Target list show: the trained file, or a new file scored by a saved model ---


@dataclass(frozen=True)
class Scored:
    """Customers with a score, as Explain and Target list need them."""

    key: str
    label: str  # what is on screen, in words
    frame: pd.DataFrame  # the customers' own columns
    model: PropensityModel
    result: PropensityResult | None  # the training run (None for a saved model)
    card: dict  # model card (lib.flow.model_file.model_card)
    scores: np.ndarray
    explanation: Explanation
    segmentation: SegmentationResult | None
    ids: np.ndarray
    id_col: str | None
    roles: dict[str, str]
    seg_key: str | None  # the segmentation's cache key (with the user's names)
    uplift: np.ndarray | None = None  # a saved uplift model's uplift per customer (new files only)
    uplift_beats_random: bool = False

    @property
    def gate_reasons(self) -> list[str]:
        return list(self.card.get("quality_gate_reasons") or [])

    def reasons(self) -> pd.DataFrame:
        chosen = state.actionable(self.explanation.features)
        return _reasons(words_key(key(self.key, chosen)), chosen, self.explanation, self.frame)

    def table(self) -> pd.DataFrame:
        """id, segment, score, rank, decile, reasons (built once per settings; read-only)."""
        k = key(self.key, self.seg_key, state.actionable(self.explanation.features))
        return _table(words_key(k), self.ids, self.segmentation, self.scores, self.reasons())

    def list_base(self) -> pd.DataFrame:
        k = key(self.key, self.seg_key, state.actionable(self.explanation.features), "base")
        return _list_base(words_key(k), self.table(), self.frame)

    def sorted_scores(self) -> np.ndarray:
        return _sorted(self.key, self.scores)


def scored() -> Scored | None:
    """The scored customers on screen: a new file when one is being scored, else the trained file."""
    return new_file_scored() if state.scoring_new_file() else trained_scored()


def customer_table() -> pd.DataFrame:
    """The trained file's customers.csv as far as it exists: ids and segments, with scores and reasons
    once a model is trained."""
    trained = trained_scored()
    if trained is not None:
        return trained.table()
    return _table(words_key(key(understanding_key(), named_segmentation_key())), understanding().ids, segmentation(), None, None)


def trained_scored() -> Scored | None:
    result = model()
    if result is None:
        return None
    cust, und, k, src = customers(), understanding(), model_key(), state.source()
    expl = _explain(k, result.model, cust.frame, _wait=queue_note())
    card = _card(words_key(k), (("file", src["name"]), ("sha256", src["digest"]), ("rows", cust.source_rows)), cust, result, expl)
    return Scored(key=k, label=t("{name} (the file the model was trained on)", name=src["name"]), frame=cust.frame,
                  model=result.model, result=result, card=card, scores=_score(k, result, cust), explanation=expl,
                  segmentation=segmentation(), ids=und.ids, id_col=und.id_col, roles=dict(und.schema.roles),
                  seg_key=named_segmentation_key())


@st.cache_resource(show_spinner=False, max_entries=8)
def _card(k: str, source: tuple, _cust, _result, _expl) -> dict:
    """The trained model's card, made once (its training time is when training happened, not now)."""
    return model_file.flat_card(p.training_card(_cust, _result, _expl, dict(source)),
                                model_file.model_id_of(_result.model))


# --- a new file scored by a saved model -----------------------------------------------------------


@st.cache_resource(show_spinner=False, max_entries=4)
def _load_model(k: str, name: str, _data: bytes) -> model_file.ModelBundle:
    return model_file.load(_data, name)


def _model_source() -> tuple[str, str, bytes]:
    """(sha256, name, bytes) of the Score page's model: an upload, or the one just trained, segments and all."""
    m = state.scoring_new_file()["model"]
    if m == "trained":
        data = model_file_bytes()
        return hashlib.sha256(data).hexdigest(), t("the model just trained"), data
    return m["digest"], m["name"], m["data"]


def bundle() -> model_file.ModelBundle | None:
    """The saved model chosen on the Score page, or None when no new file is being scored."""
    if not state.scoring_new_file():
        return None
    digest, name, data = _model_source()
    return _load_model(key(digest), name, data)


@st.cache_resource(show_spinner=False, max_entries=4)
def _prepare(k: str, _bundle: model_file.ModelBundle, _loaded: LoadResult) -> p.NewFile:
    return p.prepare_new(_bundle, _loaded)


def new_file() -> p.NewFile | None:
    active, b = state.scoring_new_file(), bundle()
    if not active or b is None:
        return None
    f = active["file"]
    lr = _load(words_key(key(f["digest"])), f["name"], None, None, None, _data=f["data"])
    return _prepare(words_key(key(_model_source()[0], f["digest"])), b, lr)


def new_file_scored(progress=None) -> Scored:  # progress(rows_done, rows): the Score page's bar on a big file
    b, new, f = bundle(), new_file(), state.scoring_new_file()["file"]
    model_digest = _model_source()[0]
    k = key(model_digest, f["digest"], "scored")
    frame = new.customers.frame
    return Scored(key=k, label=t("{name} (scored by a saved model)", name=f["name"]), frame=frame, model=new.model, result=None,
                  card=model_file.model_card(b), scores=_score_new(k, new.model, frame),
                  explanation=_explain(k, new.model, frame, progress, queue_note()), segmentation=new.segmentation, ids=new.ids,
                  id_col=new.id_col, roles=dict(_roles(words_key(key(f["digest"])), frame).roles), seg_key=model_digest,
                  uplift=log_steps.saved_uplift(k, b, frame), uplift_beats_random=bool(b.uplift and b.uplift.get("beats_random", True)))


def score_by_segment_chart(scored: Scored):
    """Box plot of scores per segment (cached: it summarises every customer)."""
    return steps_score_by_segment(words_key(key(scored.key, scored.seg_key)), scored.scores, scored.segmentation.names().to_numpy())


def list_base() -> pd.DataFrame:
    """The trained file's customers with all their columns, for a list without scores (segments only)."""
    return _list_base(words_key(key(understanding_key(), named_segmentation_key(), "base")), customer_table(), customers().frame)
