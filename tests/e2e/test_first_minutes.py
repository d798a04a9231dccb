"""The first minutes, in headless Chromium (issue 27): upload a transaction log through the file chooser and
touch nothing: it is recognised and rolled up, the quality report speaks of a log, Customer value works."""

from __future__ import annotations

import pytest

from .conftest import ROOT, assert_no_error_on
from .test_browser import goto, upload

pytestmark = pytest.mark.e2e

# Advice meant for a customer table that a log or its roll-up must never get (issue 27).
TABLE_ADVICE = ("Remove duplicate rows in the source", "Clean the non-numeric values", "extreme values",
                "No unique customer id column found")


def test_an_uploaded_log_is_rolled_up_reported_in_log_terms_and_valued_untouched(page, tmp_path):
    upload(page, ROOT / "sample_data" / "shop_transactions.csv.gz")
    page.get_by_text("Recognised as an order-line log").first.wait_for()
    page.get_by_text("into 5,000 customers").first.wait_for()
    page.get_by_text("Data quality").first.wait_for()
    page.get_by_text("cancellation lines and").first.wait_for()
    assert_no_error_on(page)
    text = page.locator("[data-testid='stMain']").inner_text()
    for advice in TABLE_ADVICE:
        assert advice not in text, advice
    assert page.get_by_role("switch").first.is_checked()
    page.screenshot(path=str(tmp_path / "upload_log.png"), full_page=True)
    goto(page, "Customer value")
    page.get_by_role("button", name="Predict value").click()
    page.get_by_text("How each method did on the last window").wait_for()
    page.get_by_text("Valuable customers slipping away").wait_for()
    assert_no_error_on(page)
