"""Uplift learners: the x- and dr-learner next to t and s, the chosen one refitted on every labelled
customer, saved in the model file as XGBoost JSON, and as good as a careful hand-run learner on a file
shaped like the public e-mail test (Hillstrom) with its outcomes blanked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from xgboost import XGBClassifier

from lib.data.schema import infer_schema
from lib.models.uplift import UpliftSettings, explain_uplift, qini_score, score_uplift, train_uplift
from lib.models.uplift.effect import EffectModel
from lib.models.uplift.learners import PARTS, learner_from_state


def hillstrom_like(n: int = 64_000, seed: int = 0, base: float = 0.006) -> tuple[pd.DataFrame, np.ndarray]:
    """Shaped like the public e-mail test: 64k customers, three arms (men's e-mail, women's e-mail, none)
    collapsed to e-mail vs none, a rare conversion (about 0.6% without e-mail). The e-mail's effect is
    known and varies: recent web buyers of women's wear gain most, lapsed phone buyers nothing. ``base``: the
    conversion rate without e-mail (small files need a higher one to have outcomes in every arm). Returns
    the frame and each customer's true uplift of being sent an e-mail."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "recency": rng.integers(1, 13, n), "history": (rng.gamma(1.2, 200.0, n) + 29.99).round(2),
        "mens": (rng.random(n) < 0.55).astype(int), "womens": (rng.random(n) < 0.55).astype(int),
        "zip_code": rng.choice(["Surburban", "Urban", "Rural"], n, p=[0.45, 0.4, 0.15]),
        "newbie": (rng.random(n) < 0.5).astype(int),
        "channel": rng.choice(["Web", "Phone", "Multichannel"], n, p=[0.44, 0.44, 0.12]),
    })
    arm = rng.choice(["Mens E-Mail", "Womens E-Mail", "No E-Mail"], n)
    z = -0.08 * (frame["recency"] - 6) + 0.3 * (frame["history"] > 300) - 0.3 * frame["newbie"]
    p0 = (base * np.exp(z) / np.exp(z).mean()).to_numpy()
    recent, web = (frame["recency"] <= 4).to_numpy(), (frame["channel"] != "Phone").to_numpy()
    lift_mens = 0.010 * recent * web * (1 + frame["mens"].to_numpy())
    lift_womens = 0.010 * recent * web * (1 + 2 * frame["womens"].to_numpy())
    p = p0 + np.select([arm == "Mens E-Mail", arm == "Womens E-Mail"], [lift_mens, lift_womens], 0.0)
    frame["conversion"] = (rng.random(n) < p).astype(int)
    frame["email"] = np.where(arm == "No E-Mail", "none", "sent")
    return frame, (lift_mens + lift_womens) / 2


