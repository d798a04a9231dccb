"""Streamlit caching of the transaction-log steps of ``lib.flow.pipeline``: recommendations and customer
value, and the risk check (keyed like ``pages.steps``: the file's key chain plus the step's own settings)."""

from __future__ import annotations

import streamlit as st

from lib.data.io import LoadResult
from lib.flow import pipeline as p
from pages import state
from pages.steps import customers, customers_key, heavy, key, loaded, queue_note, words_key


@st.cache_resource(show_spinner=False, max_entries=4)
def _recommend(k: str, settings, _loaded: LoadResult, _cust: p.Customers):
    return p.recommend(_loaded, _cust, settings)


@st.cache_resource(show_spinner=False, max_entries=4)
def _value(k: str, settings, _loaded: LoadResult, _cust: p.Customers, _wait=None):
    with heavy("value", _wait):
        return p.value(_loaded, _cust, settings)


def run_recommend(settings):
    return _recommend(words_key(key(customers_key(), settings)), settings, loaded(), customers())


def recommendations():
    """The recommendations the user asked for on the Recommendations page, or None."""
    settings = st.session_state.get("rec_settings")
    return None if settings is None or not state.is_transactions() else run_recommend(settings)


def run_value(settings):
    return _value(words_key(key(customers_key(), settings)), settings, loaded(), customers(), queue_note())


def customer_value():
    """The value predictions the user asked for on the Customer value page, or None."""
    settings = st.session_state.get("value_settings")
    return None if settings is None or not state.is_transactions() else run_value(settings)


@st.cache_resource(show_spinner=False, max_entries=4)
def _forecast(k: str, settings, _loaded: LoadResult, _cust: p.Customers, _segments):
    from lib.flow.learn_more import forecast

    return forecast(_loaded, _cust, settings, _segments)


def run_forecast(settings):
    """The market forecast, with a by-segment breakdown when the user has made segments."""
    from lib.flow.learn_more import segment_of
    from pages.steps import segmentation, segmentation_key, understanding

    seg = segmentation()
    segments = segment_of(understanding(), seg) if seg is not None else None
    by = (segmentation_key(), state.segment_names()) if seg is not None else None
    return _forecast(words_key(key(customers_key(), settings, by)), settings, loaded(), customers(), segments)


@st.cache_resource(show_spinner=False, max_entries=4)
def _uplift(k: str, settings, _cust: p.Customers, _und: p.Understanding, _wait=None):
    with heavy("uplift", _wait):
        return p.uplift(_cust, _und, settings)


@st.cache_resource(show_spinner=False, max_entries=4)
def _uplift_explained(k: str, _result, _frame):
    from lib.models.uplift import explain_uplift, persuadable_importance, uplift_reasons

    with heavy("uplift explain"):
        ex = explain_uplift(_result, _frame)
    return uplift_reasons(_result, _frame, explanation=ex), persuadable_importance(_result, _frame, explanation=ex)


def run_uplift(settings):
    from pages.steps import understanding, understanding_key

    return _uplift(words_key(key(understanding_key(), settings)), settings, customers(), understanding(), queue_note())


def uplift():
    """The uplift model the user asked for on the Uplift page, or None."""
    settings = st.session_state.get("uplift_settings")
    return None if settings is None else run_uplift(settings)


@st.cache_resource(show_spinner=False, max_entries=4)
def saved_uplift(k: str, _bundle, _frame):
    """A saved uplift model's uplift per customer of a new file (None: the model file has none)."""
    u = p.saved_uplift(_bundle, _frame)
    return None if u is None else u["uplift"].to_numpy()


def uplift_explained(result, settings):
    """(reasons per customer, who-is-persuadable importance) of an uplift model."""
    from pages.steps import understanding_key

    return _uplift_explained(words_key(key(understanding_key(), settings, "explained")), result, customers().frame)


@st.cache_resource(show_spinner=False, max_entries=4)
def _value_reasons(k: str, _result):
    from lib.models.value import explain_value

    return explain_value(_result)


def value_reasons(result):
    """value_reason_1..3 per customer of the value table (exact SHAP for boosted methods)."""
    return _value_reasons(words_key(key(customers_key(), st.session_state.get("value_settings"), "reasons")), result)


@st.cache_resource(show_spinner=False, max_entries=4)
def _learn(k: str, _cust: p.Customers, _und: p.Understanding, _outcomes):
    return p.learn_from_campaign(_cust, _und, _outcomes)


def learn_from_campaign(campaign: str, results_digest: str, outcomes):
    """The uplift a recorded campaign's results teach, on the customer file loaded now."""
    from pages.steps import understanding, understanding_key

    return _learn(words_key(key(understanding_key(), campaign, results_digest)), customers(), understanding(), outcomes)


@st.cache_resource(show_spinner=False, max_entries=4)
def _risk(k: str, settings, _loaded: LoadResult, _cust: p.Customers, _ids):
    from lib.flow.learn_more import risk

    return risk(_loaded, _cust, settings, ids=_ids)


def run_risk(settings):
    """The risk check of the loaded file: a log's order patterns, or a customer table's shared contacts."""
    from pages.steps import understanding, understanding_key

    und = understanding()
    return _risk(words_key(key(understanding_key(), settings)), settings, loaded(), customers(), und.ids)


def customer_risk():
    """The risk check the user ran on the Risk page, or None."""
    settings = st.session_state.get("risk_settings")
    return None if settings is None or customers() is None else run_risk(settings)
