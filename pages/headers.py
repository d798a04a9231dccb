"""Column headers of the tables Bullseye makes: machine-readable names in files (``score``,
``segment_name``...) unless the user asks for Chinese headers; on a Chinese page, Chinese headers on
screen over the same data. (Downloads themselves go through ``pages.exports``.)
"""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from lib.text.i18n import language, t, using


def headers() -> dict[str, str]:
    """Column name in files -> what a person reads, in the current language (numbered columns such as
    ``reason_2`` are handled by ``header``)."""
    return {
        "id": t("Customer id"), "customer_id": t("Customer id"), "segment": t("Segment number"),
        "segment_name": t("Segment"), "score": t("Response score"), "rank": t("Rank"), "decile": t("Decile"),
        "reason": t("Reason"), "group": t("Group"), "uplift": t("Uplift"), "p_treated": t("Probability if sent"),
        "p_control": t("Probability if not sent"), "predicted_value": t("Predicted value"),
        "churn_risk": t("Churn risk"), "recommended": t("Recommended product"), "value_reason": t("Value reason"),
        "expected_profit": t("Expected profit"), "clv_12m": t("Customer value, next 12 months"),
        "name": t("Name"), "customers": t("Customers"), "share": t("Share"), "target rate": t("Target rate"),
        "description": t("Description"), "item": t("Product"),
        "column": t("Column"), "role": t("Role"), "why": t("Why"), "feature": t("Feature"),
        "created_at": t("Created"), "selected": t("Sent"), "control": t("Control group"),
        "campaign": t("Campaign"), "date": t("Date"), "file": t("File"), "file_sha256": t("File SHA-256"),
        "filters": t("Filters"), "model": t("Model"),
        # lib/'s tables shown on the pages (quality, segments, value, recommendations)
        "role_label": t("Role"), "type": t("Type"), "missing_pct": t("Missing (%)"), "distinct": t("Distinct values"),
        "examples": t("Examples"), "problems": t("Problems"), "k": t("Segments"), "silhouette": t("Silhouette"),
        "stability": t("Stability"), "weakest_segment": t("Weakest segment"), "explained": t("Explained"),
        "smallest_share": t("Smallest segment"), "usable": t("Usable"), "note": t("Note"), "rule": t("Rule"),
        "meaning": t("Meaning"), "method": t("Method"), "mode": t("Which products"), "chosen": t("Chosen"),
        "hit_rate_at_k": t("Hit rate"), "recall_at_k": t("Recall"), "ndcg_at_k": t("NDCG"),
        "validation_hit_rate_at_k": t("Hit rate (validation)"), "validation_ndcg_at_k": t("NDCG (validation)"),
        "item_a": t("Product A"), "description_a": t("Description A"), "item_b": t("Product B"),
        "description_b": t("Description B"), "orders_together": t("Orders together"), "lift": t("Lift"),
        "label": t("Method"), "spearman": t("Rank correlation"), "top10_capture": t("Top 10% capture"),
        "top20_capture": t("Top 20% capture"), "total_ratio": t("Forecast ÷ actual"), "churn_auc": t("Churn AUC"),
        "total_from": t("Total from"), "p_buy": t("Probability of buying"), "predicted_orders": t("Predicted orders"),
        "low": t("Low"), "high": t("High"), "share_of_total": t("Share of total"),
        # risk control (lib/models/risk)
        "risk_score": t("Risk score"), "risk_pattern": t("Pattern"), "risk_reason": t("Risk reason"),
        "level": t("Level"), "order_id": t("Order"), "flagged": t("Flagged"), "flagged_share": t("Flagged share"),
    }


def header(column: str, names: dict[str, str] | None = None) -> str:
    """The header of one column: ``reason_2`` -> "Reason 2"; a column of the user's own keeps its name."""
    names = names if names is not None else headers()
    if column in names:
        return names[column]
    m = re.fullmatch(r"(.+)_(\d+)", str(column))
    return f"{names[m[1]]} {m[2]}" if m and m[1] in names else str(column)


def shown(frame: pd.DataFrame, **names_here: str) -> dict:
    """``column_config`` for st.dataframe/st.data_editor of a table Bullseye made (never the user's own
    columns): Chinese headers on a Chinese page, while the data, and so every download and every test
    that reads it, keeps its machine-readable names. ``names_here`` name columns that mean something
    else in this table (``segment`` is a name in lib's tables, a number in the customer table)."""
    if language() == "en":
        return {}
    names = {**headers(), **names_here}
    return {c: st.column_config.Column(header(c, names)) for c in frame.columns if header(c, names) != str(c)}


def for_file(table: pd.DataFrame | dict, chinese: bool) -> pd.DataFrame | dict:
    """A table (or the dict of an Excel file's About sheet) as a file holds it: machine-readable names,
    or Chinese headers when asked for."""
    if not chinese:
        return table
    with using("zh"):
        names = headers()
        if isinstance(table, dict):
            return {header(k, names): v for k, v in table.items()}
        return table.rename(columns={c: header(c, names) for c in table.columns})


def chinese_headers(key: str) -> bool:
    """The switch for Chinese headers in a download (off by default: files feed other systems)."""
    return st.toggle(t("Chinese column headers in the file"), key=f"export_zh_{key}",
                     help=t("Files keep machine-readable column names (score, segment_name...) unless you switch "
                            "this on."))

