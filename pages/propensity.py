"""Step 3: train a propensity model honestly, see how good it is, tie the cut-off to money, save it."""

import streamlit as st

from lib.act import plots
from lib.flow.pipeline import TrainSettings
from lib.models.learners import LEARNERS
from lib.models.propensity import confusion_at, profit_curve
from lib.text.i18n import number, percent, t
from pages import exports, state, steps, ui
from pages import scored as scored_steps

st.title(t("Propensity model"))
cust, und = ui.require_data()
st.write(t("Predict who is likely to respond, buy or churn. XGBoost is trained on 80% of labelled customers and "
           "judged on the 20% it never saw, next to a simple logistic-regression baseline."))

if und.target is None:
    st.info(t("Choose a **target** column on the Upload page first (e.g. *responded* or *churned*)."))
    st.page_link("pages/upload.py", label=t("Go to Upload"), icon=":material/upload:")
    st.stop()
if und.target_problem:
    st.error(und.target_problem + " " + t("Choose another target on the Upload page."))
    st.stop()
if state.horizon():
    st.write(t("Target: **bought again within {days} days**. The model learns from an earlier window and is judged "
               "on the latest one it never saw (out-of-time validation); today's customers are then scored.",
               days=state.horizon()))
else:
    st.write(t("Target: **{target}** (positive = **{positive}**).", target=und.target, positive=und.positive))
if any(w in str(c).lower() for c in cust.frame.columns for w in ("treat", "control", "group", "arm", "sent")):
    st.page_link("pages/uplift.py", label=t("This file may say who got a campaign: model the uplift (who the "
                                            "campaign changes) instead"), icon=":material/call_split:")
candidates = und.feature_columns
previous = state.train_settings()
features = st.multiselect(t("Features"), candidates, key=f"model_features_{steps.understanding_key()}",
                          default=[f for f in (previous.features if previous and previous.features else candidates)
                                   if f in candidates])  # keyed: a language switch keeps the choice
seed = int(state.setting(st.number_input, t("Random seed"), "cfg_model_seed", default=42, step=1))
learners = state.setting(st.selectbox, t("Learners to compare"), "cfg_model_learners", default="auto",
                         options=["auto", "all", *LEARNERS])
settings = TrainSettings(features=tuple(features), allow=previous.allow if previous else (), seed=seed,
                         learners=learners)
if not features:
    st.info(t("Choose at least one feature."))
    st.stop()
if st.button(t("Train model"), type="primary") or previous == settings:
    with st.status(t("Training…"), expanded=True) as status:
        status.write(t("Splitting, cross-validating and training XGBoost and the baseline"))
        with ui.guarded(t("training the model")):
            result = steps.train(settings)
        st.session_state["model_settings"] = settings
        status.write(t("Computing exact SHAP explanations for every customer"))
        with ui.guarded(t("explaining the model")):
            scored = scored_steps.trained_scored()
        status.update(label=t("Model ready: holdout AUC {auc}", auc=f"{result.metrics.roc_auc:.3f}"), state="complete",
                      expanded=False)
else:
    st.info(t("Choose the features, then press **Train model**."))
    st.stop()

for w in result.warnings:
    st.warning(w)
leaks = [e for e in result.excluded_features if "kind" in e]  # leakage suspects; their reason is in words
if leaks:
    st.write(t("**Kept out of the model as outcomes of the target** (a model using them would look better than it "
               "is):"))
    for e in leaks:
        st.warning(f"**{e['column']}**: {e['reason'].removeprefix('leakage: ')}")
    keep = st.multiselect(t("Allow back in (only columns known before the campaign)"), [e["column"] for e in leaks],
                          key="model_allow_pick")
    if st.button(t("Retrain with them")):
        st.session_state["model_settings"] = TrainSettings(tuple(features), tuple(keep), seed, learners=learners)
        st.rerun()
elif settings.allow:
    st.info(t("Allowed back in by you: {columns}.", columns=", ".join(settings.allow)))

if not result.gate_passed:
    st.error(t("**This model is not good enough to target by score yet.**") + " " + " ".join(result.gate_reasons))
