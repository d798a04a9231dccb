"""What an order line is, decided once: the customer roll-up (lib.data.features), customer value,
recommendations and the log rolled up in parts (lib.scale.streaming) all classify lines here, so they
agree on every line, and read order dates the same way.

Every line has exactly one kind (``KINDS``), in this order of precedence:

- ``non_product``: postage, fees, bank charges, adjustments, manual lines, discounts, vouchers: an item
  that ``LineRules`` judges not to be a product. It never counts as buying, spending or owning.
- ``cancellation``: a negative quantity, amount or unit price on a product that undoes a sale: its
  invoice carries the log's credit-note marker, or the same customer bought that product (any product,
  when the log names none) at or before that moment.
- ``return``: any other negative line: money or goods back for something the log does not show being
  bought (before the log starts, a refund, a correction).
- ``free``: nothing paid: an amount or unit price of 0, a quantity of 0, or no amount at all.
- ``sale``: a product bought for a positive amount.

The sign decides, never a letter: an invoice prefix ("C536379") is the log's credit-note marker only
where it marks a minority of the invoices and the lines on those invoices are negative. A shop that
numbers every invoice "C..." has no marker, and its cancellations are found by their negative
quantities as anywhere else.

Rules that need the whole log (which prefix is a marker, which items are fees) are learned by
``LineTally``, which adds a log up part by part, so a log read in parts gets the rules of the whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lib.data.log_dates import naive_utc, order_dates, order_timestamp, plausible_end
from lib.data.schema import ids_as_text
from lib.errors import DataValidationError
from lib.text.i18n import t

# Dates live in lib.data.log_dates; every caller has always found them here.
__all__ = ["naive_utc", "order_dates", "order_timestamp", "plausible_end"]

KINDS = ("sale", "free", "return", "cancellation", "non_product")
RETURNED = ("cancellation", "return")  # lines that give money or goods back

# Stock codes that are fees, postage or adjustments rather than products (Online Retail and alike).
NON_PRODUCT_CODES = {"POST", "DOT", "M", "BANK CHARGES", "C2", "CRUK", "D", "PADS", "AMAZONFEE", "S", "B", "ADJUST"}
# A description that names a fee rather than a product: the fee word is its head (last word, English
# noun phrases end with the noun) or it opens a bookkeeping line ("Adjust bad debt", "Manual").
# "FRENCH CARRIAGE LANTERN" or "PIGGY BANK" are products: there the fee-like word is not the head.
_FEE_HEADS = {"postage", "carriage", "shipping", "delivery", "freight", "fee", "fees", "charge", "charges",
              "commission", "adjustment", "adjustments", "manual", "discount", "discounts", "voucher",
              "vouchers", "samples", "surcharge", "handling", "debt", "tax", "vat", "deposit"}
_FEE_OPENERS = {"adjust", "adjustment", "manual", "discount", "postage", "carriage", "shipping", "delivery"}
# Codes typed by hand per order (postage by weight, manual corrections) carry a different unit price on
# almost every line; a real product keeps a handful of price points (list, tier, retail, sale).
_TYPED_PRICE_MIN_PRICES = 25
_TYPED_PRICE_SHARE = 0.2
# Codes without a digit are fees only where nearly all of the shop's codes have one (SKUs like 85123A).
_DIGIT_CODES_SHARE = 0.8
# A prefix marks credit notes when it is on fewer than half of the invoices and at least this share of
# its lines are negative (a credit note may carry the odd positive correction).
_MARKER_MAX_INVOICE_SHARE = 0.5
_MARKER_MIN_NEGATIVE_SHARE = 0.9

# Product-code column names, in order of preference (a category is not a product code: recommendations
# fall back to one on their own, lib.models.recommend).
PRODUCT_PATTERNS = [r"stock_?code", r"product_?id", r"product_?code", r"sku", r"item_?id", r"item_?code",
                    r"article", r"^product$", r"^item$", r"product", r"商品"]
_DESCRIPTION_PATTERNS = [r"desc", r"product_?name", r"item_?name", r"article_?name", r"^title$", r"^name$",
                         r"描述", r"名称"]


# --- the columns of a log ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TransactionColumns:
    customer: str
    date: str
    order: str | None
    amount: str | None
    quantity: str | None
    unit_price: str | None
    product: str | None
    categorical: tuple[str, ...]  # country / channel / category-like columns to summarise by mode
    description: str | None = None  # the product's name, when the log has one (fee lines are found by it)


def find_column(frame: pd.DataFrame, patterns: list[str], numeric: bool | None = None,
                exclude: set | None = None) -> str | None:
    """The first column whose name matches a pattern (in the patterns' order), optionally numeric only.

    Spaces, hyphens and dots in a name count as "_": "Customer ID", "Item Code" and "order-no" are
    matched by the same patterns as customer_id, item_code and order_no."""
    for pat in patterns:
        rx = re.compile(pat, re.I)
        for col in frame.columns:
            if exclude and col in exclude:
                continue
            if rx.search(re.sub(r"[\s.\-]+", "_", str(col).strip())):
                if numeric is True and not pd.api.types.is_numeric_dtype(frame[col]):
                    continue
                return col
    return None


def infer_transaction_columns(
    frame: pd.DataFrame,
    customer_col: str | None = None,
    date_col: str | None = None,
    amount_col: str | None = None,
) -> TransactionColumns:
    """Find the customer id, date, order id and amount (or quantity × unit price) columns."""
    for given in (customer_col, date_col, amount_col):
        if given is not None and given not in frame.columns:
            raise DataValidationError(t("Column '{col}' is not in the file. Its columns are: {columns}.", col=given,
                                        columns=", ".join(map(str, frame.columns))))
    customer = customer_col or find_column(frame, [r"^customer_?id$", r"cust.*id", r"client.*id", r"user.*id",
                                             r"member.*id", r"^customer$",
                                             r"^(customer|client|member|buyer|shopper|account)_?"
                                             r"(no|nr|num|number|code|key|ref|account)$", r"客户|顾客|会员"])
    date = date_col or next((c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])), None) \
        or find_column(frame, [r"date", r"time", r"日期", r"时间"])
    order = find_column(frame, [r"invoice_?no", r"order_?id", r"order_?no", r"invoice", r"^order", r"transaction_?id",
                          r"receipt", r"订单"])
    quantity = find_column(frame, [r"quantity", r"^qty", r"units", r"数量"], numeric=True)
    unit_price = find_column(frame, [r"unit_?price", r"^price", r"单价"], numeric=True)
    amount = amount_col or find_column(frame, [r"amount", r"revenue", r"sales", r"total", r"spend", r"value", r"金额"],
                                 numeric=True)
    product = find_column(frame, PRODUCT_PATTERNS)
    missing = []
    if customer is None:
        missing.append(t("a customer id column (choose it with --customer-col / the Customer column box)"))
    if date is None:
        missing.append(t("a date column (choose it with --date-col)"))
    if amount is None and (quantity is None or unit_price is None):
        missing.append(t("an amount column, or quantity and unit price columns (choose it with --amount-col)"))
    if missing:
        raise DataValidationError(t("This does not look like a transaction log: could not find {what}.",
                                    what=t("; ").join(missing)))
    used = {customer, date, order, amount, quantity, unit_price, product}
    description = description_column(frame, product, used) if product is not None else None
    categorical = tuple(
        c for c in frame.columns
        if c not in used and c != description
        and re.search(r"country|channel|categor|region|store|国家|渠道|类别", str(c), re.I)
        and not pd.api.types.is_numeric_dtype(frame[c])
    )
    # Quantity × unit price is preferred to a found "total" column unless the user named an amount.
    if amount_col is None and quantity is not None and unit_price is not None:
        amount = None
    return TransactionColumns(customer, date, order, amount, quantity, unit_price, product, categorical, description)


def description_column(frame: pd.DataFrame, product: str, used: set) -> str | None:
    """A text column naming the product: by name ("Description", "product_name", ...) first, else by
    content (free text with spaces, about as many distinct values as products: not a country or a
    channel). Either way it must describe the product: one text per product code on at least 80% of
    the codes, so a customer-name column is never taken for one."""
    sample = frame.head(50_000)

    def describes(c) -> bool:
        if pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_datetime64_any_dtype(frame[c]):
            return False
        pairs = sample[[product, c]].dropna()
        return len(pairs) > 0 and bool((pairs.groupby(product)[c].nunique() == 1).mean() >= 0.8)

    by_name = find_column(frame, _DESCRIPTION_PATTERNS, exclude=used)
    if by_name is not None and describes(by_name):
        return by_name
    n_products = max(1, sample[product].nunique())
    for c in frame.columns:
        if c in used or c == by_name or pd.api.types.is_numeric_dtype(frame[c]):
            continue
        s = sample[c].dropna().astype("str")
        if s.empty or s.nunique() < 0.5 * n_products:
            continue
        if s.str.len().mean() >= 8 and s.str.contains(" ").mean() >= 0.5 and describes(c):
            return c
    return None


# --- text codes ---------------------------------------------------------------------------------------


def codes_text(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 = missing or blank) and the distinct texts, the way every export writes ids
    (``ids_as_text``), in order of first appearance.

    Factorising first and converting only the distinct values keeps this fast on millions of lines."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    text = ids_as_text(pd.Series(uniques, dtype=values.dtype if len(uniques) else "object")).fillna("")
    text_codes, text_uniques = pd.factorize(text)
    mapped = np.where(codes >= 0, text_codes[np.maximum(codes, 0)], -1)
    blank = np.asarray(pd.Series(text_uniques).astype("str").str.strip().eq("").to_numpy())
    if blank.any():
        # A blank id is no id: drop it from the uniques and renumber.
        keep = ~blank
        remap = np.full(len(text_uniques), -1, dtype=np.int64)
        remap[keep] = np.arange(int(keep.sum()))
        mapped = np.where(mapped >= 0, remap[np.maximum(mapped, 0)], -1)
        text_uniques = np.asarray(text_uniques)[keep]
    return mapped.astype(np.int64), np.asarray(text_uniques, dtype=object).astype(str)


def _text_of(codes: np.ndarray, text: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """The text of each code ("" for -1), built from the distinct texts (fast on millions of lines)."""
    return pd.array(np.append(text, ""), dtype="str").take(codes)


def _prefix(orders: np.ndarray) -> np.ndarray:
    """The letters an invoice number starts with ("C" of "C536379"; "" for a plain number)."""
    out = np.full(len(orders), "", dtype=object)
    # A number starting with a digit has no prefix: only the others (credit notes, lettered series, a few
    # in a million) go through the regex, which cost seconds on every invoice of a big log.
    digit = pd.Series(orders, dtype="str").str.match("[0-9]").fillna(False).to_numpy(dtype=bool)
    rest = pd.Series(orders[~digit], dtype=object)
    out[~digit] = rest.str.upper().str.extract(r"^([^\W\d_]+)", expand=False).fillna("").to_numpy()
    return out


@dataclass(frozen=True)
class _Numbers:
    quantity: np.ndarray | None
    unit_price: np.ndarray | None
    amount: np.ndarray | None
    value: np.ndarray  # the line's money: the amount, else quantity × unit price (NaN when unknown)

    @property
    def negative(self) -> np.ndarray:
        out = np.zeros(len(self.value), dtype=bool)
        for v in (self.quantity, self.unit_price, self.amount, self.value):
            if v is not None:
                out |= v < 0
        return out

    @property
    def nothing_paid(self) -> np.ndarray:
        out = (self.value == 0) | np.isnan(self.value)
        return out | (self.quantity == 0) if self.quantity is not None else out


def _numbers(raw: pd.DataFrame, cols: TransactionColumns) -> _Numbers:
    def num(c):
        return pd.to_numeric(raw[c], errors="coerce").to_numpy(dtype="float64") if c else None

    qty, price, amount = num(cols.quantity), num(cols.unit_price), num(cols.amount)
    value = amount if amount is not None else qty * price
    return _Numbers(qty, price, amount, value)


# --- what the whole log says: the rules -------------------------------------------------------------


def _fee_description(desc: str) -> bool:
    words = [w for w in re.findall(r"[^\W\d_]+", str(desc).lower())]
    if not words or len(words) > 4:
        return False
    return words[-1] in _FEE_HEADS or words[0] in _FEE_OPENERS


@dataclass(frozen=True)
class LineRules:
    """The log-wide rules of ``classify_lines``: learned once from the whole log (``line_rules`` or
    ``LineTally``) and applied to any part of it.

    ``cancellation_prefixes``: invoice prefixes that mark credit notes in this log (often ("C",), or none).
    ``non_product_items``: item, description, reason: the items that are not products, in order of
    first appearance, with the rule that found each (for a report)."""

    cancellation_prefixes: tuple[str, ...] = ()
    non_product_items: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"item": [], "description": [], "reason": []}, dtype=object))

    @property
    def non_product_codes(self) -> np.ndarray:
        return self.non_product_items["item"].to_numpy(dtype=object)


def _add(a: pd.Series | pd.DataFrame | None, b: pd.Series | pd.DataFrame, how: str = "sum"):
    """Two tallies indexed alike, added up (``how="min"``: the smaller value kept)."""
    if a is None:
        return b
    both = pd.concat([a, b])
    return both.groupby(level=list(range(both.index.nlevels)), sort=False).agg(how)


class LineTally:
    """The facts the line rules need, added up over one log or over its parts in file order; ``rules()``
    gives the same ``LineRules`` either way (``lib.scale.streaming`` rolls a log up in parts).

    Per invoice prefix: distinct invoices, lines and negative lines. Per item: where it first appears,
    the count of each (item, unit price) pair and of each (item, description)."""

    def __init__(self, cols: TransactionColumns) -> None:
        self.columns = cols
        self._rows = 0
        self._invoices: dict[str, list[np.ndarray]] = {}  # prefix -> hashes of its invoices, per part
        self._prefix_lines: pd.DataFrame | None = None  # prefix -> lines, negative
        self._items: pd.Series | None = None  # item -> first row
        self._prices: pd.Series | None = None  # (item, price) -> lines
        self._descriptions: pd.Series | None = None  # (item, description) -> lines
        self._first_description: pd.Series | None = None  # description -> first row

    def add(self, raw: pd.DataFrame) -> LineTally:
        cols, n = self.columns, len(raw)
        rows = self._rows + np.arange(n)
        self._rows += n
        numbers = _numbers(raw, cols)
        if cols.order:
            code, text = codes_text(raw[cols.order])
            prefix = _prefix(text)
            hashes = pd.util.hash_array(text.astype(object))  # 8 bytes an invoice, however long its number
            for p in np.unique(prefix):
                self._invoices.setdefault(p, []).append(hashes[prefix == p])
            has = code >= 0
            lines = pd.DataFrame({"prefix": prefix[code[has]], "lines": 1,
                                  "negative": numbers.negative[has].astype(np.int64)})
            self._prefix_lines = _add(self._prefix_lines, lines.groupby("prefix", sort=False).sum())
        if cols.product:
            self._add_items(raw, cols, numbers, rows)
        return self

    def _add_items(self, raw: pd.DataFrame, cols: TransactionColumns, numbers: _Numbers, rows: np.ndarray) -> None:
        code, text = codes_text(raw[cols.product])
        has = code >= 0
        first = pd.Series(rows[has]).groupby(code[has], sort=False).min()
        self._items = _add(self._items, pd.Series(first.to_numpy(), index=text[first.index]), "min")
        if numbers.unit_price is not None:
            price = numbers.unit_price
            ok = has & np.isfinite(price) & (price > 0)
            pairs = pd.DataFrame({"i": code[ok], "p": price[ok]}).value_counts(sort=False)
            self._prices = _add(self._prices, _relabel(pairs, text))
        if cols.description:
            d_code, d_uniques = pd.factorize(raw[cols.description])
            d_text = np.asarray(d_uniques, dtype=object).astype(str)
            ok = has & (d_code >= 0)
            pairs = pd.DataFrame({"i": code[ok], "d": d_code[ok]}).value_counts(sort=False)
            self._descriptions = _add(self._descriptions, _relabel(pairs, text, d_text))
            first_d = pd.Series(rows[ok]).groupby(d_code[ok], sort=False).min()
            self._first_description = _add(self._first_description,
                                           pd.Series(first_d.to_numpy(), index=d_text[first_d.index]), "min")

    def rules(self) -> LineRules:
        return LineRules(self._marker_prefixes(), self._non_product_items())

    def _marker_prefixes(self) -> tuple[str, ...]:
        if not self._invoices:
            return ()
        # An invoice split between two parts is counted once.
        invoices = {p: len(np.unique(np.concatenate(h))) for p, h in self._invoices.items()}
        total = sum(invoices.values())
        lines = self._prefix_lines
        return tuple(sorted(
            p for p in invoices
            if p != "" and invoices[p] < _MARKER_MAX_INVOICE_SHARE * total
            and lines.loc[p, "negative"] >= _MARKER_MIN_NEGATIVE_SHARE * lines.loc[p, "lines"]
        ))

    def _top_descriptions(self, items: pd.Index) -> np.ndarray:
        """The most frequent description of each item; a tie goes to the description seen first in the log."""
        out = pd.Series("", index=items, dtype=object)
        if self._descriptions is None or self._descriptions.empty:
            return out.to_numpy()
        counts = self._descriptions.rename("n").reset_index()
        counts["first"] = counts["d"].map(self._first_description)
        top = counts.sort_values(["item", "n", "first"], ascending=[True, False, True]).drop_duplicates("item")
        out.update(pd.Series(top["d"].astype(str).str.strip().to_numpy(), index=top["item"].to_numpy()))
        return out.to_numpy()

    def _non_product_items(self) -> pd.DataFrame:
        """Per item: is it a fee, postage or adjustment rather than a product, and why. Four signals,
        because no single one works for every shop:

        1. the code is one of ``NON_PRODUCT_CODES`` (POST, DOT, M, BANK CHARGES, ...);
        2. the code does not look like the shop's product codes: it has no digit while at least 80% of the
           shop's codes do (POST, M, CRUK, AMAZONFEE against SKUs like 85123A);
        3. its description names a fee, postage, carriage, discount, voucher or adjustment as its head
           word ("DOTCOM POSTAGE", "Next Day Carriage", "PACKING CHARGE", "Adjust bad debt");
        4. its unit price is typed per order: at least 25 different prices on at least 20% of its lines
           (postage by weight, manual corrections), where a real product keeps a few price points.
        """
        if self._items is None:
            return LineRules().non_product_items
        items = self._items.sort_values(kind="stable").index
        codes = pd.Series(items.to_numpy(dtype=object), dtype=object)
        descriptions = self._top_descriptions(items)
        reason = pd.Series("", index=codes.index, dtype=object)
        reason[codes.str.upper().str.strip().isin(NON_PRODUCT_CODES)] = "a known fee or postage code"
        has_digit = codes.str.contains(r"\d", regex=True)
        if has_digit.mean() >= _DIGIT_CODES_SHARE:
            reason[~has_digit & reason.eq("")] = "code unlike the product codes (no digit)"
        fee = pd.Series([_fee_description(d) for d in descriptions], dtype=bool) & reason.eq("")
        reason[fee.to_numpy()] = "description names a fee, postage or adjustment"
        if self._prices is not None and len(self._prices):
            per_item = self._prices.groupby(level=0, sort=False)
            lines = per_item.sum().reindex(items, fill_value=0).to_numpy()
            n_prices = per_item.size().reindex(items, fill_value=0).to_numpy()
            typed = (n_prices >= _TYPED_PRICE_MIN_PRICES) & (n_prices >= _TYPED_PRICE_SHARE * np.maximum(lines, 1))
            reason[typed & reason.eq("").to_numpy()] = "price typed per order (a different price on most lines)"
        flag = reason.ne("").to_numpy()
        return pd.DataFrame({"item": codes[flag].to_numpy(), "description": descriptions[flag],
                             "reason": reason[flag].to_numpy()}).reset_index(drop=True)


def _relabel(pairs: pd.Series, items: np.ndarray, second: np.ndarray | None = None) -> pd.Series:
    """Counts indexed by (item code, x) re-indexed by (item text, x) (x through ``second`` when given)."""
    i = items[pairs.index.get_level_values(0).to_numpy()]
    x = pairs.index.get_level_values(1).to_numpy()
    index = pd.MultiIndex.from_arrays([i, second[x] if second is not None else x], names=["item", "d"])
    return pd.Series(pairs.to_numpy(), index=index)


def line_rules(raw: pd.DataFrame, cols: TransactionColumns) -> LineRules:
    """The rules the whole log ``raw`` implies (``LineTally`` over one part)."""
    return LineTally(cols).add(raw).rules()


# --- every line classified ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderLines:
    """Every line of a log, read and classified (``classify_lines``).

    ``lines`` has the index of the log and the columns ``customer`` (id as text, "" when none), ``date``
    (naive datetime, NaT when unreadable), ``order`` (the invoice, or customer|moment when the log has no
    order id), ``product`` (code as text, "" when none; only when the log has a product column),
    ``value`` (money, NaN when unknown), ``kind`` (one of ``KINDS``) and ``matched`` (a negative line whose
    customer bought the product at or before it)."""

    lines: pd.DataFrame
    columns: TransactionColumns
    rules: LineRules
    counts: dict[str, int]  # usable lines per kind; lines with no customer id, an unreadable date, no amount

    @property
    def usable(self) -> pd.Series:
        """Lines with a customer, a readable date and an amount: the ones any step can count."""
        ln = self.lines
        return _usable(ln["customer"], ln["date"], ln["value"])

    def of_kind(self, *kinds: str) -> pd.Series:
        return self.lines["kind"].isin(kinds)


def _usable(customer: pd.Series, dates: pd.Series, value: pd.Series | np.ndarray) -> pd.Series:
    """A line any step can count: a customer id ("" = none), a readable date and an amount."""
    return customer.ne("") & dates.notna() & pd.Series(value, index=customer.index).notna()


def usable_dates(raw: pd.DataFrame, cols: TransactionColumns) -> pd.Series:
    """The order dates of the usable lines of ``raw`` (``OrderLines.usable``) without classifying them:
    what ``plausible_end`` reads, gathered part by part when a log is rolled up in parts."""
    cust, text = codes_text(raw[cols.customer])
    customer = pd.Series(_text_of(cust, text), index=raw.index)
    dates = order_dates(raw[cols.date])
    return dates[_usable(customer, dates, _numbers(raw, cols).value)]


def classify_lines(raw: pd.DataFrame, cols: TransactionColumns, rules: LineRules | None = None) -> OrderLines:
    """Read and classify every line of ``raw`` (not modified). ``rules``: learned from the whole log when
    ``raw`` is only part of it; by default learned from ``raw``."""
    rules = rules if rules is not None else line_rules(raw, cols)
    cust, cust_text = codes_text(raw[cols.customer])
    customer = _text_of(cust, cust_text)
    dates = order_dates(raw[cols.date])
    numbers = _numbers(raw, cols)
    negative = numbers.negative
    if cols.order:
        code, text = codes_text(raw[cols.order])
        orders = _text_of(code, text)
        marked = np.append(np.isin(_prefix(text), list(rules.cancellation_prefixes)), False)[code]
    else:
        # Without an order number, one customer's lines at one moment are one order.
        orders = (pd.Series(customer, index=raw.index) + "|" + dates.dt.strftime("%Y-%m-%d %H:%M:%S")).array
        marked = np.zeros(len(raw), dtype=bool)
    item = np.full(len(raw), -1, dtype=np.int64)
    frame = pd.DataFrame({"customer": customer, "date": dates, "order": orders}, index=raw.index)
    non_product = np.zeros(len(raw), dtype=bool)
    if cols.product:
        item, item_text = codes_text(raw[cols.product])
        frame["product"] = _text_of(item, item_text)
        non_product = np.append(np.isin(item_text, rules.non_product_codes), False)[item]
    sale_like = ~non_product & ~negative & ~numbers.nothing_paid
    returned = negative & ~non_product
    matched = _matched(cust, item, dates, sale_like, returned)
    kind = np.select([non_product, returned & (marked | matched), returned, numbers.nothing_paid],
                     ["non_product", "cancellation", "return", "free"], "sale")
    frame["quantity"] = numbers.quantity if numbers.quantity is not None else 1.0
    frame["value"] = numbers.value
    frame["kind"] = pd.Categorical(kind, categories=KINDS)
    frame["matched"] = matched
    unreadable = frame["date"].isna().to_numpy() & raw[cols.date].notna().to_numpy()
    return OrderLines(frame, cols, rules, _counts(frame, unreadable))


def _matched(cust: np.ndarray, item: np.ndarray, dates: pd.Series, sale: np.ndarray, returned: np.ndarray) -> np.ndarray:
    """Negative lines whose customer bought the same product (any product when the log names none) at or
    before that moment: they undo a sale the log shows."""
    ok = (cust >= 0) & dates.notna().to_numpy()
    key = cust * (int(item.max(initial=-1)) + 2) + (item + 1)
    when = dates.to_numpy().astype("datetime64[us]").astype(np.int64)
    s, q = sale & ok, returned & ok
    first_sale = pd.Series(when[s]).groupby(key[s]).min()
    bought = pd.Series(key[q]).map(first_sale).to_numpy(dtype="float64")
    out = np.zeros(len(cust), dtype=bool)
    out[q] = bought <= when[q]  # NaN (never bought) compares False
    return out


def _counts(frame: pd.DataFrame, unreadable: np.ndarray) -> dict[str, int]:
    has_customer = frame["customer"].ne("")
    usable = has_customer & frame["date"].notna() & frame["value"].notna()
    out = {k: int(v) for k, v in frame.loc[usable, "kind"].value_counts(sort=False).items()}
    out.update({"no customer id": int((~has_customer).sum()),
                "no date": int(frame["date"].isna().sum()),
                "unreadable date": int(unreadable.sum()),
                "no amount": int(frame["value"].isna().sum()),
                "matched to an earlier sale": int((frame["matched"] & usable).sum())})
    return out
