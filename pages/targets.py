"""Step 5: build the list to send, with a control group, and download it (recorded as a campaign)."""

from dataclasses import replace
from datetime import date

import streamlit as st

from lib.act.campaigns import record_campaign
from lib.act.targeting import ListSpec, export_columns
from lib.data.privacy import pseudonymise
from lib.errors import DataValidationError
from lib.flow.pipeline import choose_ranking, make_list, with_offers, with_uplift_by_id, with_value_by_id
from lib.text.i18n import number, t
from pages import auth, exports, headers, log_steps, state, ui
from pages import scored as scored_steps

st.title(t("Target list"))
if state.scoring_new_file():
    scored = ui.require_scores()
else:
    cust, und = ui.require_data()
    scored = scored_steps.trained_scored()
with ui.guarded(t("preparing customers")):
    table = scored.table() if scored is not None else scored_steps.customer_table()
    base = scored.list_base() if scored is not None else scored_steps.list_base()
roles = scored.roles if scored is not None else dict(und.schema.roles)
has_score = scored is not None
if not has_score:
    st.info(t("No scores yet: the list can filter by segment and columns. Train a model to target by score."))
elif scored.gate_reasons:
    st.warning(t("The model failed its quality gate:") + " " + " ".join(scored.gate_reasons))
    if not st.checkbox(t("Use the scores anyway"), key="tgt_use_anyway"):
        st.stop()

st.subheader(t("Who may be on the list"))
c1, c2 = st.columns(2)
segments = ()
if "segment_name" in table.columns:  # chosen by id: a segment's name changes with the language, its id does not
    names = {int(i): n for i, n in table[["segment", "segment_name"]].drop_duplicates().itertuples(index=False)}
    if not set(st.session_state.get("cfg_tgt_segments", ())) <= set(names):  # segments were re-run
        st.session_state.pop("cfg_tgt_segments", None), st.session_state.pop("w_cfg_tgt_segments", None)
    segments = tuple(names[i] for i in state.setting(c1.multiselect, t("Segments (none = all)"), "cfg_tgt_segments",
                                                     options=sorted(names, key=names.get), format_func=names.get))
lo, hi = state.setting(c2.slider, t("Score range"), "cfg_tgt_range", default=(0.0, 1.0), min_value=0.0, max_value=1.0,
                       step=0.01) if has_score else (0.0, 1.0)
text_cols = [c for c, r in roles.items() if r in ("binary", "categorical", "pii") and c in base.columns]
consent = state.setting(c1.selectbox, t("Consent column (customers with 'no' are left out)"), "cfg_tgt_consent",
                        default=next((c for c in text_cols if "consent" in c.lower()), None), options=[None] + text_cols)
pseudo = exports.switch(c2)
# Personal data never leaves with pseudonyms: contact columns are offered only for a plain send list.
pii = [c for c, r in roles.items() if r == "pii" and c in base.columns and not pseudo]
contact_cols = [c for c in state.setting(c2.multiselect, t("Contact columns to include (rows missing them are left out)"),
                                         "cfg_tgt_contacts", default=[], options=pii) if c in pii]

st.subheader(t("How many"))
sizes = {"Top N": t("Top N"), "Top %": t("Top %"), "Budget": t("Budget"),
         "Everyone who passes the filters": t("Everyone who passes the filters")}
mode = state.setting(st.radio, t("Size"), "cfg_tgt_mode", options=list(sizes), horizontal=True, format_func=sizes.get)
k1, k2, k3 = st.columns(3)
top_n = top_pct = budget = None
cost = state.setting(k2.number_input, t("Cost per contact"), "cfg_cost", default=1.0, min_value=0.0, step=0.1)
value = state.setting(k3.number_input, t("Value per conversion"), "cfg_value", default=25.0, min_value=0.01, step=1.0)
if mode == "Top N":
    top_n = int(state.setting(k1.number_input, t("N"), "cfg_tgt_top_n", default=min(1000, len(table)), min_value=1,
                              step=100))
elif mode == "Top %":
    top_pct = state.setting(k1.slider, t("Percent"), "cfg_tgt_pct", default=10, min_value=1, max_value=100)
elif mode == "Budget":
    budget = state.setting(k1.number_input, t("Budget"), "cfg_tgt_budget", default=1000.0, min_value=0.0, step=100.0)
control_pct = state.setting(st.slider, t("Control group (% of the list kept out of the send, to measure lift later)"),
                            "cfg_tgt_control", default=10, min_value=0, max_value=50)
seed = int(state.setting(st.number_input, t("Random seed for the control group"), "cfg_tgt_seed", default=42, step=1))

spec = ListSpec(segments=segments, min_score=lo if has_score and lo > 0 else None,
                max_score=hi if has_score and hi < 1 else None, top_n=top_n, top_pct=top_pct, budget=budget,
                cost_per_contact=cost, value_per_conversion=value, exclude_no_consent=consent,
                require_contact=tuple(contact_cols), control_pct=float(control_pct), seed=seed)
