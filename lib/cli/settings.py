"""Flags to the settings of ``lib.flow.pipeline``'s steps: the CLI decides nothing itself."""

from __future__ import annotations

import argparse

import pandas as pd

from lib.errors import DataValidationError
from lib.text.i18n import t


def _load(args: argparse.Namespace):
    from lib.data.io import load_table

    return load_table(args.input, sep=args.sep, encoding=args.encoding, sheet=args.sheet)


def _list_spec(args: argparse.Namespace):
    """The list settings from --top/--top-pct/--budget/--control-pct/--seed, or None when no list was asked for."""
    from lib.act.targeting import ListSpec

    if args.top_n is not None and args.top_n < 0:
        raise DataValidationError(t("--top must be 0 or more."))
    if args.top_pct is not None and not 0 < args.top_pct <= 100:
        raise DataValidationError(t("--top-pct must be between 0 and 100."))
    if not 0 <= args.control_pct < 100:
        raise DataValidationError(t("--control-pct must be at least 0 and below 100."))
    if args.budget is not None and (args.budget < 0 or args.cost_per_contact <= 0):
        raise DataValidationError(t("--budget needs a budget of 0 or more and a --cost-per-contact above 0."))
    if args.top_n is None and args.top_pct is None and args.budget is None and not args.control_pct:
        return None
    return ListSpec(top_n=args.top_n, top_pct=args.top_pct, budget=args.budget, control_pct=args.control_pct,
                    cost_per_contact=args.cost_per_contact, value_per_conversion=args.value_per_conversion,
                    seed=args.seed)


def _segments_setting(value: str) -> int | None:
    if str(value).lower() == "auto":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DataValidationError(t("--segments must be 'auto' or a whole number of segments (2-20); got '{value}'.", value=value)) from None


def _recommend_settings(args: argparse.Namespace):
    if args.recommend is None:
        return None
    if not args.transactions:
        raise DataValidationError(t("--recommend needs a transaction log: add --transactions (one row per order line, "
                                    "with a product column)."))
    if args.recommend < 1:
        raise DataValidationError(t("--recommend must be 1 or more products per customer."))
    from lib.models.recommend import RecommendSettings

    return RecommendSettings(k=args.recommend, mode=args.recommend_mode, seed=args.seed)


def _value_settings(args: argparse.Namespace):
    """A transaction log always gets value and churn-risk predictions (over --horizon days, default 90)."""
    if not args.transactions or args.no_value:
        return None
    from lib.models.value import ValueSettings

    return ValueSettings(horizon_days=args.horizon or 90, seed=args.seed)


def _uplift_settings(args: argparse.Namespace):
    if args.treatment is None:
        if args.treated_value is not None:
            raise DataValidationError(t("--treated-value goes with --treatment COL (the column saying who got the campaign)."))
        return None
    if not args.target:
        raise DataValidationError(t("--treatment needs --target: the outcome the campaign should change."))
    from lib.models.uplift import UpliftSettings

    return UpliftSettings(treatment=args.treatment, treated_value=args.treated_value, seed=args.seed)


def _campaign_outcomes(args: argparse.Namespace) -> pd.DataFrame | None:
    """--learn-from CAMPAIGN --results FILE: who the recorded campaign reached, and what each did."""
    if args.learn_from is None:
        if args.results is not None:
            raise DataValidationError(t("--results goes with --learn-from CAMPAIGN (the recorded campaign they belong to)."))
        return None
    if args.results is None or args.treatment is not None:
        raise DataValidationError(t("--learn-from needs --results FILE (what the campaign's customers did), and "
                                    "no --treatment (the uplift is learnt from the campaign, not from a column)."))
    from lib.act.campaigns import campaign_outcomes
    from lib.data.io import load_table

    results = load_table(args.results).frame
    return campaign_outcomes(args.learn_from, results, outcome_col=args.results_outcome, data_dir=args.data_dir)


def _risk_settings(args: argparse.Namespace):
    if args.exclude_risky and not args.risk:
        raise DataValidationError(t("--exclude-risky goes with --risk (the check that flags risky customers)."))
    if not args.risk:
        return None
    from lib.models.risk import RiskSettings

    return RiskSettings(share=args.risk_share)


def _score_risk_settings(args: argparse.Namespace, bundle):
    """``score``: the model's risk thresholds apply whenever it carries them; --risk asks for a check
    without them, --risk-share changes the share flagged."""
    saved = (bundle.data.get("risk") or {}).get("share")
    if args.exclude_risky and not (args.risk or saved is not None):
        raise DataValidationError(t("--exclude-risky goes with --risk (the check that flags risky customers)."))
    if not (args.risk or args.risk_share is not None):
        return None
    from lib.models.risk import RiskSettings

    share = args.risk_share if args.risk_share is not None else saved if saved is not None else RiskSettings.share
    return RiskSettings(share=share)
