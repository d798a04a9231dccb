"""Layout helpers every page shares: the error guard, the guard clause for data, links, the model card."""

from __future__ import annotations

import contextlib
import logging
import uuid

import streamlit as st

from lib.errors import DataValidationError
from lib.flow.model_file import card_lines
from lib.text.i18n import t
from pages import scored as scored_steps
from pages import state, steps

log = logging.getLogger("bullseye.app")


@contextlib.contextmanager
def guarded(action: str | None = None):
    """Show a user's mistake as a clear message, and a bug as an apology with an error id (the
    traceback goes to the log, never to the page)."""
    action = action or t("this step")
    try:
        yield
    except DataValidationError as exc:
        st.error(str(exc))
        st.stop()
    except Exception:  # st.stop()/rerun are BaseExceptions and pass through untouched
        error_id = uuid.uuid4().hex[:8]
        log.exception("error %s during %s", error_id, action)
        st.error(t("Something went wrong during {action} (error id {error_id}). Your data is safe; try again, "
                   "and if it happens again send us the error id.", action=action, error_id=error_id))
        st.stop()


def delimiters() -> dict:
    """The delimiters in words (lib.data.io.DELIMITER_NAMES in the page's language); None: detect it."""
    return {None: t("automatic"), ",": t("comma"), ";": t("semicolon"), "\t": t("tab"), "|": t("pipe")}


def none_as(label: str):
    """A ``format_func`` showing None as ``label`` (translated now: Streamlit may call it after the run)."""
    return lambda value: label if value is None else value


def require_data():
    """Guard clause for every page after Upload: (customers, understanding) or stop with a pointer."""
    if state.source() is None:
        st.info(t("Start by loading data on the **Upload** page (or try a sample there)."))
        st.page_link("pages/upload.py", label=t("Go to Upload"), icon=":material/upload:")
        st.stop()
    with guarded(t("loading your file")):
        return steps.customers(), steps.understanding()


def require_log(what: str) -> None:
    """Guard clause for pages that learn from order lines (customer value, recommendations)."""
    if not state.is_transactions():
        st.info(t("{what} need a transaction log (one row per order line, with customer, date and amount, and a "
                  "product column for recommendations). Load one on the Upload page and switch on *This is a "
                  "transaction log*.", what=what))
        st.page_link("pages/upload.py", label=t("Go to Upload"), icon=":material/upload:")
        st.stop()


def require_scores() -> scored_steps.Scored:
    """Guard clause for Explain and Target list: the scored customers on screen, or stop with a pointer."""
    if not state.scoring_new_file():
        require_data()
    with guarded(t("scoring")):
        scored = scored_steps.scored()
    if scored is None:
        st.info(t("Train a propensity model first, or score a new file with a saved model."))
        st.page_link("pages/propensity.py", label=t("Go to Propensity model"), icon=":material/trending_up:")
        st.stop()
    if state.scoring_new_file():
        st.caption(t("Showing **{label}**. Go back to the trained file on the Score a new file page.",
                     label=scored.label))
    return scored


def model_card(card: dict) -> None:
    """What the model is, in words (from the manifest of a saved model, or the run just trained)."""
    for what, says in card_lines(card):
        st.markdown(f"**{what}:** {says}")


def next_step(page: str, label: str) -> None:
    st.divider()
    st.page_link(page, label=t("Next: {step}", step=label), icon=":material/arrow_forward:")


def rollup_column_boxes(cols, names: list[str]) -> None:
    """Customer, date and amount columns of a transaction log's roll-up, each changeable (and undone by
    "Go back to the detected columns" when a choice makes the roll-up impossible)."""
    boxes = st.columns(3)  # None stands for quantity × unit price: an option's value never depends on the language
    for box, label, k, options, current in (
        (boxes[0], t("Customer id"), "cfg_customer_col", names, cols.customer),
        (boxes[1], t("Date"), "cfg_date_col", names, cols.date),
        (boxes[2], t("Amount"), "cfg_amount_col", [None] * bool(cols.quantity and cols.unit_price) + names,
         cols.amount),
    ):
        picked = box.selectbox(label, options, index=options.index(current), format_func=none_as(
            t("(quantity × unit price)")), key=f"rollup_{k}_{st.session_state.get('rollup_version', 0)}")
        if picked != current:
            st.session_state[k] = picked
            st.rerun()


