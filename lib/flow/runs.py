"""Whole runs, as the CLI does them: ``run`` (every step on one file) and ``score_file`` (a saved
model on a new file). Their report.json is built by ``lib.flow.report``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from types import SimpleNamespace

import numpy as np
import pandas as pd

from lib.act.targeting import ListSpec, TargetList
from lib.data.io import LoadResult
from lib.errors import DataValidationError
from lib.flow.learn_more import (
    forecast,
    learn_from_campaign,
    recommend,
    risk,
    segment_of,
    uplift,
    value,
    with_offers_on_list,
    with_risk,
    with_uplift,
    with_value,
)
from lib.flow.listing import AUTO, Ranking, choose_ranking, make_list
from lib.flow.model_file import ModelBundle
from lib.flow.reuse import NewFile, prepare_new, saved_risk_rules, saved_uplift
from lib.flow.steps import (
    Customers,
    CustomerSettings,
    Progress,
    SegmentSettings,
    TrainSettings,
    Understanding,
    UnderstandSettings,
    customer_table,
    customers,
    explain_scores,
    reasons,
    score,
    segment,
    train,
    understand,
)
from lib.models.explain import Explanation
from lib.models.propensity import PropensityResult
from lib.models.segment import (
    SegmentationResult,
)
from lib.text.i18n import t

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSettings:
    customers: CustomerSettings = field(default_factory=CustomerSettings)
    understand: UnderstandSettings = field(default_factory=UnderstandSettings)
    segment: SegmentSettings = field(default_factory=SegmentSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    explain_method: str = "auto"
    target_list: ListSpec | None = None  # None: no list
    rank_by: str = AUTO  # how the list is ordered (lib.flow.listing)
    recommend: object | None = None  # lib.models.recommend.RecommendSettings, or None: no recommendations
    value: object | None = None  # lib.models.value.ValueSettings, or None: no value predictions
    uplift: object | None = None  # lib.models.uplift.UpliftSettings, or None: no uplift model
    forecast: object | None = None  # lib.models.forecast.ForecastSettings, or None: no market forecast
    risk: object | None = None  # lib.models.risk.RiskSettings, or None: no risk control


@dataclass(frozen=True)
class RunResult:
    customers: Customers
    understanding: Understanding
    segmentation: SegmentationResult | None
    model: PropensityResult | None
    explanation: Explanation | None
    table: pd.DataFrame  # customers.csv
    targets: TargetList | None
    warnings: tuple[str, ...]
    timings: dict[str, float]
    recommendations: object | None = None  # lib.models.recommend.Recommendations
    value: object | None = None  # lib.models.value.ValueResult
    uplift: object | None = None  # lib.models.uplift.UpliftResult
    ranking: Ranking | None = None  # how the list was ordered (None: no list)
    forecast: object | None = None  # lib.models.forecast.ForecastResult
    risk: object | None = None  # lib.models.risk.RiskResult


class Laps:
    """Seconds per stage, for report.json's timings_s."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._t = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self._t
        self._t = now


def _understood(cust: Customers, settings: RunSettings) -> Understanding:
    """The understanding step as a run needs it: who got a campaign is never a feature of any model, and
    a target that cannot be modelled stops the run."""
    understand_settings = settings.understand
    if settings.uplift is not None:
        if settings.uplift.treatment not in cust.frame.columns:
            raise DataValidationError(t("The treatment column '{treatment}' is not in the file. Columns: {items}.",
                                        treatment=settings.uplift.treatment,
                                        items=", ".join(map(str, cust.frame.columns))))
        understand_settings = replace(understand_settings,
                                      exclude=(*understand_settings.exclude, settings.uplift.treatment))
    und = understand(cust, understand_settings)
    if und.target_problem:
        raise DataValidationError(und.target_problem)
    if len(cust.frame) == 0:
        raise DataValidationError(t("No customers to analyse."))
    return und


