"""Two languages: the catalogue (lib/text/i18n.py), the switch (pages/language.py), every page in Chinese, exports."""

import ast
import datetime as dt
import re
import string

import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from lib.text import i18n

from .conftest import ROOT
from .untranslated import data_words, english_runs, written_by


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


# --- the catalogue: every message of the code has its Chinese, with the same fields ---------------



SCANNED = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "lib").rglob("*.py"))]


def _literal(node: ast.AST) -> str | None:
    """The text of a string literal: "a " "b" (one Constant) or "a " + "b"."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _literal(node.left), _literal(node.right)
        return None if left is None or right is None else left + right
    return None


def _from_a_table(node: ast.AST) -> bool:
    """``TABLE[key]`` or ``TABLE.get(key, ...)`` with an UPPER_CASE table: messages kept in one place."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        node = node.func.value
    elif isinstance(node, ast.Subscript):
        node = node.value
    else:
        return False
    return isinstance(node, ast.Name) and node.id.isupper()


def messages() -> tuple[dict[str, str], list[str]]:
    """Every ``t("...")`` literal in app.py, pages/ and lib/ (text -> where), and the calls whose text
    cannot be checked here: not a literal, not looked up in a table of messages, and not justified by
    an ``# i18n:`` comment on the call's line (such calls must stay rare)."""
    found, unchecked = {}, []
    for path in SCANNED:
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "t" and node.args:
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                text = _literal(node.args[0])
                if text is not None:
                    found.setdefault(text, where)
                elif not _from_a_table(node.args[0]) and "# i18n:" not in lines[node.lineno - 1]:
                    unchecked.append(where)
    return found, unchecked


def _all_strings() -> set[str]:
    return {text for path in SCANNED for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if (text := _literal(node)) is not None}