else:
    st.success(t("The model ranks customers well: it is right {share} of the time when it compares a responder with "
                 "a non-responder (AUC).", share=percent(result.metrics.roc_auc, 0)))

m, b = result.metrics, result.baseline_metrics
cols = st.columns(5)
cols[0].metric(t("Holdout AUC"), f"{m.roc_auc:.3f}", t("{delta} vs baseline", delta=f"{m.roc_auc - b.roc_auc:+.3f}"))
cols[1].metric(t("PR AUC"), f"{m.pr_auc:.3f}", t("{delta} vs baseline", delta=f"{m.pr_auc - b.pr_auc:+.3f}"))
cols[2].metric(t("Top-decile lift"), f"{result.lift.iloc[0]['lift']:.1f}×")
cols[3].metric(t("Brier score"), f"{m.brier:.3f}", f"{m.brier - b.brier:+.3f}", delta_color="inverse")
cols[4].metric(t("Positives"), number(result.positives))
if result.cv_auc and result.algorithm == "xgboost":
    st.caption(t("{folds}-fold cross-validation AUC on the training part: {aucs}. {trees} trees (early stopping). "
                 "Scores are probabilities calibrated by Platt scaling on a validation fold.", folds=len(result.cv_auc),
                 aucs=", ".join(f"{a:.3f}" for a in result.cv_auc), trees=result.best_iteration + 1))

if (learner_table := steps.learner_table(result)) is not None:
    st.subheader(t("Compare learners"))
    st.write(result.comparison.verdict)
    st.dataframe(learner_table, hide_index=True)

c1, c2 = st.columns(2)
c1.plotly_chart(plots.lift_chart(result), width="stretch")
c2.plotly_chart(plots.gain_chart(result), width="stretch")
c1.plotly_chart(plots.calibration_chart(result), width="stretch")
if scored.segmentation is not None:
    c2.plotly_chart(scored_steps.score_by_segment_chart(scored), width="stretch")

st.subheader(t("What is a contact worth?"))
st.write(t("Set the campaign's economics: Bullseye finds how many customers to contact for the most profit."))
e1, e2, e3 = st.columns(3)
cost = state.setting(e1.number_input, t("Cost per contact"), "cfg_cost", default=1.0, min_value=0.0, step=0.1)
value = state.setting(e2.number_input, t("Value per conversion"), "cfg_value", default=25.0, min_value=0.01, step=1.0)
budget = state.setting(e3.number_input, t("Budget (0 = no limit)"), "cfg_budget", default=0.0, min_value=0.0,
                       step=100.0)
plan = profit_curve(scored.sorted_scores(), cost, value, budget=budget or None)
p1, p2, p3 = st.columns(3)
p1.metric(t("Best number to contact"), number(plan.best_contacts))
p2.metric(t("Expected profit"), number(plan.best_profit))
p3.metric(t("Break-even score"), percent(plan.break_even_score),
          help=t("Contacting a customer pays off when their score is above cost ÷ value."))
st.plotly_chart(plots.profit_chart(plan), width="stretch")
threshold = st.slider(t("Score threshold for the confusion matrix"), 0.0, 1.0,
                      float(min(max(plan.best_threshold, 0.0), 1.0)), 0.01, key=f"model_threshold_{steps.model_key()}")
st.dataframe(confusion_at(result.holdout_labels, result.holdout_scores, threshold), width="stretch")
st.caption(t("Counts on the holdout customers (never seen in training)."))

st.subheader(t("Keep this model"))
with st.expander(t("Model card: what this model is"), expanded=False):
    ui.model_card(scored.card)
make_model = steps.model_file_maker()
exports.download_file(st, t("Save model (.bullseye file)"), lambda: (make_model(), [], 0, False),
                      f"{state.source()['name'].split('.')[0]}.bullseye", "application/zip",
                      help=t("One file with the trees, the encoding, the segments and the model card: score next "
                             "month's export with it on the Score a new file page or with `python -m lib.cli score`. "
                             "It holds no customer rows."))
ui.next_step("pages/explain.py", t("see why customers score high"))