def _learn_more(loaded: LoadResult, cust: Customers, und: Understanding, settings: RunSettings, say: Progress,
                lap: Laps, warnings: list[str], outcomes: pd.DataFrame | None) -> tuple[object, object, object]:
    """(uplift, value, recommendations), each when asked for. The uplift is learnt from the file's own
    treatment column, or from a recorded campaign's ``outcomes`` (``lib.act.campaigns.campaign_outcomes``)."""
    worth = offers = persuaded = None
    if settings.uplift is not None or outcomes is not None:
        say(t("Learning who the campaign changes (uplift)"))
        persuaded = uplift(cust, und, settings.uplift) if settings.uplift is not None else \
            learn_from_campaign(cust, und, outcomes, seed=settings.segment.seed)
        warnings += list(persuaded.warnings)
        lap("uplift")
    if settings.value is not None:
        say(t("Predicting each customer's value and churn risk"))
        try:
            worth = value(loaded, cust, settings.value)
        except DataValidationError as exc:
            # Value comes with every log by default: a log too short for it still gets everything else.
            warnings.append(t("No customer value predictions: {exc}", exc=exc))
        lap("value")
    if settings.recommend is not None:
        say(t("Recommending products"))
        offers = recommend(loaded, cust, settings.recommend)
        lap("recommend")
    return persuaded, worth, offers


def run(loaded: LoadResult, settings: RunSettings, progress: Progress | None = None,
        outcomes: pd.DataFrame | None = None) -> RunResult:
    """Every step in order on one file: what ``python -m lib.cli run`` does. ``outcomes``: a recorded
    campaign's customers, groups and responses, to learn who it changed (the uplift) and rank by it."""
    say = progress or (lambda m: log.info(m))
    lap = Laps()
    say(t("Reading customers"))
    cust = customers(loaded, settings.customers)
    lap("features")
    say(t("Understanding the columns and checking data quality"))
    und = _understood(cust, settings)
    lap("quality")
    say(t("Segmenting customers"))
    seg = segment(cust, und, settings.segment)
    lap("segment")
    result = expl = reason_table = scores = None
    warnings = list(cust.warnings) + list(und.warnings)
    if und.target is not None:
        say(t("Training the propensity model"))
        result = train(cust, und, settings.train)
        warnings += list(result.warnings)
        if not result.gate_passed:
            warnings += [t("Model quality gate: {reason}", reason=r) for r in result.gate_reasons]
        scores = score(result, cust)
        lap("train")
        say(t("Explaining every score (exact SHAP)"))
        expl = explain_scores(result.model, cust.frame, settings.explain_method)
        reason_table = reasons(expl, cust.frame)
        lap("explain")
    persuaded, worth, offers = _learn_more(loaded, cust, und, settings, say, lap, warnings, outcomes)
    market = None
    if settings.forecast is not None:
        say(t("Forecasting the shop's sales"))
        market = forecast(loaded, cust, settings.forecast, segment_of(und, seg))
        warnings += list(market.warnings)
        lap("forecast")
    danger = None
    if settings.risk is not None:
        say(t("Looking for risky customers"))
        danger = risk(loaded, cust, settings.risk, ids=und.ids)
        warnings += list(danger.warnings)
        lap("risk")
    table = with_uplift(with_value(customer_table(und.ids, seg, scores, reason_table), worth), persuaded)
    table = with_risk(table, danger)
    targets = ranking = None
    if settings.target_list is not None:
        say(t("Building the target list"))
        ranking = choose_ranking(settings.rank_by, uplift=persuaded is not None,
                                 uplift_beats_random=persuaded is not None and persuaded.beats_random,
                                 value=worth is not None)
        warnings += list(ranking.warnings)
        targets = with_offers_on_list(make_list(table, settings.target_list, ranking), offers)
        lap("target")
    return RunResult(customers=cust, understanding=und, segmentation=seg, model=result, explanation=expl,
                     table=table, targets=targets, warnings=tuple(warnings), timings=lap.timings,
                     recommendations=offers, value=worth, uplift=persuaded, ranking=ranking, forecast=market, risk=danger)


