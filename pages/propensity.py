"""Step 3: train a propensity model honestly, see how good it is, and tie the cut-off to money."""

import streamlit as st

from lib import plots
from lib.propensity import confusion_at, profit_curve
from pages import common

st.title("Propensity model")
frame, schema = common.require_data()
st.write("Predict who is likely to respond, buy or churn. XGBoost is trained on 80% of labelled customers and "
         "judged on the 20% it never saw, next to a simple logistic-regression baseline.")

target, positive = common.target_choice()
if target is None:
    st.info("Choose a **target** column on the Upload page first (e.g. *responded* or *churned*).")
    st.page_link("pages/upload.py", label="Go to Upload", icon=":material/upload:")
    st.stop()
if common.repurchase_horizon():
    st.write(f"Target: **bought again within {common.repurchase_horizon()} days**. The model learns from an "
             "earlier window and is judged on the latest one it never saw (out-of-time validation); today's "
             "customers are then scored.")
else:
    st.write(f"Target: **{target}** (positive = **{positive}**).")
candidates = [c for c in schema.feature_columns() if c != target]
previous = st.session_state.get("model_params")
features = st.multiselect("Features", candidates,
                          default=[f for f in (previous[2] if previous else candidates) if f in candidates])
allow = tuple(st.session_state.get("model_allow", ()))
seed = int(st.number_input("Random seed", value=42, step=1))
params = (target, positive, tuple(features), allow, seed)

if not features:
    st.info("Choose at least one feature.")
    st.stop()
if st.button("Train model", type="primary") or previous == params:
    with st.status("Training…", expanded=True) as status:
        status.write("Splitting, cross-validating and training XGBoost and the baseline")
        with common.guarded("training the model"):
            model = common.train_model(*params)
        status.write("Computing exact SHAP explanations for every customer")
        with common.guarded("explaining the model"):
            common.explanation()
        status.update(label=f"Model ready: holdout AUC {model.metrics.roc_auc:.3f}", state="complete", expanded=False)
else:
    st.info("Choose the features, then press **Train model**.")
    st.stop()

for w in model.warnings:
    st.warning(w)
leaks = [e for e in model.excluded_features if e["reason"].startswith("leakage")]
for e in leaks:
    st.warning(f"Excluded **{e['column']}**: {e['reason']}")
if leaks:
    keep = st.multiselect("Re-include excluded columns anyway", [e["column"] for e in leaks], key="model_allow_pick")
    if st.button("Retrain with them"):
        st.session_state["model_allow"] = keep
        st.session_state["model_params"] = (target, positive, tuple(features), tuple(keep), seed)
        st.rerun()

if not model.gate_passed:
    st.error("**This model is not good enough to target by score yet.** " + " ".join(model.gate_reasons))
else:
    st.success(f"The model ranks customers well: it is right {model.metrics.roc_auc:.0%} of the time when it "
               "compares a responder with a non-responder (AUC).")

m, b = model.metrics, model.baseline_metrics
cols = st.columns(5)
cols[0].metric("Holdout AUC", f"{m.roc_auc:.3f}", f"{m.roc_auc - b.roc_auc:+.3f} vs baseline")
cols[1].metric("PR AUC", f"{m.pr_auc:.3f}", f"{m.pr_auc - b.pr_auc:+.3f} vs baseline")
cols[2].metric("Top-decile lift", f"{model.lift.iloc[0]['lift']:.1f}×")
cols[3].metric("Brier score", f"{m.brier:.3f}", f"{m.brier - b.brier:+.3f}", delta_color="inverse")
cols[4].metric("Positives", f"{model.positives:,}")
if model.cv_auc:
    st.caption(f"{len(model.cv_auc)}-fold cross-validation AUC on the training part: "
               + ", ".join(f"{a:.3f}" for a in model.cv_auc)
               + f". {model.best_iteration + 1} trees (early stopping). Scores are probabilities calibrated by "
               "Platt scaling on a validation fold.")

c1, c2 = st.columns(2)
c1.plotly_chart(plots.lift_chart(model), width="stretch")
c2.plotly_chart(plots.gain_chart(model), width="stretch")
c1.plotly_chart(plots.calibration_chart(model), width="stretch")
seg = common.segmentation()
if seg is not None:
    c2.plotly_chart(common.score_by_segment_chart(seg), width="stretch")

st.subheader("What is a contact worth?")
st.write("Set the campaign's economics: Bullseye finds how many customers to contact for the most profit.")
e1, e2, e3 = st.columns(3)
cost = common.setting(e1.number_input, "Cost per contact", "cfg_cost", default=1.0, min_value=0.0, step=0.1)
value = common.setting(e2.number_input, "Value per conversion", "cfg_value", default=25.0, min_value=0.01, step=1.0)
budget = common.setting(e3.number_input, "Budget (0 = no limit)", "cfg_budget", default=0.0, min_value=0.0, step=100.0)
plan = profit_curve(common.sorted_scores(), cost, value, budget=budget or None)
p1, p2, p3 = st.columns(3)
p1.metric("Best number to contact", f"{plan.best_contacts:,}")
p2.metric("Expected profit", f"{plan.best_profit:,.0f}")
p3.metric("Break-even score", f"{plan.break_even_score:.1%}",
          help="Contacting a customer pays off when their score is above cost ÷ value.")
st.plotly_chart(plots.profit_chart(plan), width="stretch")

threshold = st.slider("Score threshold for the confusion matrix", 0.0, 1.0,
                      float(min(max(plan.best_threshold, 0.0), 1.0)), 0.01)
st.dataframe(confusion_at(model.holdout_labels, model.holdout_scores, threshold), width="stretch")
st.caption("Counts on the holdout customers (never seen in training).")
common.next_step("pages/explain.py", "see why customers score high")