# Who changes, and what each customer is worth: from a saved model's uplift (a new file), or from the
# Uplift and Customer value pages (the trained file). The order itself is lib.flow.listing's policy.
uplifts, beats, worth = scored.uplift if has_score else None, scored.uplift_beats_random if has_score else False, None
if has_score and not state.scoring_new_file():
    persuaded, worth = log_steps.uplift(), log_steps.customer_value()
    uplifts = None if persuaded is None else persuaded.table["uplift"].to_numpy()
    beats = persuaded is not None and persuaded.beats_random
ranking = ui.ranking_choice(uplifts is not None, beats, worth is not None) if has_score else choose_ranking("score")
for note in ranking.warnings:
    st.warning(note)
if uplifts is not None:
    base = with_uplift_by_id(base, scored.ids, uplifts)
if worth is not None:
    base = with_value_by_id(base, worth.table)
    st.caption(t("Expected profit uses each customer's predicted value (Customer value page), not one flat value:")
               + " " + (t("uplift × value − cost.") if ranking.score_col == "uplift" else t("score × value − cost.")))
base, no_risky = ui.risk_switch(base)
with ui.guarded(t("building the list")):
    tl = make_list(base, replace(spec, exclude_risky=no_risky), ranking)
rec = None if state.scoring_new_file() else log_steps.recommendations()
if rec is not None and st.checkbox(t("Add each customer's top three offers (from Recommendations)"), value=True,
                                   key="tgt_offers"):
    tl = replace(tl, table=with_offers(tl.table, rec))

m = st.columns(4)
m[0].metric(t("To send"), number(tl.selected))
m[1].metric(t("Control group"), number(tl.control))
if has_score:
    m[2].metric(t("Expected extra responders") if ranking.score_col == "uplift" else t("Expected responders"),
                number(tl.expected_responders))
    if tl.expected_profit is not None:
        m[3].metric(t("Expected profit"), number(tl.expected_profit), help=t("Cost {cost}", cost=number(tl.cost)))
if tl.excluded_counts:
    st.caption(t("Left out:") + " " + "; ".join(f"{number(n)} {why}" for why, n in tl.excluded_counts.items()))

id_col = (scored.id_col if scored is not None else und.id_col) or "id"
export = export_columns(tl.table, "id", contact_cols).rename(columns={"id": id_col})
shown = exports.protected(export.head(500), (id_col,), roles, tuple(contact_cols)).frame
st.dataframe(shown, width="stretch", hide_index=True, column_config=headers.shown(shown))

st.subheader(t("Download"))
src = state.scoring_new_file()["file"] if state.scoring_new_file() else state.source()
name = st.text_input(t("Campaign name"), key="tgt_campaign_name", value=f"{src['name'].split('.')[0]} {date.today():%Y-%m-%d}")
card = scored.card if scored is not None else None
about = {"campaign": name, "date": date.today().isoformat(), "file": src["name"], "file_sha256": src["digest"],
         "filters": spec.describe(), "selected": tl.selected, "control": tl.control,
         "model": t("none") if card is None else t("XGBoost, holdout AUC {auc}, id {id}", auc=card["holdout_auc"],
                                                  id=card["model_id"][:12])}


key, owner = exports.key(), auth.current_user()


def _record() -> None:
    try:  # a pseudonymised list is recorded by its pseudonyms: results come back keyed by them
        members = tl.table if key is None else tl.table.assign(id=pseudonymise(tl.table["id"], key))
        record_campaign(name, members, "id", src["digest"], spec.describe(), card, owner=owner,
                        pseudonymised=key is not None)
        st.session_state["tgt_recorded"] = (True, t("Recorded campaign '{name}': compare results on the Campaigns "
                                                    "page.", name=name))
    except DataValidationError as exc:
        st.session_state["tgt_recorded"] = (False, t("Not recorded: {why}", why=exc))


chinese = headers.chinese_headers("target_list")
send = export[export["group"] == "target"] if "group" in export.columns else export
d1, d2, d3 = st.columns(3)
sent = {"id_cols": (id_col,), "roles": roles, "keep_personal": tuple(contact_cols), "campaign": name, "after": _record}
exports.send_list((d1, d2, d3), send, name, about, chinese, **sent)
st.caption(t("The send file holds the target group only; the control group is kept in the campaign record. "
             "Cells that a spreadsheet would run as formulas are neutralised. Every download is logged (Campaigns "
             "page).") + (" " + t("Ids are pseudonyms: the same key gives the same pseudonyms, so results can be "
                                  "matched back.") if pseudo else ""))
if recorded := st.session_state.pop("tgt_recorded", None):
    (st.success if recorded[0] else st.warning)(recorded[1])
exports.audiences(tl.table, roles, consent, name)
ui.next_step("pages/campaigns.py", t("measure results when they come back"))
