"""Take the README screenshots: start the app, load the shop sample, segment, train, capture pages.

Usage: python tools/screenshot.py [--lang zh]  (needs Chromium; writes docs/*.png, or docs/*.zh.png in
Chinese: a zh-CN browser, every label looked up in the same catalogue the app uses, so the tool never
goes out of step with the pages' words. Chinese needs a CJK font: tools/ensure_chromium.sh installs one.)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from lib.text.i18n import set_language, t  # noqa: E402
from tests.e2e.conftest import CHROMIUM_ARGS, chromium_path  # noqa: E402


def main(lang: str = "en") -> None:
    set_language(lang)
    suffix = "" if lang == "en" else f".{lang}"
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
            page = browser.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN" if lang == "zh" else "en-US")
            page.set_default_timeout(120_000)
            page.goto(f"http://127.0.0.1:{port}/?lang={lang}")
            page.get_by_role("button", name=t("Synthetic shop: 5,000 customers with a response flag")).click()
            page.get_by_text(t("{rows} rows × {columns} columns", rows="5,000", columns=17)).wait_for()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(ROOT / "docs" / f"upload{suffix}.png"))
            page.get_by_role("link", name=t("2. Segments")).click()
            page.get_by_role("button", name=t("Find segments")).click()
            page.get_by_text(t("Who is in each segment")).wait_for()
            page.wait_for_timeout(2500)
            if lang == "en":  # the docs show two pages in Chinese: upload and propensity
                page.screenshot(path=str(ROOT / "docs" / "segments.png"), full_page=True)
            page.get_by_role("link", name=t("3. Propensity model")).click()
            page.get_by_role("button", name=t("Train model")).click()
            page.get_by_text(t("What is a contact worth?")).wait_for()
            page.wait_for_timeout(2500)
            page.screenshot(path=str(ROOT / "docs" / f"propensity{suffix}.png"), full_page=lang == "en")
            browser.close()
    finally:
        proc.terminate()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", choices=["en", "zh"], default="en")
    main(parser.parse_args().lang)
