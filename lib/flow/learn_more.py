"""The steps beside the guided flow ("Learn more"): what to offer each customer, what they are worth,
and who a campaign changes (uplift), plus how their results join customers.csv.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pandas as pd

from lib.data.io import LoadResult
from lib.data.schema import Schema
from lib.errors import DataValidationError
from lib.flow.steps import Customers, Understanding, log_lines
from lib.text.i18n import t

# --- what to offer, and what customers are worth (transaction logs) -------------------------------


def _log_only(cust: Customers, what: str) -> None:
    if not cust.settings.transactions:
        raise DataValidationError(
            t("{what} need a transaction log (one row per order line, with customer, date, product and amount columns); this file is a customer table. Load the order lines and mark the file as a transaction log.", what=what))


def recommend(loaded: LoadResult, cust: Customers, settings):
    """Top products per customer, in the mode asked ("all" or "new"), with the honest evaluation
    (``lib.models.recommend``). ``settings``: ``lib.models.recommend.RecommendSettings``."""
    from lib.models.recommend import recommend as run_recommender

    _log_only(cust, t("Recommendations"))
    c = cust.settings
    return run_recommender(log_lines(loaded, cust), settings, c.customer_col, c.date_col, c.amount_col)


def value(loaded: LoadResult, cust: Customers, settings):
    """Predicted spend, churn risk and 12-month value per customer, validated out of time
    (``lib.models.value``). ``settings``: ``lib.models.value.ValueSettings``."""
    from lib.models.value import customer_value

    _log_only(cust, t("Customer value predictions"))
    c = cust.settings
    return customer_value(log_lines(loaded, cust), settings, c.customer_col, c.date_col, c.amount_col)


def forecast(loaded: LoadResult, cust: Customers, settings, segments: pd.Series | None = None):
    """The shop's net sales by month or week, forecast by the method a backtest chooses, with breakdowns
    that add up to it (``lib.models.forecast``). ``settings``: ``lib.models.forecast.ForecastSettings``;
    ``segments``: segment name per customer id, for the by-segment breakdown."""
    from lib.models.forecast import forecast_sales

    _log_only(cust, t("Market forecasts"))
    c = cust.settings
    return forecast_sales(log_lines(loaded, cust), settings, c.customer_col, c.date_col, c.amount_col, segments)


def risk(loaded: LoadResult, cust: Customers, settings, rules=None, key: bytes | None = None, ids=None):
    """Risk score, flag and reasons per customer (``lib.models.risk``): on a log, serial and quick returns,
    bulk buying, cut prices, burst ordering; on a customer table, contact details shared between customers
    (compared as keyed pseudonyms: ``key``, default the pseudonymisation key) and implausible values; both
    with an outlier score. ``settings``: ``lib.models.risk.RiskSettings``; ``rules``: a saved model's
    ``RiskRules`` (default: learned from this file); ``ids``: a customer table's ids as customers.csv
    writes them (``Understanding.ids``)."""
    from lib.models.risk import customer_risk

    if rules is not None and settings is not None and settings.share != rules.share:
        rules = replace(rules, share=settings.share)
    c = cust.settings
    if c.transactions:
        if rules is not None and rules.kind != "log":
            raise DataValidationError(t("The model's risk thresholds were learned from a customer table; this file is a transaction log."))
        line_rules = cust.rollup.line_rules if cust.rollup is not None else None
        return customer_risk(log_lines(loaded, cust), settings, c.customer_col, c.date_col, c.amount_col, rules=rules,
                             line_rules=line_rules)
    if rules is not None and rules.kind != "table":
        raise DataValidationError(t("The model's risk thresholds were learned from a transaction log; this file is a customer table."))
    return table_risk_of(cust.frame, settings, rules, key, ids)


def table_risk_of(frame: pd.DataFrame, settings, rules=None, key: bytes | None = None, ids=None):
    """A customer table's risk check: its contact columns found by name and values, compared as keyed
    pseudonyms under ``key`` (default: the pseudonymisation key, ``lib.data.privacy.load_key``)."""
    from lib.act.audiences import find_contact_columns
    from lib.data.privacy import load_key
    from lib.data.schema import infer_schema
    from lib.models.risk.table import ADDRESS_NAMES, table_risk

    roles = dict(infer_schema(frame).roles)
    found = find_contact_columns(frame, roles)
    contacts = {"email": found.email, "phone": found.phone,
                "address": next((c for c in frame.columns if roles.get(c) == "pii"
                                 and re.search(ADDRESS_NAMES, str(c), re.I)), None)}
    contacts = {k: v for k, v in contacts.items() if v is not None}
    if rules is not None:  # the saved model's columns, where this file has them
        contacts = {k: v for k, v in (rules.extra.get("contacts") or {}).items() if v in frame.columns}
    if ids is None:
        id_col = next((c for c, r in roles.items() if r == "identifier"), None)
        ids = frame[id_col] if id_col is not None else pd.RangeIndex(len(frame))
    return table_risk(frame, ids, contacts, key if key is not None else load_key(), roles, settings, rules)


RISK_COLUMNS = ("risk_score", "risk_flag", "risk_reason_1", "risk_reason_2", "risk_reason_3")


def with_risk(table: pd.DataFrame, risk_result) -> pd.DataFrame:
    """customers.csv with each customer's risk score, flag and reasons (joined by id)."""
    if risk_result is None:
        return table
    r = risk_result.table.set_index("customer_id")
    out_ids = table["id"].astype("str").to_numpy()
    out = table.copy()
    for col in RISK_COLUMNS:
        out[col] = r[col].reindex(out_ids).to_numpy()
    out["risk_flag"] = out["risk_flag"].fillna(False).astype(bool)
    return out


