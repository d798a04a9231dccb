"""The language switch and the catalogue (lib/i18n.py)."""

import datetime as dt

from lib import i18n


def test_locale_codes_map_to_our_two_languages():
    assert i18n.normalise("zh-CN") == "zh"
    assert i18n.normalise("zh_Hans_CN") == "zh"
    assert i18n.normalise("en-GB") == "en"
    assert i18n.normalise("fr-FR") == "en"
    assert i18n.normalise(None) == "en"


def test_text_is_translated_in_chinese_and_left_alone_in_english():
    with i18n.using("zh"):
        assert i18n.t("Guided flow") == "引导流程"
        assert i18n.date(dt.date(2026, 11, 25)) == "2026年11月25日"
    with i18n.using("en"):
        assert i18n.t("Guided flow") == "Guided flow"
        assert i18n.date(dt.date(2026, 11, 25)) == "25 Nov 2026"
    assert i18n.language() == "en"  # `using` restores the language it found