def _encoded(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.get_dummies(frame[["recency", "history", "mens", "womens", "zip_code", "newbie", "channel"]],
                          dtype=float)


def hand_run(train: pd.DataFrame, score: pd.DataFrame) -> dict[str, np.ndarray]:
    """What an analyst runs by hand: plain XGBoost, one-hot columns, an S-learner (the arm as a column)
    and a T-learner (one model per arm)."""
    params = dict(n_estimators=200, max_depth=3, learning_rate=0.05, subsample=0.8, random_state=0, n_jobs=2)
    xt, xs, sent = _encoded(train), _encoded(score), (train["email"] == "sent").to_numpy().astype(float)
    s = XGBClassifier(**params).fit(xt.assign(t=sent), train["conversion"])
    s_up = s.predict_proba(xs.assign(t=1.0))[:, 1] - s.predict_proba(xs.assign(t=0.0))[:, 1]
    m1 = XGBClassifier(**params).fit(xt[sent == 1], train["conversion"][sent == 1])
    m0 = XGBClassifier(**params).fit(xt[sent == 0], train["conversion"][sent == 0])
    return {"s": s_up, "t": m1.predict_proba(xs)[:, 1] - m0.predict_proba(xs)[:, 1]}


@pytest.fixture(scope="module")
def blanked_run():
    """Outcomes of 30% of the customers blanked: trained on the rest, judged on them by their hidden outcome."""
    frame, truth = hillstrom_like()
    rng = np.random.default_rng(1)
    blank = rng.random(len(frame)) < 0.3
    run_frame = frame.assign(conversion=frame["conversion"].astype("float").where(~blank))
    result = train_uplift(run_frame, infer_schema(run_frame), "conversion", "1",
                          UpliftSettings("email", treated_value="sent"))
    return frame, truth, blank, result


def test_every_learner_is_tried_and_the_best_qini_chosen(blanked_run):
    _, _, _, result = blanked_run
    assert set(result.per_learner) == {"t-learner", "s-learner", "x-learner", "dr-learner"}
    assert result.method == max(result.per_learner, key=lambda m: result.per_learner[m]["qini"])
    assert result.refit and result.to_report()["refit_on_all_rows"] is True


def test_chosen_learner_reaches_the_hand_run_learners_qini_on_blanked_outcomes(blanked_run):
    frame, truth, blank, result = blanked_run
    y, sent = frame["conversion"].to_numpy()[blank], (frame["email"] == "sent").to_numpy()[blank].astype(int)
    hand = hand_run(frame[~blank], frame[blank])
    ours = qini_score(y, result.uplift[blank], sent)
    best_hand = max(qini_score(y, u, sent) for u in hand.values())
    # Measured on this draw (2026-12-03): ours (s-learner chosen, refitted) 0.202, the same without the refit
    # 0.212, hand-run S 0.210, hand-run T 0.087. The Qini of two good rankings of the same 19k customers differs
    # by about 0.01 from the draw alone, so "reaches" is within that.
    assert ours >= best_hand - 0.01, (ours, {k: qini_score(y, u, sent) for k, u in hand.items()})
    assert ours > min(qini_score(y, u, sent) for u in hand.values())
    # and it ranks by the true effect: measured 0.76 (hand-run S 0.87, T lower; a random order gives 0). The
    # hand-run S-learner tracks the planted effect more closely on this draw while our Qini is as good: the
    # bound below says "follows the true effect", not "as closely as the best hand-run learner".
    true_corr = np.corrcoef(result.uplift[blank], truth[blank])[0, 1]
    assert true_corr >= 0.6, (true_corr, {k: np.corrcoef(u, truth[blank])[0, 1] for k, u in hand.items()})


@pytest.mark.parametrize("learner", ["x", "dr"])
def test_effect_learners_save_as_xgboost_json_and_score_the_same(learner):
    frame, _ = hillstrom_like(n=12_000, seed=3, base=0.03)
    frame["conversion"] = np.where(frame["conversion"] == 1, "yes", "no")
    result = train_uplift(frame, infer_schema(frame), "conversion", "yes",
                          UpliftSettings("email", treated_value="sent", learner=learner))
    assert set(result.learners) == set(PARTS[result.method])
    assert any(isinstance(m, EffectModel) for m in result.learners.values())
    loaded = {name: learner_from_state(*m.to_state()) for name, m in result.learners.items()}
    for name, m in loaded.items():
        assert type(m) is type(result.learners[name])
    again = score_uplift(result.method, loaded, frame)
    assert np.allclose(again["uplift"], result.table["uplift"], atol=1e-9)
    ex = explain_uplift(result, frame.iloc[:300])  # exact TreeSHAP of the effect models: adds up exactly
    assert np.allclose(ex.points.sum(axis=1) + ex.base_points, 100 * result.table["uplift"].iloc[:300], atol=1e-3)


def test_without_refit_the_scoring_models_are_the_validated_ones():
    frame, _ = hillstrom_like(n=12_000, seed=4, base=0.03)
    common = dict(treatment="email", treated_value="sent", learner="t")
    schema = infer_schema(frame)
    kept = train_uplift(frame, schema, "conversion", "1", UpliftSettings(**common, refit=False))
    refit = train_uplift(frame, schema, "conversion", "1", UpliftSettings(**common))
    assert kept.qini == refit.qini  # the reported numbers are the validation run's either way
    assert not np.allclose(kept.uplift, refit.uplift)
    assert "refitted on every labelled customer" in refit.to_report()["refit_note"]
    assert "refitted" not in kept.to_report()["refit_note"]


@pytest.mark.parametrize("learner", ["x", "dr"])
def test_a_saved_model_file_scores_the_effect_learners_uplift_as_the_run_did(learner):
    from lib.data.io import load_table
    from lib.flow import model_file
    from lib.flow.pipeline import RunSettings, SegmentSettings, UnderstandSettings, model_bundle, run
    from lib.flow.reuse import saved_uplift

    frame, _ = hillstrom_like(n=12_000, seed=5, base=0.03)
    frame.insert(0, "customer_id", np.arange(len(frame)))
    loaded = load_table(frame.to_csv(index=False).encode(), "campaign.csv")
    result = run(loaded, RunSettings(understand=UnderstandSettings(target="conversion"), segment=SegmentSettings(k=3),
                                     uplift=UpliftSettings("email", treated_value="sent", learner=learner)))
    assert result.uplift.method == f"{learner}-learner" and result.uplift.refit
    bundle = model_file.load(model_file.to_bytes(model_bundle(
        result.customers, result.understanding, result.model, result.segmentation, result.explanation,
        {"file": "campaign.csv"}, uplift_result=result.uplift)))
    assert set(bundle.uplift["learners"]) == set(PARTS[result.uplift.method])
    assert bundle.uplift["training"]["refit_on_all_rows"] is True
    new = load_table(frame.drop(columns=["email", "conversion"]).to_csv(index=False).encode(), "next.csv").frame
    again = saved_uplift(bundle, new)
    assert np.abs(again["uplift"].to_numpy() - result.uplift.uplift).max() <= 1e-6