def segment_of(und: Understanding, seg) -> pd.Series | None:
    """Each customer's segment name by customer id (None without segments): the forecast's by-segment part."""
    if seg is None:
        return None
    return pd.Series(seg.names().to_numpy(), index=pd.Index(und.ids, dtype="str"))


def uplift(cust: Customers, und: Understanding, settings):
    """Who the campaign changes: an uplift model learned from a randomised control group
    (``lib.models.uplift``). ``settings``: ``lib.models.uplift.UpliftSettings``; the treatment column is never a
    feature, and outcomes of the target are kept out as leaks."""
    from lib.models.uplift import train_uplift

    if und.target is None:
        raise DataValidationError(t("Uplift needs a target (the outcome the campaign should change), and a treatment "
                                  "column saying who got the campaign."))
    if cust.training is not None:
        raise DataValidationError(
            t("Uplift learns from a campaign's results: a customer table with who was sent it (treatment) and what "
            "they did (target). With a transaction log and a horizon the target is built from the log, not from a "
            "campaign: leave the horizon at 0, or load the campaign's customer table."))
    if settings.treatment not in cust.frame.columns:
        raise DataValidationError(t("The treatment column '{treatment}' is not in the file. Columns: {items}.", treatment=settings.treatment, items=', '.join(map(str, cust.frame.columns))))
    return train_uplift(cust.frame, und.schema, und.target, und.positive, settings,
                        leakage=list(und.quality.leakage_suspects))


CAMPAIGN_GROUP, CAMPAIGN_OUTCOME = "campaign_group", "campaign_responded"


def learn_from_campaign(cust: Customers, und: Understanding, outcomes: pd.DataFrame, seed: int = 42):
    """Who a recorded campaign changed: its customers (matched by id to this customer file), whether they
    were sent it or kept as control, and what they did (``lib.act.campaigns.campaign_outcomes``), learned by
    the uplift step. The next list can then go to the persuadable, not the likeliest."""
    from lib.models.uplift import UpliftSettings, train_uplift

    frame = cust.frame.reset_index(drop=True)
    joined = pd.DataFrame({"_id": und.ids}).merge(
        outcomes.rename(columns={"customer_id": "_id", "group": CAMPAIGN_GROUP, "responded": CAMPAIGN_OUTCOME}),
        on="_id", how="inner")
    if joined.empty:
        raise DataValidationError(
            t("None of the campaign's customers are in this file: load the customer file the list was built from (ids in the '{value}' column) on the Upload page.", value=und.id_col or t("row number")))
    rows = pd.Index(und.ids).get_indexer(joined["_id"])
    learn = frame.iloc[rows].reset_index(drop=True).assign(**{CAMPAIGN_GROUP: joined[CAMPAIGN_GROUP].to_numpy(),
                                                              CAMPAIGN_OUTCOME: joined[CAMPAIGN_OUTCOME].to_numpy()})
    schema = Schema(roles={**und.schema.roles, CAMPAIGN_GROUP: "binary", CAMPAIGN_OUTCOME: "binary"},
                    reasons={**und.schema.reasons, CAMPAIGN_GROUP: "the campaign's groups",
                             CAMPAIGN_OUTCOME: "what the campaign's customers did"})
    settings = UpliftSettings(treatment=CAMPAIGN_GROUP, treated_value="target", control_value="control", seed=seed)
    # The customer file's own target (if any) is not a feature: it may be an outcome of the same campaign.
    features = tuple(c for c in und.feature_columns if c != und.target)
    return train_uplift(learn, schema, CAMPAIGN_OUTCOME, "yes", replace(settings, features=features))


def with_uplift(table: pd.DataFrame, uplift_result) -> pd.DataFrame:
    """customers.csv with each customer's predicted change (uplift) and their probability with and
    without the campaign."""
    if uplift_result is None:
        return table
    out = table.copy()
    for col in ("uplift", "p_treated", "p_control"):
        out[col] = np.round(uplift_result.table[col].to_numpy(), 6)
    return out


VALUE_COLUMNS = ("predicted_orders", "predicted_value", "churn_risk", "clv_12m")


def with_value(table: pd.DataFrame, value_result) -> pd.DataFrame:
    """customers.csv with each customer's predicted orders, value, churn risk and 12-month value."""
    if value_result is None:
        return table
    v = value_result.table.set_index("customer_id")
    out = table.copy()
    for col in VALUE_COLUMNS:
        out[col] = v[col].reindex(out["id"].to_numpy()).to_numpy()
    return out


def with_offers(list_table: pd.DataFrame, recommendations) -> pd.DataFrame:
    """A target list with the top three offers of each customer (recommended_1..3)."""
    if recommendations is None:
        return list_table
    from lib.models.recommend import offers_for

    offers = offers_for(recommendations, n=3).set_index("id")
    out = list_table.copy()
    for col in ("recommended_1", "recommended_2", "recommended_3"):
        out[col] = offers[col].reindex(out["id"].to_numpy()).to_numpy() if col in offers else None
    return out


def with_offers_on_list(targets, recommendations):
    """A target list with each customer's top three offers, when there are recommendations."""
    if targets is None or recommendations is None:
        return targets
    return replace(targets, table=with_offers(targets.table, recommendations))
