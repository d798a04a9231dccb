"""Text columns are matched to the model's levels once per distinct value (lib/models/model.py
``level_codes`` / ``level_counts``): the same codes and counts as the per-row text they replace, for
every kind of column a file brings (issue 28: this per-row string work ran ~30 times per run)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.models.model import MISSING_LEVEL, as_level_text, fit_column_spec, level_codes, level_counts

COLUMNS = {
    "text with gaps and spaces": pd.Series(["a", " a", "b ", None, "c", np.nan, "(missing)", "a"], dtype=object),
    "arrow strings": pd.Series(["x", "y", None, "x", " z"], dtype="string[pyarrow]"),
    "python strings": pd.Series(["x", "y", None, "x"], dtype="string[python]"),
    "whole floats with a gap": pd.Series([12.0, 3.0, np.nan, 12.0, 4.5]),
    "mixed objects": pd.Series([1, "1", 2.0, None, True], dtype=object),
    "categorical": pd.Series(pd.Categorical(["u", "v", None, "u"])),
    "booleans": pd.Series([True, False, True]),
    "empty": pd.Series([], dtype=object),
    "all missing": pd.Series([None, None], dtype=object),
}


@pytest.mark.parametrize("name", list(COLUMNS))
def test_codes_and_counts_equal_the_per_row_text(name):
    s = COLUMNS[name]
    text = as_level_text(s)
    expected_counts = text.value_counts()
    got = level_counts(s)
    assert dict(got) == dict(expected_counts)
    levels = [*sorted(set(text)), "never seen"][:3] + [MISSING_LEVEL]
    expected = pd.Categorical(text, categories=list(dict.fromkeys(levels))).codes.astype(np.int32)
    np.testing.assert_array_equal(level_codes(s, tuple(dict.fromkeys(levels))), expected)


def test_a_many_level_column_keeps_its_most_frequent_levels_in_the_same_order():
    rng = np.random.default_rng(0)
    s = pd.Series(rng.choice([f"city_{i:03d}" for i in range(300)], 50_000, p=np.r_[np.full(10, 0.05),
                  np.full(290, 0.5 / 290)]), dtype="string[pyarrow]")
    spec = fit_column_spec("city", s)
    counts = as_level_text(s).value_counts()
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    assert list(spec.levels) == [v for v, _ in ordered][:19] and spec.has_other
