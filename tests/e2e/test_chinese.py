"""A zh-CN browser walks every page after loading a sample: Chinese everywhere; ?lang=en switches back."""

from __future__ import annotations

import json

import pytest

from ..untranslated import data_words, english_runs, written_by
from .conftest import ROOT, assert_no_error_on
from .test_browser import wait_idle

pytestmark = pytest.mark.e2e

SAMPLE = ROOT / "sample_data" / "shop_customers.csv"
# Every entry of app.py's navigation, in Chinese, and what to press there to see the page's results.
PAGES = [("2. 客群细分", "划分客群", "每个客群是谁"), ("3. 响应倾向模型", "训练模型", "一次触达值多少？"),
         ("4. 模型解释", None, "解释得分"), ("5. 目标名单", None, "发送人数"), ("6. 营销活动与效果", None, None),
         ("增量效果（Uplift）", None, None), ("客户价值", None, None), ("商品推荐", None, None),
         ("为新文件打分", None, None), ("1. 上传与理解数据", None, "数据质量")]


@pytest.fixture(scope="module")
def chinese_pages(browser, server) -> dict[str, list[str]]:
    """English runs on every page a zh-CN browser sees (no ?lang=: the browser's language decides)."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(180_000)
    page.goto(server["url"])
    page.get_by_text("上传并理解您的数据").first.wait_for()
    page.get_by_role("button", name="模拟商店：5,000 位客户，带响应标记").click()
    page.get_by_text("5,000 行 × 17 列").first.wait_for()
    wait_idle(page)
    allowed = data_words(SAMPLE)
    found = {}
    for title, press, shows in PAGES:
        page.get_by_role("link", name=title).click()
        wait_idle(page)
        if press:
            page.get_by_role("button", name=press).click()
        if shows:
            page.get_by_text(shows).first.wait_for()
        wait_idle(page)
        page.wait_for_timeout(1000)  # charts draw their titles after the run
        assert_no_error_on(page)
        found[title] = english_runs(page.locator("body").inner_text(), allowed)
    assert "lang=zh" in page.url
    context.close()
    print("English on the Chinese pages:", json.dumps(found, ensure_ascii=False, indent=1))  # shown with -s
    return found


def test_a_chinese_browser_sees_the_pages_own_words_in_chinese(chinese_pages):
    ours = {title: mine for title, runs in chinese_pages.items() if (mine := [r for r in runs if written_by(r) == "pages"])}
    assert not ours


def test_a_chinese_browser_sees_no_english_sentence_on_any_page(chinese_pages):
    assert not {title: runs for title, runs in chinese_pages.items() if runs}


def test_lang_en_in_the_url_switches_a_chinese_browser_to_english(browser, server):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(server["url"] + "/?lang=en")
    page.get_by_text("Upload & understand your data").first.wait_for()
    page.get_by_text("简体中文").first.click()  # and the sidebar switch brings Chinese back
    page.get_by_text("上传并理解您的数据").first.wait_for()
    assert "lang=zh" in page.url
    context.close()


def test_switching_language_keeps_a_choice_shown_through_translated_labels(browser, server):
    """The browser holds a radio's label, not its value: after a switch the choice must stay the same."""
    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(180_000)
    page.goto(server["url"] + "/?lang=en")
    page.get_by_role("button", name="Synthetic shop: 5,000 customers with a response flag").click()
    page.get_by_text("5,000 rows × 17 columns").first.wait_for()
    page.get_by_role("link", name="5. Target list").click()
    wait_idle(page)
    page.get_by_text("Top %", exact=True).click()
    page.get_by_text("Percent", exact=True).wait_for()
    page.get_by_text("简体中文").first.click()
    page.get_by_text("目标名单").first.wait_for()
    wait_idle(page)
    page.get_by_text("百分比", exact=True).wait_for()  # still "Top %": its slider, not the Top N box
    assert page.locator("[data-testid='stRadio'] input[type='radio']:checked").first.evaluate(
        "e => e.closest('label').innerText") == "前 N%"
    page.get_by_text("English").first.click()
    page.get_by_text("Percent", exact=True).wait_for()
    page.get_by_role("link", name="4. Explain").click()  # and another page change keeps it
    page.get_by_role("link", name="5. Target list").click()
    page.get_by_text("Percent", exact=True).wait_for()
    assert_no_error_on(page)
    context.close()
