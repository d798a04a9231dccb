"""Take the README screenshots: start the app, load the shop sample, segment, train, capture pages.

Usage: python tools/screenshot.py  (needs Chromium; writes docs/*.png)
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.e2e.conftest import CHROMIUM_ARGS, chromium_path  # noqa: E402


def main() -> None:
    port = 8599
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(120_000)
            page.goto(f"http://127.0.0.1:{port}")
            page.get_by_role("button", name="Synthetic shop: 5,000 customers with a response flag").click()
            page.get_by_text("5,000 rows × 17 columns").wait_for()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(ROOT / "docs" / "upload.png"))
            page.get_by_role("link", name="2. Segments").click()
            page.get_by_role("button", name="Find segments").click()
            page.get_by_text("Who is in each segment").wait_for()
            page.wait_for_timeout(2500)
            page.screenshot(path=str(ROOT / "docs" / "segments.png"), full_page=True)
            page.get_by_role("link", name="3. Propensity model").click()
            page.get_by_role("button", name="Train model").click()
            page.get_by_text("What is a contact worth?").wait_for()
            page.wait_for_timeout(2500)
            page.screenshot(path=str(ROOT / "docs" / "propensity.png"), full_page=True)
            browser.close()
    finally:
        proc.terminate()


if __name__ == "__main__":
    main()
