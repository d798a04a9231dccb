"""What an uplift run found: the result, its report for report.json, the holdout's uplift by decile and
the verdict in words (what to do: target by uplift, by propensity, or send to all)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lib.models.propensity import score_ranks
from lib.text.i18n import t


@dataclass(frozen=True)
class UpliftResult:
    """The uplift of every customer, how well it ranks on customers it never saw, and what to do."""

    table: pd.DataFrame  # aligned with the input: uplift, p_treated, p_control, uplift_rank/percentile/decile
    method: str  # "t-learner", "s-learner", "x-learner" or "dr-learner"
    qini: float  # normalised Qini coefficient on the holdout (scikit-uplift's qini_auc_score)
    auuc: float  # normalised area under the uplift curve on the holdout (scikit-uplift's uplift_auc_score)
    qini_ci: tuple[float, float]  # bootstrap 95% interval of ``qini``
    p_value: float  # permutation test of the treatment labels (max over the learners tried)
    propensity_qini: float  # the Qini of ranking by p_treated (what a propensity model would do)
    beats_random: bool
    beats_propensity: bool
    ate: float  # average effect of the campaign on the outcome rate (treated minus control)
    ate_ci: tuple[float, float]  # its 95% interval
    response_treated: float
    response_control: float
    n_treated: int  # labelled customers in each arm
    n_control: int
    n_holdout: int
    verdict: str
    uplift_by_decile: pd.DataFrame  # holdout, by predicted-uplift decile (1 = highest)
    qini_curve: pd.DataFrame  # holdout: share targeted vs extra responders (model, random, perfect)
    balance: pd.DataFrame  # per feature: treated vs control, standardised difference, p-value
    randomised: bool
    warnings: tuple[str, ...]
    excluded_features: tuple[dict, ...]
    features: tuple[str, ...]
    learners: dict  # the chosen learner's models (``learners.PARTS``), refitted on every labelled row when ``refit``
    per_learner: dict  # method -> {qini, auuc, seconds, trees}
    target: str
    positive: str
    treatment: str
    treated_value: str
    control_value: str
    holdout: np.ndarray  # boolean, aligned with the input: rows the learners were judged on
    train_seconds: float
    seed: int
    test: str = field(default="")  # how "beats random" was decided, in words
    refit: bool = False  # ``learners`` were refitted on every labelled customer after the holdout judged them

    def refit_note(self) -> str:
        """Where the numbers come from and where the scores come from, in words (the model card says it)."""
        if self.refit:
            return t("The Qini, AUUC and permutation test are those of the {method} fitted on the training part "
                     "and judged on the holdout; it was then refitted on every labelled customer (same number "
                     "of trees) to score.", method=self.method)
        return t("The Qini, AUUC and permutation test are those of this very {method}, fitted on the training "
                 "part and judged on the holdout.", method=self.method)

    @property
    def uplift(self) -> np.ndarray:
        return self.table["uplift"].to_numpy()

    def to_report(self) -> dict:
        deciles = self.uplift_by_decile.round(4)
        return {
            "method": self.method,
            "qini": round(self.qini, 4),
            "auuc": round(self.auuc, 4),
            "ate": round(self.ate, 4),
            "ate_ci": [round(self.ate_ci[0], 4), round(self.ate_ci[1], 4)],
            "n_treated": self.n_treated,
            "n_control": self.n_control,
            "verdict": self.verdict,
            "uplift_by_decile": deciles.to_dict(orient="records"),
            "qini_ci": [round(self.qini_ci[0], 4), round(self.qini_ci[1], 4)],
            "p_value": round(self.p_value, 4),
            "beats_random": self.beats_random,
            "beats_propensity": self.beats_propensity,
            "propensity_qini": round(self.propensity_qini, 4),
            "test": self.test,
            "refit_on_all_rows": self.refit,
            "refit_note": self.refit_note(),
            "per_learner": {k: {m: (round(v, 4) if isinstance(v, float) else v) for m, v in d.items()}
                            for k, d in self.per_learner.items()},
            "response_treated": round(self.response_treated, 4),
            "response_control": round(self.response_control, 4),
            "n_holdout": self.n_holdout,
            "randomised": self.randomised,
            "warnings": list(self.warnings),
            "target": self.target,
            "positive_class": self.positive,
            "treatment": self.treatment,
            "treated_value": self.treated_value,
            "control_value": self.control_value,
            "features": list(self.features),
            "train_seconds": round(self.train_seconds, 2),
        }


def uplift_deciles(y: np.ndarray, t: np.ndarray, uplift: np.ndarray) -> pd.DataFrame:
    """Per decile of predicted uplift (1 = highest): the response of treated and control customers in
    it and their difference, the uplift actually observed there."""
    decile = score_ranks(uplift)["decile"].to_numpy()
    df = pd.DataFrame({"decile": decile, "y": y, "t": t, "u": uplift})
    rows = []
    for d, g in df.groupby("decile", sort=True):
        yt, yc = g.loc[g["t"] == 1, "y"], g.loc[g["t"] == 0, "y"]
        rt = float(yt.mean()) if len(yt) else np.nan
        rc = float(yc.mean()) if len(yc) else np.nan
        rows.append({"decile": int(d), "customers": len(g), "treated": len(yt), "control": len(yc),
                     "response_treated": rt, "response_control": rc, "uplift": rt - rc,
                     "predicted_uplift": float(g["u"].mean())})
    return pd.DataFrame(rows)


def _pts(v: float) -> str:
    return t("{points:+.1f} pts", points=100 * v)


def verdict_text(beats_random: bool, beats_propensity: bool, qini: float, qini_ci: tuple, p_value: float,
                 propensity_qini: float, ate: float, ate_ci: tuple, deciles: pd.DataFrame, skewed: bool) -> str:
    """What the run means for the campaign, in words: whether to target by uplift, by propensity or send to
    all, with the numbers that decided it. ``skewed``: the arms were not assigned at random."""
    significant = ate_ci[0] > 0 or ate_ci[1] < 0
    average = (t("On average the campaign changes the response rate by {pts} (95% interval {low} to {high})", pts=_pts(ate), low=_pts(ate_ci[0]), high=_pts(ate_ci[1])))
    caveat = t(" Treatment was not assigned at random, so treat these numbers with caution.") if skewed else ""
    if not beats_random:
        if significant and ate > 0:
            act = t("send to all (it works on average) or target by propensity")
        elif significant:
            act = t("it lowers responses on average: reconsider sending it at all")
        else:
            act = t("no effect on average either: target by propensity or test a stronger campaign")
        return (t("The data cannot tell who responds to the campaign: target by propensity or send to all. The best uplift ranking's Qini on customers it never saw ({qini:.3f}) is within what random scores reach (permutation p = {p_value:.3f}). {average}: {act}.{caveat}", qini=qini, p_value=p_value, average=average, act=act, caveat=caveat))
    top = deciles.iloc[0]
    top_txt = (t("the top 10% by uplift respond {pts} more when sent the campaign", pts=_pts(top['uplift']))
               if np.isfinite(top["uplift"]) else t("the top 10% by uplift respond more when sent it"))
    if beats_propensity:
        head = (t("Targeting by uplift beats targeting everyone and targeting by propensity (whose Qini is {propensity_qini:.3f})", propensity_qini=propensity_qini))
    else:
        head = (t("Targeting by uplift beats targeting everyone, but not targeting by propensity (whose Qini is {propensity_qini:.3f}): either ranking works", propensity_qini=propensity_qini))
    return (t("{head}: {top_txt}. Qini {qini:.3f} (95% interval {low:.3f} to {high:.3f}, permutation p = {p_value:.3f}). {average}.{caveat}", head=head, top_txt=top_txt, qini=qini, low=qini_ci[0], high=qini_ci[1], p_value=p_value, average=average, caveat=caveat))

