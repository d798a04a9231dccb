"""The steps of Bullseye and their order, in one place. The CLI runs them in one go (``run``); the app
runs the same functions one page at a time, caching each by the file digest and that step's settings.

    read -> customers -> understand -> segment -> train -> score -> explain -> reasons
         -> customer_table -> target                                      (``run``)
    model file + read -> customers -> prepare_new -> score ... -> target  (``score_file``)

Where each part lives (this module only gathers them, so callers need one import):

- ``lib.flow.steps``: the guided flow's steps, each a pure function of frozen results and settings;
- ``lib.flow.learn_more``: recommendations, customer value and uplift, and how they join the table;
- ``lib.flow.listing``: who goes on the list and in what order (one policy for every entry point);
- ``lib.flow.reuse``: what a saved model holds, and a new file made ready for it;
- ``lib.flow.runs``: the whole ``run`` and ``score_file``;
- ``lib.flow.report``: report.json, for every command and engine.
"""

from __future__ import annotations

from lib.flow.learn_more import (
    CAMPAIGN_GROUP,
    CAMPAIGN_OUTCOME,
    VALUE_COLUMNS,
    learn_from_campaign,
    recommend,
    uplift,
    value,
    with_offers,
    with_offers_on_list,
    with_uplift,
    with_value,
)
from lib.flow.listing import Ranking, choose_ranking, make_list, with_uplift_by_id, with_value_by_id
from lib.flow.reuse import (
    NewFile,
    check_model_columns,
    model_bundle,
    model_columns,
    prepare_new,
    saved_uplift,
    training_card,
)
from lib.flow.runs import Laps, RunResult, RunSettings, ScoreResult, ScoreSettings, run, saved_ranking, score_file
from lib.flow.steps import (
    AUTO,
    EXPLAIN_BATCH_ROWS,
    REPURCHASE_TARGET,
    AsOfChoice,
    Customers,
    CustomerSettings,
    Progress,
    SegmentSettings,
    TrainSettings,
    Understanding,
    UnderstandSettings,
    as_of_choice,
    customer_ids,
    customer_table,
    customers,
    explain_scores,
    infer_roles,
    list_base,
    log_lines,
    pick_id_column,
    reasons,
    repurchase_training_frame,
    resolve,
    score,
    segment,
    train,
    understand,
)

__all__ = [
    "AUTO", "CAMPAIGN_GROUP", "CAMPAIGN_OUTCOME", "EXPLAIN_BATCH_ROWS", "REPURCHASE_TARGET", "VALUE_COLUMNS",
    "AsOfChoice", "CustomerSettings", "Customers", "Laps", "NewFile", "Progress", "Ranking", "RunResult", "RunSettings",
    "ScoreResult", "ScoreSettings", "SegmentSettings", "TrainSettings", "UnderstandSettings", "Understanding",
    "as_of_choice", "check_model_columns", "choose_ranking", "customer_ids", "customer_table", "customers", "explain_scores",
    "infer_roles", "learn_from_campaign", "list_base", "log_lines", "make_list", "model_bundle", "model_columns", "pick_id_column",
    "prepare_new", "reasons", "recommend", "repurchase_training_frame", "resolve", "run", "saved_ranking", "saved_uplift", "score",
    "score_file", "segment", "train", "training_card", "understand", "uplift", "value", "with_offers",
    "with_offers_on_list", "with_uplift", "with_uplift_by_id", "with_value", "with_value_by_id",
]
