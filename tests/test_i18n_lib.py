"""Chinese for every text lib/ builds: the catalogue covers each message, and with the language set to
Chinese a marketer reads Chinese reasons, segment names, quality sentences, errors and report text."""

from __future__ import annotations

import ast
import json
import re
import string
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from lib.errors import DataValidationError
from lib.text import i18n
from lib.text.i18n import using

from .conftest import ROOT, SAMPLES

CJK = re.compile(r"[\u4e00-\u9fff]")
# Functions whose first argument is a message looked up in the catalogue.
LOOKUPS = {"t", "_said"}


def _messages() -> list[tuple[str, int, str]]:
    """(file, line, English text) of every catalogue lookup with a literal message in lib/."""
    found = []
    for path in sorted((ROOT / "lib").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in LOOKUPS
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                found.append((path.name, node.lineno, node.args[0].value))
    return found


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_every_message_lib_builds_has_chinese_with_the_same_fields():
    messages = _messages()
    assert len(messages) > 300  # the scan finds the messages (a broken scan would pass vacuously)
    zh = i18n.catalogue("zh")
    missing = [f"{f}:{line}: {text!r}" for f, line, text in messages if text not in zh]
    assert not missing, "no Chinese for:\n" + "\n".join(missing)
    # A translation may drop a field English needs for grammar (a plural 's'), never invent one.
    extra = [f"{text!r} -> {zh[text]!r}" for _, _, text in messages if not _fields(zh[text]) <= _fields(text)]
    assert not extra, "translations with fields the code does not fill:\n" + "\n".join(extra)


def test_words_looked_up_from_tables_have_chinese():
    from lib.data import io, schema
    from lib.models import segment, value

    words = [w for _, high, low in segment._NUMBER_WORDS for w in (high, low)]
    words += [w for rule in segment.RFM_RULES for w in rule]
    words += list(schema.ROLE_LABELS.values()) + list(schema.EXCLUDE_REASONS.values())
    words += list(io.DELIMITER_NAMES.values()) + ["out-of-time", "stratified holdout"]
    words += list(value.METHOD_LABELS.values()) + ["true/false", "whole number", "number", "date", "text"]
    with using("zh"):
        words += [unit() for unit in segment._UNITS.values()]
    zh = i18n.catalogue("zh")
    assert [w for w in words if w not in zh and not CJK.search(w)] == []


def test_a_reason_code_reads_in_chinese_with_percentage_points(shop_model, shop_explanation, shop_loaded):
    from lib.models.explain import reason_codes

    english = reason_codes(shop_explanation, shop_loaded.frame, workers=1)
    with using("zh"):
        chinese = reason_codes(shop_explanation, shop_loaded.frame, workers=1)
    first_en, first_zh = english["reason_1"].iloc[0], chinese["reason_1"].iloc[0]
    assert re.fullmatch(r"[^:]+: .+ \([+-]\d+\.\d pts\)", first_en)
    # "合约类型：月付（+5.5 个百分点）": the same column, value and points, in Chinese punctuation.
    feature, rest = first_en.split(": ", 1)
    value, points = re.fullmatch(r"(.+) \(([+-]\d+\.\d) pts\)", rest).groups()
    assert first_zh == f"{feature}：{value}（{points} 个百分点）"
    # Dates read "N 天前" rather than "N days ago".
    dated = chinese.stack()
    assert not dated.str.contains("days ago").any()


def test_reasons_in_words_says_nothing_pushes_the_score_in_chinese():
    from lib.models.explain import reasons_in_words

    with using("zh"):
        assert reasons_in_words(["", "", ""]) == "无：没有因素推高这个分数"
        assert reasons_in_words(["a：1（+2.0 个百分点）", "b：2（+1.0 个百分点）"]) == "a：1（+2.0 个百分点）；b：2（+1.0 个百分点）"
    assert reasons_in_words(["", ""]) == "none: nothing pushes this score up"


def test_segment_names_and_descriptions_on_the_shop_sample_read_in_chinese(shop_loaded):
    from lib.models.segment import segment_clusters

    frame = shop_loaded.frame
    features = ["recency_days", "orders", "total_spend", "avg_order_value", "discount_share", "tenure_days"]
    english = segment_clusters(frame, features, seed=42, stability_runs=0, k=4)
    with using("zh"):
        chinese = segment_clusters(frame, features, seed=42, stability_runs=0, k=4)
    assert np.array_equal(english.labels, chinese.labels)  # the language changes words, not segments
    for en, zh in zip(english.segments, chinese.segments):
        assert CJK.search(zh.name) and not re.search(r"[A-Za-z]{4,}", zh.name), zh.name
        assert zh.description.startswith("占客户的 ") and zh.description.endswith("。"), zh.description
        assert "（整体 " in zh.description and "vs" not in zh.description
        assert en.name.isascii() and en.description.isascii()
    assert chinese.k_reason == "4 个客群，按您的设定。"


def test_a_chinese_name_puts_every_modifier_before_the_noun():
    from lib.models.segment import _assemble, _Phrase, _phrase, _said, _word

    with using("zh"):
        phrases = [
            _Phrase("adj", "big-basket", 3.0, local=_word("big-basket")),
            _Phrase("adj", "one-off", 2.0, local=_word("one-off")),
            _Phrase("noun", "full-price buyers", 1.0, local=_word("full-price buyers")),
        ]
        assert _assemble(phrases) == "大单一次性全价买家"
        placed = [_Phrase("adj", "lapsed", 3.0, local=_word("lapsed")),
                  _phrase("qual", _said("in {place}", place="Portugal"), 2.0, "category")]
        assert _assemble(placed) == "位于 Portugal 的沉睡客户"
    assert _assemble(placed) == "Lapsed customers in Portugal"


def test_rfm_groups_are_named_in_chinese_and_saved_names_still_match(shop_loaded):
    from lib.models.segment import assign_segments, segment_rfm, segmentation_state

    frame = shop_loaded.frame
    english = segment_rfm(frame, "recency_days", "orders", "total_spend")
    with using("zh"):
        chinese = segment_rfm(frame, "recency_days", "orders", "total_spend")
    assert all(CJK.search(s.name) for s in chinese.segments)
    assert np.array_equal(english.labels, chinese.labels)
    # A model saved in Chinese scores a file in English: customers land in the groups they would have
    # with a model saved in English, under the saved (Chinese) names.
    from_en = assign_segments(segmentation_state(english), frame)
    from_zh = assign_segments(segmentation_state(chinese), frame)
    assert np.array_equal(from_zh.labels, from_en.labels)
    assert [s.name for s in from_zh.segments] == [s.name for s in chinese.segments]


def test_quality_sentences_and_role_reasons_are_chinese():
    from lib.data.quality import assess_quality
    from lib.data.schema import infer_schema, role_label

    frame = pd.DataFrame({"customer_id": range(60), "income": [np.nan] * 30 + list(range(30)),
                          "plan": ["basic", "pro"] * 30})
    with using("zh"):
        schema = infer_schema(frame)
        report = assess_quality(frame, schema)
        label = role_label("binary")
    messages = [p.message for p in report.problems]
    assert "'income' 在 50% 的行中缺失。" in messages
    assert "只有 60 行：太少，无法得到可靠的客群或模型。" in messages
    assert schema.reasons["plan"] == "两个不同的值"
    assert label == "是/否标志"
    assert role_label("binary") == "Yes/no flag"


def test_load_errors_and_warnings_are_chinese(tmp_path):
    from lib.data.io import load_table

    with using("zh"), pytest.raises(DataValidationError) as err:
        load_table(tmp_path / "nothing.csv")
    assert str(err.value).startswith("找不到文件：") and "请检查路径后重试。" in str(err.value)
    with using("zh"):
        loaded = load_table(b"id,id,x\n1,2,3\n4,5,6\n", name="dup.csv")
    assert "列名 'id' 出现了不止一次；重复的列已改名为 'id_2'。" in loaded.warnings


def test_campaign_verdicts_and_gate_reasons_are_chinese():
    from lib.act.targeting import ListSpec, build_list
    from lib.models.propensity import confusion_at

    customers = pd.DataFrame({"id": [str(i) for i in range(10)], "score": np.linspace(0, 1, 10),
                              "email_ok": ["no"] * 3 + ["yes"] * 7})
    with using("zh"):
        tl = build_list(customers, ListSpec(top_n=5, exclude_no_consent="email_ok"))
        table = confusion_at(np.array([0, 1]), np.array([0.2, 0.9]), 0.5)
    assert tl.excluded_counts == {"未同意接收营销（email_ok）": 3, "低于截取线（前 N 名 / 前百分比 / 预算）": 2}
    assert list(table.index) == ["已响应", "未响应"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lib.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def _keys(obj, path="") -> set[str]:
    """Every key path of a JSON document (list items share their list's path)."""
    if isinstance(obj, dict):
        return {f"{path}/{k}" for k in obj} | {p for k, v in obj.items() for p in _keys(v, f"{path}/{k}")}
    if isinstance(obj, list):
        return {p for v in obj for p in _keys(v, path + "[]")}
    return set()


def test_cli_run_with_lang_zh_writes_chinese_text_under_the_same_keys(tmp_path):
    args = ["run", "--input", str(SAMPLES / "shop_customers.csv"), "--target", "responded", "--positive", "yes",
            "--top", "500", "--control-pct", "10", "--seed", "3"]
    en, zh = _cli(*args, "--out", str(tmp_path / "en")), _cli(*args, "--out", str(tmp_path / "zh"), "--lang", "zh")
    assert en.returncode == 0, en.stderr
    assert zh.returncode == 0, zh.stderr
    report_en = json.loads((tmp_path / "en" / "report.json").read_text(encoding="utf-8"))
    report_zh = json.loads((tmp_path / "zh" / "report.json").read_text(encoding="utf-8"))
    # Field names are the same; only the exclusion reasons, which are counted by their text, are Chinese.
    reasons = re.compile(r"^/targeting/excluded/.")
    assert {k for k in _keys(report_zh) if not reasons.match(k)} == {k for k in _keys(report_en) if not reasons.match(k)}
    assert list(report_zh["targeting"]["excluded"]) == ["低于截取线（前 N 名 / 前百分比 / 预算）"]
    assert report_zh["roles"] == report_en["roles"]  # column names and role codes stay as they are
    assert CJK.search(report_zh["segmentation"]["k_reason"])
    assert all(CJK.search(s["name"]) and CJK.search(s["description"]) for s in report_zh["segments"])
    assert all(CJK.search(e["reason"]) for e in report_zh["excluded_features"])
    assert all(CJK.search(p) for p in report_zh["quality"]["problems"])
    assert report_zh["model"]["calibration"] == "在验证集上做 Platt 校准"
    customers = pd.read_csv(tmp_path / "zh" / "customers.csv", dtype={"id": str})
    assert list(customers.columns) == list(pd.read_csv(tmp_path / "en" / "customers.csv", nrows=1).columns)
    reasons_given = customers["reason_1"].dropna()  # empty where nothing pushes the score up
    assert len(reasons_given) > 4000 and reasons_given.str.contains("个百分点）").all()
    assert customers["segment_name"].map(lambda n: bool(CJK.search(n))).all()


def test_cli_errors_follow_lang(tmp_path):
    proc = _cli("check", "--input", str(tmp_path / "missing.csv"), "--lang", "zh")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: 找不到文件：")
    proc = _cli("check", "--input", str(tmp_path / "missing.csv"))
    assert proc.stderr.startswith("error: File not found: ")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_uplift_reasons_can_find_the_end_of_a_reason_in_each_language(lang):
    # lib.models.uplift turns "(+3.1 pts)" into "(+3.1 pts of uplift)" by the translated ending of a reason.
    with using(lang):
        reason = i18n.t("{feature}: {value} ({points} pts)").format(feature="age", value="27", points="+3.1")
        ending, of_uplift = i18n.t(" pts)"), i18n.t(" pts of uplift)")
    assert reason.endswith(ending)
    assert (reason[: -len(ending)] + of_uplift) in ("age: 27 (+3.1 pts of uplift)", "age：27（+3.1 个百分点增量）")


def test_recommendation_reasons_read_in_chinese():
    from lib.models.recommend import _repeat_reasons, _similar_reasons

    names, times, ago = np.array(["JUMBO BAG", "MUG"], dtype=object), np.array([6, 1]), np.array([20.0, 60.0])
    assert list(_repeat_reasons(names, times, ago)) == ["bought JUMBO BAG 6 times, last 3 weeks ago",
                                                        "bought MUG once, 2 months ago"]
    with using("zh"):
        assert list(_repeat_reasons(names, times, ago)) == ["买过 JUMBO BAG 6 次，最近一次在 3 周前",
                                                            "买过 MUG 1 次，2 个月前"]
        assert list(_similar_reasons(names, np.array([0]), np.array([1]))) == ["买 JUMBO BAG 和 MUG 的客户也买这个"]


def test_value_reasons_read_in_chinese():
    from lib.models.value import _fmt, feature_words

    with using("zh"):
        assert list(_fmt("上次购买", np.array([12.0, np.nan]), lambda v: f"{int(v)} 天前")) == ["上次购买：12 天前",
                                                                                             "上次购买：未知"]
        assert feature_words("spend last 90 days") == "最近 90 天消费"
        assert feature_words("days since last purchase") == "距上次购买天数"
    assert feature_words("spend last 90 days") == "spend last 90 days"


def test_chart_titles_and_axes_are_chinese(shop_model, shop_loaded):
    from lib.act import plots
    from lib.models.segment import segment_clusters

    seg = segment_clusters(shop_loaded.frame, ["recency_days", "orders", "total_spend"], k=3, stability_runs=0)
    with using("zh"):
        lift = plots.lift_chart(shop_model)
        sizes = plots.segment_sizes(seg)
    assert lift.layout.title.text == "各十分位的提升度（留出集）：是平均响应率的多少倍"
    assert lift.layout.xaxis.title.text == "分数十分位（1 = 前 10%）"
    assert sizes.layout.title.text == "各客群规模" and sizes.layout.yaxis.title.text == "客群"
    assert plots.lift_chart(shop_model).layout.title.text.startswith("Lift by decile")
