"""Date columns are parsed once per distinct value (lib/data/io/dates.py): the same dates, missing cells
and mixed-format flag as parsing every row, on the spellings files bring (issue 28)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lib.data.io.dates import parse_dates


def _per_row(s: pd.Series, **kwargs) -> pd.Series:
    return pd.to_datetime(s.astype("str").str.strip().replace("", None), **kwargs)


COLUMNS = {
    "iso days": (pd.Series(["2024-01-02", "2023-12-31", None, "2024-01-02 "] * 50), {"format": "%Y-%m-%d"}),
    "slashes with blanks": (pd.Series(["2024/01/02", "", "2023/12/31", np.nan] * 50, dtype="string[pyarrow]"),
                            {"format": "%Y/%m/%d"}),
    "day first": (pd.Series(["31/12/2023", "01/02/2024"] * 50), {"format": "%d/%m/%Y"}),
    "zones": (pd.Series(["2024-01-02T10:00:00+02:00", "2024-01-03T10:00:00Z"] * 50),
              {"format": "ISO8601", "utc": True}),
    "date objects": (pd.Series([dt.date(2024, 1, 2), dt.date(2023, 5, 6), None] * 50, dtype=object),
                     {"format": "%Y-%m-%d"}),
    "mixed spellings": (pd.Series(["2024-01-02", "3 Feb 2024", "2024/03/04"] * 50),
                        {"format": "mixed", "dayfirst": True}),
}


@pytest.mark.parametrize("name", list(COLUMNS))
def test_distinct_value_parsing_equals_parsing_every_row(name):
    s, how = COLUMNS[name]
    got = parse_dates(s)
    expected = _per_row(s, errors="coerce", **how)
    if how.get("utc"):
        expected = expected.dt.tz_convert("UTC").dt.tz_localize(None)
    assert got is not None
    pd.testing.assert_series_equal(got, expected, check_names=False, check_dtype=False)
    assert got.dtype == expected.dtype or how.get("utc")
    assert bool(got.attrs.get("mixed_formats")) == (how["format"] == "mixed")


def test_a_mostly_empty_column_is_judged_on_its_first_filled_rows():
    s = pd.Series([None] * 6000 + ["2024-01-02", "2024-01-05"] * 300, dtype=object)
    got = parse_dates(s)
    assert got is not None and got.notna().sum() == 600 and got.isna().sum() == 6000


def test_words_are_not_dates():
    assert parse_dates(pd.Series(["north", "south"] * 100)) is None
