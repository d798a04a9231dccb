"""Customer value: each customer's chance of buying, expected orders and spend over the next H days, churn
risk and a 12-month value, plus the revenue forecast they add up to, checked out of time.

Four ways to predict, compared on the latest window the log allows (its last H days, held out):

- ``naive``: what the customer spent before, scaled to H days. The yardstick, never the answer.
- ``bgnbd``: BG/NBD (how often and how long customers buy, Fader, Hardie & Lee 2005) × Gamma-Gamma
  (how much per purchase day), fitted by maximum likelihood with scipy. Needs only frequency, recency
  and age, so it works on short logs; it assumes steady buying, so it misses seasons.
- ``boosted``: XGBoost trained out of time. Features are computed at earlier cutoffs (monthly, back a
  year) and the label is what the customer spent in the H days after each cutoff, so the model learns
  from the log's own history what "the next H days" look like, including the season a year earlier
  when the log reaches back. A classifier gives the chance of buying, a Tweedie regressor the spend,
  a Poisson regressor the orders.
- ``hurdle``: the same classifier's chance of buying × the customer's past spend rate, scaled to the
  Tweedie regressor's total. On seasonal retail logs past spend ranks the big spenders as well as
  anything, while the classifier knows better who buys at all: the product ranks better than either.

Nothing ever sees the window it predicts: every method gets only ``Activity.before(cutoff)`` (the
slice is made in one place), and the boosted model's labels come from inside that slice. The method
with the best ranking on the held-out window (Spearman plus top-10% capture) is refitted on the whole
log and applied at its last date; its total may come from another method whose total was clearly
closer on that window. The forecast band is the total's miss on that window, applied both ways.

Measured on UCI Online Retail (bench/value.py): no method ranks much better than past spend on a
seasonal business, and all under-forecast the Christmas quarter when the log holds no Christmas
before it; the caveat says so in words.
"""

from __future__ import annotations

from lib.models.value.activity import (
    Activity,
    activity_from_log,
    actual_spend,
)
from lib.models.value.bgnbd import (
    BGNBDFit,
    BGNBDParams,
    GammaGammaParams,
    bgnbd_expected,
    bgnbd_log_likelihood,
    bgnbd_p_alive,
    bgnbd_p_none,
    fit_bgnbd,
    fit_bgnbd_model,
    fit_gamma_gamma,
    gamma_gamma_mean,
    predict_bgnbd,
    rfm_weeks,
)
from lib.models.value.boosted import (
    BoostedFit,
    fit_boosted,
    hurdle_scale,
    predict_boosted,
)
from lib.models.value.explain import (
    BGNBD_DRIVERS,
    _fmt,
    _value_effects,
    explain_value,
    feature_words,
    value_importance,
)
from lib.models.value.features import (
    Prediction,
    predict_naive,
    value_features,
)
from lib.models.value.forecast import (
    forecast_by_segment,
    forecast_chart_frame,
)
from lib.models.value.result import (
    ValueResult,
)
from lib.models.value.settings import (
    BOUNDARY_DROPOUT,
    EARLY_STOP,
    MAX_TRAINING_ROWS,
    MAX_TREES,
    METHOD_LABELS,
    METHODS,
    MIN_HISTORY_DAYS,
    MODEL_METHODS,
    SPEND_WINDOWS,
    TOTAL_SWITCH_MARGIN,
    TWEEDIE_POWER,
    WEEK,
    XGB_VALUE_PARAMS,
    ValueSettings,
)
from lib.models.value.step import (
    customer_value,
)
from lib.models.value.validation import (
    metrics,
)

__all__ = [
    "_fmt",
    "_value_effects",
    "Activity",
    "activity_from_log",
    "actual_spend",
    "BGNBD_DRIVERS",
    "bgnbd_expected",
    "bgnbd_log_likelihood",
    "bgnbd_p_alive",
    "bgnbd_p_none",
    "BGNBDFit",
    "BGNBDParams",
    "BoostedFit",
    "BOUNDARY_DROPOUT",
    "customer_value",
    "EARLY_STOP",
    "explain_value",
    "feature_words",
    "fit_bgnbd",
    "fit_bgnbd_model",
    "fit_boosted",
    "fit_gamma_gamma",
    "forecast_by_segment",
    "forecast_chart_frame",
    "gamma_gamma_mean",
    "GammaGammaParams",
    "hurdle_scale",
    "MAX_TRAINING_ROWS",
    "MAX_TREES",
    "METHOD_LABELS",
    "METHODS",
    "metrics",
    "MIN_HISTORY_DAYS",
    "MODEL_METHODS",
    "predict_bgnbd",
    "predict_boosted",
    "predict_naive",
    "Prediction",
    "rfm_weeks",
    "SPEND_WINDOWS",
    "TOTAL_SWITCH_MARGIN",
    "TWEEDIE_POWER",
    "value_features",
    "value_importance",
    "ValueResult",
    "ValueSettings",
    "WEEK",
    "XGB_VALUE_PARAMS",
]
