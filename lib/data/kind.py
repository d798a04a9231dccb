"""What was uploaded, decided once from the data: an order-line log, a customer table or campaign results.

The app's "This is a transaction log" switch starts where ``recognise`` says, and the CLI ``run`` rolls a
recognised log up unless told not to (``rolls_up``): a wrong guess is one click or one flag from fixed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from lib.data.orders import TransactionColumns, infer_transaction_columns, order_dates
from lib.data.schema import Schema
from lib.errors import DataValidationError
from lib.text.i18n import t

KINDS = ("order_lines", "customers", "campaign_results")
# A log repeats its customers: at least this many lines per customer on average. A customer table with
# the odd duplicated id stays a customer table.
MIN_LINES_PER_CUSTOMER = 1.5
# Dates: most values of the date column must read as dates.
MIN_READABLE_DATES = 0.9
_ARM_NAME = re.compile(r"^(arm|group|treat(ed|ment)?|sent|control|variant|cell|test_?group|mailed|contacted)$"
                       r"|(^|_)(arm|treatment|variant|control|group)($|_)", re.I)


@dataclass(frozen=True)
class FileKind:
    """What a file is, the columns that showed it, and why in one line."""

    kind: str  # one of KINDS
    columns: dict[str, str]  # role ("customer", "date", "arm", ...) -> column
    reason: str

    @property
    def is_log(self) -> bool:
        return self.kind == "order_lines"

    def to_report(self) -> dict:
        return {"kind": self.kind, "columns": dict(self.columns), "reason": self.reason}


def recognise(frame: pd.DataFrame, schema: Schema | None = None) -> FileKind:
    """Decide from the data what ``frame`` (not modified) is.

    An order-line log: a customer id that repeats (``MIN_LINES_PER_CUSTOMER``), a readable date, and
    quantity with unit price, or an amount together with an invoice or a product (an amount alone only when
    the ids repeat). Campaign results: a column naming the arm (sent/control/group) with a few values, and
    a yes/no outcome. Anything else is a customer table."""
    log = _as_log(frame)
    if log is not None:
        return log
    arm = next((c for c in frame.columns if _ARM_NAME.search(str(c)) and 2 <= frame[c].nunique() <= 4), None)
    if arm is not None:
        if schema is None:
            from lib.data.schema import infer_schema

            schema = infer_schema(frame)
        outcome = next((c for c in schema.target_candidates if c != arm), None)
        if outcome is not None:
            return FileKind("campaign_results", {"arm": str(arm), "outcome": str(outcome)},
                            t("'{arm}' says who got the campaign and '{outcome}' what they did.", arm=arm,
                              outcome=outcome))
    return FileKind("customers", {}, t("One row per customer: no repeating customer id with dates and order amounts."))


def _as_log(frame: pd.DataFrame) -> FileKind | None:
    try:
        cols = infer_transaction_columns(frame)
    except DataValidationError:
        return None
    ids = frame[cols.customer].dropna()
    if cols.customer == cols.date or ids.empty or ids.nunique() == 0:
        return None
    per_customer = len(ids) / ids.nunique()
    if per_customer < MIN_LINES_PER_CUSTOMER:
        return None
    sample = frame[cols.date].dropna().head(20_000)
    if sample.empty or order_dates(sample).notna().mean() < MIN_READABLE_DATES:
        return None
    priced = cols.quantity is not None and cols.unit_price is not None
    if not (priced or cols.order is not None or cols.product is not None):
        return None
    used = {"customer": cols.customer, "date": cols.date, "order": cols.order, "product": cols.product,
            "quantity": cols.quantity, "unit_price": cols.unit_price, "amount": cols.amount}
    used = {k: str(v) for k, v in used.items() if v is not None}
    money = t("'{q}' × '{p}'", q=cols.quantity, p=cols.unit_price) if priced else f"'{cols.amount}'"
    return FileKind("order_lines", used,
                    t("An order-line log: customer '{customer}' repeats ({n:.1f} lines each), dated by '{date}', "
                      "money from {money}.", customer=cols.customer, n=per_customer, date=cols.date, money=money))


def as_log(frame: pd.DataFrame) -> TransactionColumns | None:
    """The log's columns when ``frame`` is recognised as an order-line log, else None."""
    kind = _as_log(frame)
    return None if kind is None else infer_transaction_columns(frame)


def rolls_up(kind: FileKind, force: bool = False, refuse: bool = False) -> bool:
    """Roll the file up to customers? ``force`` (--transactions / the switch on) and ``refuse``
    (--no-transactions / the switch off) win over the guess."""
    if force and refuse:
        raise DataValidationError(t("Choose one: the file either is a transaction log or it is not."))
    return force or (not refuse and kind.is_log)
