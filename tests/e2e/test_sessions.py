"""Three marketers on one server at once: each sees only their own data, every step finishes, and the
server's memory stays bounded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from .conftest import assert_no_error_on
from .test_browser import goto, wait_idle

pytestmark = pytest.mark.e2e

# The sizes the issue tried from outside: a Telco-sized, a bank-sized and a larger table.
SESSIONS = {"telco": 7_043, "bank": 41_188, "shop": 64_000}


def _table(name: str, rows: int, seed: int):
    rng = np.random.default_rng(seed)
    spend = rng.gamma(2.0, 50.0, rows).round(2)
    return pd.DataFrame({
        "customer_id": [f"{name}-{i}" for i in range(rows)],
        "region": rng.choice([f"{name.title()}Land", f"{name.title()}Bay", f"{name.title()}Hill"], rows),
        "spend": spend,
        "visits": rng.poisson(4, rows),
        "responded": np.where(rng.random(rows) < 1 / (1 + np.exp(-(spend - 100) / 40)), "yes", "no"),
    })


def _peak_rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def test_three_sessions_at_once_each_keep_their_own_data_and_finish(browser, server, tmp_path):
    pages = {}
    for i, (name, rows) in enumerate(SESSIONS.items()):
        path = tmp_path / f"{name}.csv"
        _table(name, rows, i).to_csv(path, index=False)
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = ctx.new_page()
        page.set_default_timeout(240_000)
        page.goto(server["url"])
        page.get_by_text("Upload & understand your data").first.wait_for()
        pages[name] = (page, path)
    for page, path in pages.values():  # all three uploads sent before any is waited for
        page.locator("[data-testid='stFileUploader'] input[type='file']").first.set_input_files(str(path))
    for name, (page, _) in pages.items():
        page.get_by_text(f"{SESSIONS[name]:,} rows × 5 columns").first.wait_for()
        wait_idle(page)
    for page, _ in pages.values():
        page.get_by_role("link", name="2. Segments").click()
    for page, _ in pages.values():
        wait_idle(page)
        page.get_by_role("button", name="Find segments").click()  # three clusterings at once
    for name, (page, _) in pages.items():
        page.get_by_text("Who is in each segment").wait_for()
        assert_no_error_on(page)
        content = page.content()
        for other in SESSIONS:
            if other != name:
                assert f"{other.title()}Land" not in content and f"{other}.csv" not in content, (name, other)
    for name, (page, _) in pages.items():
        goto(page, "1. Upload & understand")
        page.get_by_text(f"{SESSIONS[name]:,} rows × 5 columns").first.wait_for()  # still their own file
    peak = _peak_rss_mb(server["pid"])
    print(f"server peak memory with three sessions: {peak:,.0f} MB")
    assert peak < 3_000, peak
    for page, _ in pages.values():
        page.context.close()