def as_of_picker(choice) -> None:
    """The as-of date of a rolled-up log (``lib.flow.pipeline.AsOfChoice``): the export's plausible end
    until the user picks another day; what the day in use leaves out is said under it."""
    if choice is None:
        return
    picked = st.date_input(
        t("As of (only lines before this day count)"), value=choice.chosen.date(),
        min_value=choice.earliest.date(), max_value=choice.latest.date(), key="w_cfg_as_of",
        help=t("Suggested: the day after the export's last plausible line ({date}). Pick an earlier day to see "
               "the customers as they were then, or a later one to count stray late lines.",
               date=choice.suggested.date()))
    wanted = None if picked is None or picked == choice.suggested.date() else picked.isoformat()
    if wanted != st.session_state.get("cfg_as_of"):
        st.session_state["cfg_as_of"] = wanted
        st.rerun()
    st.caption(choice.note)


def role_help() -> str:
    """What each column role means (lib.data.schema.ROLE_LABELS), in the page's language."""
    labels = {"identifier": t("Identifier"), "pii": t("Personal data (PII)"), "date": t("Date"), "numeric": t("Number"),
              "categorical": t("Category"), "binary": t("Yes/no flag"), "text": t("Free text"),
              "constant": t("Constant"), "empty": t("Mostly empty")}
    return "; ".join(f"{role}: {label}" for role, label in labels.items())


def progress_bar(rows: int):
    """A progress bar for explaining a big file, with the CLI's progress line as its text; None for
    files small enough to finish at once."""
    import time

    from lib.flow.steps import EXPLAIN_BATCH_ROWS
    from lib.scale.streaming import progress_line

    if rows <= EXPLAIN_BATCH_ROWS:
        return None
    bar, t0 = st.progress(0.0, text=t("Explaining {n} customers…", n=f"{rows:,}")), time.perf_counter()

    def update(done: int, total: int) -> None:
        bar.progress(done / total, text=progress_line(done, total, time.perf_counter() - t0))

    return update


def ranking_choice(uplift: bool, uplift_beats_random: bool, value: bool):
    """The Target list's "Rank customers by" choice among the orders this run can give; the default is
    lib.flow.listing's ``auto`` (uplift when it beats random, else score)."""
    from lib.flow.listing import choose_ranking

    ranks = ["score"] + ["uplift"] * uplift + ["expected_profit"] * value + ["uplift_value"] * (uplift and value)
    default = choose_ranking("auto", uplift=uplift, uplift_beats_random=uplift_beats_random).by
    words = {"score": t("Score (likely to respond)"), "uplift": t("Uplift (changed by the campaign)"),
             "expected_profit": t("Expected profit (score × each customer's predicted value − cost)"),
             "uplift_value": t("Uplift × predicted value − cost")}
    by = state.setting(st.radio, t("Rank customers by"), "cfg_tgt_rank", default=default, options=ranks,
                       horizontal=True, format_func=words.get) if len(ranks) > 1 else "score"
    return choose_ranking(by if by in ranks else default, uplift=uplift, uplift_beats_random=uplift_beats_random,
                          value=value)


def risk_switch(base):
    """The Target list's one switch: leave customers flagged on the Risk page off the list (off by default),
    showing how many it removes. Returns the base (with risk_flag when the check has run) and the choice."""
    from lib.flow.learn_more import with_risk
    from pages import log_steps

    danger = log_steps.customer_risk()
    if danger is None:
        return base, False
    base = with_risk(base, danger)
    n = int(base["risk_flag"].sum())
    return base, st.checkbox(t("Leave out customers flagged as risky ({n})", n=n), value=False, key="tgt_no_risky")