@dataclass(frozen=True)
class ScoreSettings:
    id_col: str | None = None
    explain_method: str = "auto"
    target_list: ListSpec | None = None
    rank_by: str = AUTO  # how the list is ordered (lib.flow.listing)
    # lib.models.risk.RiskSettings: check for risk even when the model carries no risk thresholds (then
    # learned from this file); a model that carries them always applies them.
    risk: object | None = None


@dataclass(frozen=True)
class ScoreResult:
    new: NewFile
    scores: np.ndarray
    explanation: Explanation
    table: pd.DataFrame
    targets: TargetList | None
    timings: dict[str, float]
    ranking: Ranking | None = None
    warnings: tuple[str, ...] = ()
    risk: object | None = None  # lib.models.risk.RiskResult, by the model's thresholds when it carries them


def saved_ranking(bundle: ModelBundle, rank_by: str = AUTO) -> Ranking:
    """The order of a new file's list under a saved model: by uplift only where the saved uplift model
    beat random (a file saved before that was recorded ranked by uplift whenever it had one, and still
    does)."""
    u = bundle.uplift
    return choose_ranking(rank_by, uplift=u is not None, uplift_beats_random=bool(u and u.get("beats_random", True)))


def score_file(bundle: ModelBundle, loaded: LoadResult, settings: ScoreSettings,
               progress: Progress | None = None, cust: Customers | None = None) -> ScoreResult:
    """A saved model on a new file: what ``python -m lib.cli score`` does (``cust``: see ``prepare_new``)."""
    say = progress or (lambda m: log.info(m))
    lap = Laps()
    say(t("Checking the file against the model"))
    new = prepare_new(bundle, loaded, settings.id_col, cust)
    lap("prepare")
    say(t("Scoring"))
    frame = new.customers.frame
    scores = new.model.predict_proba(frame)[:, 1]
    lap("score")
    say(t("Explaining every score (exact SHAP)"))
    expl = explain_scores(new.model, frame, settings.explain_method)
    reason_table = reasons(expl, frame)
    lap("explain")
    table = customer_table(new.ids, new.segmentation, scores, reason_table)
    uplifts = saved_uplift(bundle, frame)
    if uplifts is not None:
        table = with_uplift(table, SimpleNamespace(table=uplifts))
    danger, risk_warnings = _saved_risk(bundle, loaded, new, settings.risk, say)
    table = with_risk(table, danger)
    lap("risk")
    targets = ranking = None
    if settings.target_list is not None:
        ranking = saved_ranking(bundle, settings.rank_by)
        targets = make_list(table, settings.target_list, ranking)
    lap("target")
    return ScoreResult(new=new, scores=scores, explanation=expl, table=table, targets=targets, timings=lap.timings,
                       ranking=ranking, risk=danger,
                       warnings=tuple(dict.fromkeys((*new.warnings, *risk_warnings,
                                                     *(ranking.warnings if ranking else ())))))


def _saved_risk(bundle: ModelBundle, loaded: LoadResult, new: NewFile, settings, say: Progress):
    """(risk result or None, warnings): a new file judged by the thresholds the model carries (or, asked
    for with ``settings`` and none saved, by its own)."""
    rules = saved_risk_rules(bundle)
    if rules is None and settings is None:
        return None, ()
    if new.customers.settings.transactions and not len(loaded.frame.columns):
        return None, (t("No risk check: the log was read in parts; score it with --engine memory to check for risk."),)
    say(t("Looking for risky customers"))
    danger = risk(loaded, new.customers, settings, rules, ids=new.ids)
    warnings = list(danger.warnings)
    if rules is None:
        warnings.append(t("The model carries no risk thresholds: this file was judged by its own."))
    return danger, tuple(warnings)
