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


# --- the catalogue: every message of the code has its Chinese, with the same fields ---------------

import ast  # noqa: E402
import string  # noqa: E402

from .conftest import ROOT  # noqa: E402

SCANNED = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "lib").rglob("*.py"))]


def _literal(node: ast.AST) -> str | None:
    """The text of a string literal, including implicit concatenation ("a " "b" is one Constant)."""
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def messages() -> tuple[dict[str, str], list[str]]:
    """Every ``t("...")`` literal in app.py, pages/ and lib/ (text -> where), and the calls whose
    first argument is not a literal (they cannot be checked, so they must stay rare)."""
    found, dynamic = {}, []
    for path in SCANNED:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "t" and node.args:
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                text = _literal(node.args[0])
                if text is None:
                    dynamic.append(where)
                else:
                    found.setdefault(text, where)
    return found, dynamic


def _fields(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def test_every_message_in_the_code_has_its_chinese_with_the_same_fields():
    zh = i18n.catalogue("zh")
    found, _ = messages()
    assert len(found) > 300  # the scan finds the messages (a broken scan would pass vacuously)
    missing = [f"{where}: {text!r}" for text, where in found.items() if text not in zh]
    assert not missing, "Add to lib/locale/zh/*.toml:\n" + "\n".join(missing)
    wrong = [f"{where}: {text!r} -> {zh[text]!r}" for text, where in found.items() if _fields(zh[text]) != _fields(text)]
    assert not wrong, "A translation must keep the {fields} of the English:\n" + "\n".join(wrong)


def test_translations_are_chinese_and_none_is_left_over():
    """Every entry reads as Chinese (bar product and model names), and no entry outlives its message."""
    zh = i18n.catalogue("zh")
    found, _ = messages()
    cjk = ("\u3000", "\u303f"), ("\u4e00", "\u9fff"), ("\uff00", "\uffef")  # punctuation, characters, full-width
    not_chinese = [k for k, v in zh.items() if v != k and not any(lo <= ch <= hi for ch in v for lo, hi in cjk)]
    assert not not_chinese
    unused = sorted(set(zh) - set(found))
    assert not unused, f"Not used by any t() call any more: {unused}"


def test_messages_are_literals_so_the_catalogue_can_be_checked():
    _, dynamic = messages()
    assert dynamic == []