def _fields(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def test_every_message_in_the_code_has_its_chinese_with_the_same_fields():
    zh = i18n.catalogue("zh")
    found, _ = messages()
    assert len(found) > 300  # the scan finds the messages (a broken scan would pass vacuously)
    missing = [f"{where}: {text!r}" for text, where in found.items() if text not in zh]
    assert not missing, "Add to lib/text/locale/zh/*.toml:\n" + "\n".join(missing)
    # A translation may leave a field out (Chinese has no {plural}), never bring one the code does not fill.
    wrong = [f"{where}: {text!r} -> {zh[text]!r}" for text, where in found.items() if not _fields(zh[text]) <= _fields(text)]
    assert not wrong, "A translation must use only the {fields} of the English:\n" + "\n".join(wrong)


def test_translations_are_chinese_and_none_is_left_over():
    """Every entry with letters reads as Chinese (bar names kept as they are), and no entry outlives its
    message."""
    zh = i18n.catalogue("zh")
    found, _ = messages()
    cjk = ("\u3000", "\u303f"), ("\u4e00", "\u9fff"), ("\uff00", "\uffef")  # punctuation, characters, full-width
    not_chinese = [k for k, v in zh.items()
                   if v != k and re.search("[A-Za-z]", v) and not any(lo <= ch <= hi for ch in v for lo, hi in cjk)]
    assert not not_chinese
    unused = sorted(set(zh) - set(found) - _all_strings())  # messages in tables are strings in the code too
    assert not unused, f"In the catalogue but nowhere in the code any more: {unused}"


def test_messages_are_literals_so_the_catalogue_can_be_checked():
    """A message the scan cannot read (``t(text)``) escapes the catalogue check: each one is looked up
    in an UPPER_CASE table of messages or says why on its line (``# i18n: ...``)."""
    _, unchecked = messages()
    assert unchecked == []


# --- every page in Chinese (AppTest): no English sentence left but the user's own data -------------



SAMPLE = ROOT / "sample_data" / "shop_customers.csv"
TEXT_FIELDS = {"label", "body", "help", "placeholder", "options", "caption", "text", "title"}
# lib/'s own words (quality report, segment names, reasons, chart titles) are translated on the
# i18n-lib branch; until its catalogue is here, only English from app.py and pages/ fails.


def _texts(msg):
    """The strings a person reads in one element's proto (labels, bodies, help, options)."""
    for fd, val in msg.ListFields():
        values = val if isinstance(val, (list, tuple)) or hasattr(val, "extend") else [val]
        for v in values:
            if hasattr(v, "ListFields"):
                yield from _texts(v)
            elif isinstance(v, str) and fd.name in TEXT_FIELDS:
                yield v


def _page_text(at: AppTest) -> str:
    return "\n".join(s for node in at._tree if getattr(node, "proto", None) is not None for s in _texts(node.proto))


_init = PagesManager.__init__


def _entrypoint_every_run(self, *args, **kwargs):
    """Run app.py on every AppTest run, as the server does. AppTest forgets between runs that app.py
    calls st.navigation, so with a pages/ folder it runs a page's script alone (Streamlit's old
    pages/ mode) and skips app.py, where the language is decided."""
    _init(self, *args, **kwargs)
    PagesManager.uses_pages_directory = False


@pytest.fixture(scope="module", autouse=True)
def _app_runs_like_the_server():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(PagesManager, "__init__", _entrypoint_every_run)
        yield


def _press(at: AppTest, label: str) -> None:
    [b for b in at.button if b.label == label][0].click().run()


def _visit(at: AppTest, found: dict, allowed: list[str], page: str, press: str | None = None) -> None:
    at.switch_page(f"pages/{page}.py").run()
    if press:
        _press(at, press)
    assert not at.exception and not at.error, (page, [e.value for e in [*at.exception, *at.error]])
    found[page] = english_runs(_page_text(at), allowed)


def _chinese_app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.query_params["lang"] = "zh"
    at.run()
    return at


def _customers_walk(tmp) -> dict[str, list[str]]:
    """The shop sample through every page of app.py's navigation."""
    allowed, found = data_words(SAMPLE), {}
    at = _chinese_app()
    at.button(key="sample_shop_customers.csv").click().run()
    found["upload"] = english_runs(_page_text(at), allowed)
    for page, press in [("segments", "划分客群"), ("propensity", "训练模型"), ("explain", None), ("targets", None),
                        ("campaigns", None), ("uplift", None), ("value", None), ("recommend", None), ("score", None)]:
        _visit(at, found, allowed, page, press)
    return found


def _log_walk(tmp) -> dict[str, list[str]]:
    """The transaction-log sample: RFM segments, customer value, recommendations, the list with offers."""
    log = ROOT / "sample_data" / "shop_transactions.csv.gz"
    allowed, found = data_words(log), {}
    at = _chinese_app()
    at.button(key="sample_shop_transactions.csv.gz").click().run()
    found["upload"] = english_runs(_page_text(at), allowed)
    at.switch_page("pages/segments.py").run()
    at.radio(key="w_cfg_seg_method").set_value("RFM").run()
    _press(at, "划分客群")
    found["segments"] = english_runs(_page_text(at), allowed)
    for page, press in [("value", "预测价值"), ("forecast", "预测销售额"), ("recommend", "生成推荐"), ("propensity", "训练模型"),
                        ("targets", None)]:
        _visit(at, found, allowed, page, press)
    return found


def _campaign_walk(tmp) -> dict[str, list[str]]:
    """A file that says who got a campaign: the uplift page; a recorded campaign's results: campaigns."""
    import numpy as np
    import pandas as pd

    from lib.act.campaigns import record_campaign

    from .test_cli import _planted_campaign

    _planted_campaign(tmp / "campaign.csv")
    planted = pd.read_csv(tmp / "campaign.csv")
    allowed, found = data_words(tmp / "campaign.csv"), {}
    at = _chinese_app()
    at.file_uploader[0].upload("campaign.csv", (tmp / "campaign.csv").read_bytes(), "text/csv").run()
    at.selectbox(key="w_cfg_target").set_value("converted").run()
    _visit(at, found, allowed, "uplift", "建立增量模型")
    sent = pd.DataFrame({"id": planted["customer_id"].astype(str), "score": 0.5,
                         "group": np.where(planted["group"] == "email", "target", "control")})
    record_campaign("Spring", sent, "id", "digest", {}, None)
    at.switch_page("pages/campaigns.py").run()
    at.file_uploader(key="results_upload").upload("results.csv", planted[["customer_id", "converted"]].to_csv(
        index=False).encode(), "text/csv").run()
    _visit(at, found, allowed, "campaigns", "分析活动改变了谁")
    return found


def _switch_walk(tmp) -> dict[str, list[str]]:
    """Work in English first, then switch to Chinese: cached results that hold words must not come back
    in English (the steps writing words are cached per language, pages/steps.py)."""
    allowed, found = data_words(SAMPLE), {}
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.query_params["lang"] = "en"
    at.run()
    at.button(key="sample_shop_customers.csv").click().run()
    for page, press in [("segments", "Find segments"), ("propensity", "Train model"), ("explain", None),
                        ("targets", None)]:
        at.switch_page(f"pages/{page}.py").run()
        if press:
            _press(at, press)
    at.segmented_control(key="w_language").set_value("zh").run()
    found["targets"] = english_runs(_page_text(at), allowed)
    for page in ("explain", "propensity", "segments", "upload"):
        _visit(at, found, allowed, page)
    return found


@pytest.fixture(scope="module", params=[_customers_walk, _log_walk, _campaign_walk, _switch_walk],
                ids=lambda w: w.__name__[1:])
def chinese_walk(request, tmp_path_factory) -> dict[str, list[str]]:
    """English runs per page of one walk through the app in Chinese."""
    with pytest.MonkeyPatch.context() as mp:  # recorded campaigns go to a folder of this walk's own
        mp.setenv("BULLSEYE_DATA_DIR", str(tmp_path_factory.mktemp("bullseye-data")))
        return request.param(tmp_path_factory.mktemp("walk"))


def test_the_pages_own_words_are_all_chinese(chinese_walk):
    ours = {page: [r for r in runs if written_by(r) == "pages"] for page, runs in chinese_walk.items()}
    assert not any(ours.values()), ours


def test_no_english_sentence_on_any_chinese_page(chinese_walk):
    assert not any(chinese_walk.values()), chinese_walk


# --- the switch: browser language, ?lang=, the sidebar; nothing the user set is lost -----------------


def _app(**query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.query_params.update(query)
    return at


def test_the_url_chooses_the_language_and_keeps_the_choice():
    at = _app(lang="zh")
    at.run()
    assert at.title[0].value == "上传并理解您的数据"
    at.switch_page("pages/segments.py").run()
    assert at.query_params["lang"] == "zh"  # page changes keep it in the URL
    assert at.info[0].value.startswith("请先在")
    at = _app(lang="en")
    at.run()
    assert at.title[0].value == "Upload & understand your data" and at.query_params["lang"] == "en"


def test_the_browser_language_is_the_default():
    at = _app()
    at.context["locale"] = "zh-CN"
    at.run()
    assert at.title[0].value == "上传并理解您的数据" and at.query_params["lang"] == "zh"


def test_switching_language_in_the_sidebar_resets_no_setting():
    at = _app(lang="en")
    at.run()
    at.button(key="sample_shop_customers.csv").click().run()
    at.switch_page("pages/segments.py").run()
    at.toggle(key="w_cfg_seg_auto").set_value(False).run()
    at.slider(key="w_cfg_seg_k").set_value(7).run()
    at.number_input(key="w_cfg_seg_seed").set_value(7).run()
    features = at.multiselect[0].value
    at.segmented_control(key="w_language").set_value("zh").run()
    assert at.title[0].value == "客群细分" and at.query_params["lang"] == "zh"
    assert at.slider(key="w_cfg_seg_k").value == 7 and at.number_input(key="w_cfg_seg_seed").value == 7
    assert at.multiselect[0].value == features and at.toggle(key="w_cfg_seg_auto").value is False
    at.switch_page("pages/upload.py").run()
    assert at.title[0].value == "上传并理解您的数据"  # the choice survives a page change
    assert at.session_state["cfg_target"] == "responded"


def test_switching_language_keeps_choices_shown_through_translated_labels():
    """The browser sends back the label it shows ("automatic", "Only products they never bought"): after a
    switch those labels are the old language's, and must still mean the same choice."""
    at = _app(lang="en")
    at.run()
    at.button(key="sample_shop_transactions.csv.gz").click().run()
    at.switch_page("pages/recommend.py").run()
    at.radio(key="w_cfg_rec_mode").set_value("new").run()
    at.segmented_control(key="w_language").set_value("zh").run()
    assert not at.exception and not at.error
    assert at.radio(key="w_cfg_rec_mode").value == "new" and at.session_state["cfg_rec_mode"] == "new"
    at.switch_page("pages/upload.py").run()
    assert at.session_state["cfg_sep"] is None and [b for b in at.selectbox if b.label == "金额"][0].value is None
    at.segmented_control(key="w_language").set_value("en").run()
    assert not at.exception and not at.error
    assert at.session_state["cfg_sep"] is None and at.selectbox(key="w_cfg_sep").value is None


# --- exports: machine-readable names unless asked, a BOM for Excel -----------------------------------


def test_exports_keep_machine_names_or_give_chinese_headers_on_request():
    import pandas as pd

    from lib.act.targeting import to_csv_bytes
    from pages.headers import for_file

    frame = pd.DataFrame({"customer_id": ["1"], "segment_name": ["高价值"], "score": [0.5], "reason_2": ["x"],
                          "region": ["北京"]})
    assert list(for_file(frame, chinese=False).columns) == list(frame.columns)
    with i18n.using("en"):  # the file's headers do not depend on the page's language
        assert list(for_file(frame, chinese=True).columns) == ["客户编号", "客群", "响应概率", "原因 2", "region"]
    data = to_csv_bytes(for_file(frame, chinese=True), excel_friendly=True)
    assert data.startswith(b"\xef\xbb\xbf") and "响应概率" in data.decode("utf-8-sig")
    about = {"campaign": "春季", "selected": 900}  # the About sheet of the Excel file
    assert for_file(about, chinese=False) == about and for_file(about, chinese=True) == {"营销活动": "春季", "发送数": 900}
