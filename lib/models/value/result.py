"""What customer value returns: every customer's value, the method chosen and why, the forecast."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lib.models.value.bgnbd import BGNBDParams, GammaGammaParams
from lib.models.value.boosted import BoostedFit
from lib.models.value.settings import METHOD_LABELS
from lib.text.i18n import t


@dataclass(frozen=True)
class ValueResult:
    """Every customer's predicted value, the method chosen and why, and the revenue forecast.

    ``table`` has one row per customer in the log (``customer_id`` as ``lib.data.schema.ids_as_text``):
    ``p_buy`` (chance of buying in the next ``horizon_days``), ``predicted_orders``, ``predicted_value``
    (spend, net of returns), ``churn_risk`` (1 - ``p_buy``) and ``clv_12m`` (spend over the next
    ``clv_months`` months, undiscounted).
    """

    table: pd.DataFrame
    method: str  # whose ranking: the chosen method
    total_method: str  # whose total (the chosen method unless another's was clearly closer when checked)
    horizon_days: int
    clv_months: int
    as_of: pd.Timestamp  # predictions cover [as_of, as_of + horizon_days)
    validation_cutoff: pd.Timestamp  # the held-out window is [validation_cutoff, as_of)
    forecast_total: float
    forecast_low: float
    forecast_high: float
    band_factor: float  # low = total / factor, high = total × factor
    validation: pd.DataFrame  # one row per method, the chosen one flagged
    holdout: pd.DataFrame  # per customer of the check: actual_spend, bought, predicted_<method> (for a chart)
    monthly: pd.DataFrame  # month, revenue, complete
    caveat: str
    selection: str  # the rule and what it gave, in words
    notes: tuple[str, ...]
    bgnbd: BGNBDParams | None
    gamma_gamma: GammaGammaParams | None
    new_customer_share: float  # share of the held-out window's revenue from customers new in it
    seconds: float
    explainer: _Explainer | None = field(default=None, repr=False, compare=False)

    @property
    def method_label(self) -> str:
        return t(METHOD_LABELS[self.method])

    def to_report(self) -> dict:
        """Plain JSON for report.json."""
        def r(v: float, nd: int = 4) -> float | None:
            return None if v is None or not np.isfinite(v) else round(float(v), nd)

        return {
            "method": self.method,
            "method_label": self.method_label,
            "total_method": self.total_method,
            "horizon_days": self.horizon_days,
            "clv_months": self.clv_months,
            "as_of": str(self.as_of.date()),
            "validation_window": [str(self.validation_cutoff.date()), str((self.as_of - pd.Timedelta(days=1)).date())],
            "customers": int(len(self.table)),
            "forecast_total": r(self.forecast_total, 2),
            "forecast_low": r(self.forecast_low, 2),
            "forecast_high": r(self.forecast_high, 2),
            "band_factor": r(self.band_factor, 3),
            "validation": {
                row["method"]: {k: (r(row[k]) if k != "customers" else int(row[k])) for k in
                                ("customers", "spearman", "top10_capture", "top20_capture", "total_ratio", "churn_auc")}
                for _, row in self.validation.iterrows()
            },
            "selection": self.selection,
            "caveat": self.caveat,
            "notes": list(self.notes),
            "new_customer_share": r(self.new_customer_share, 3),
            "bgnbd": self.bgnbd.to_dict() if self.bgnbd else None,
            "gamma_gamma": self.gamma_gamma.to_dict() if self.gamma_gamma else None,
            "seconds": round(self.seconds, 2),
        }


@dataclass(frozen=True)
class _Explainer:
    """What explaining ``predicted_value`` needs: the fitted models and the features they saw."""

    method: str
    ids: np.ndarray
    features: pd.DataFrame  # boosted / hurdle: model inputs; bgnbd: x, tx, T
    boosted: BoostedFit | None
    run_rate: np.ndarray | None  # hurdle only: the run rate times the hurdle's scale
    scale: float  # the level correction applied to the model's predicted_value (1 when none)
