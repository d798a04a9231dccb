"""The bad-input corpus: every file a real export can throw at Bullseye gets either a correct result
with a warning or one precise message (CLI: exit 2, one ``error:`` line; lib: DataValidationError)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from lib.data.io import load_table
from lib.errors import DataValidationError
from lib.flow.pipeline import RunSettings, SegmentSettings, UnderstandSettings, run

from .conftest import ROOT


def _customers(n: int = 300, seed: int = 0, target: list | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "customer_id": np.arange(1, n + 1),
        "visits": rng.poisson(4, n),
        "spend": rng.gamma(2, 50, n).round(2),
        "region": rng.choice(["N", "S", "E"], n),
    })
    logit = -1 + 0.3 * df["visits"] - 0.004 * df["spend"]
    df["responded"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    if target is not None:
        df["responded"] = (target * n)[:n]
    return df


def _csv(df: pd.DataFrame, **kw) -> bytes:
    return df.to_csv(index=False, **kw).encode(kw.pop("encoding", "utf-8") if "encoding" in kw else "utf-8")


def _with_cells(df: pd.DataFrame, column: str, cells: dict[int, str]) -> pd.DataFrame:
    """A copy of ``df`` with ``column`` as text and the given rows overwritten (bad cells in a real export)."""
    out = df.copy()
    values = out[column].astype(str).tolist() if column in out else [""] * len(out)
    for row, value in cells.items():
        values[row] = value
    out[column] = values
    return out


def _xlsx_corrupt() -> bytes:
    buf = io.BytesIO()
    _customers(20).to_excel(buf, index=False)
    data = buf.getvalue()
    return data[:200] + b"\x00" * 200 + data[400:]


CHINESE = pd.DataFrame({
    "客户编号": range(1, 201), "城市": ["北京", "上海"] * 100, "消费金额": np.arange(200) * 1.5,
    "访问次数": np.arange(200) % 7, "是否购买": ["是", "否", "否", "否"] * 50,
})

# name -> (file name, bytes, extra CLI args, expectation): expectation is ("error", words) or ("ok", words
# that must appear in report warnings or None).
CORPUS = {
    "empty file": ("empty.csv", b"", [], ("error", ["empty"])),
    "header only": ("header.csv", b"customer_id,spend,responded\n", [], ("error", ["no data rows"])),
    "binary named csv": ("fake.csv", bytes(range(256)) * 40, [], ("error", ["binary"])),
    "ragged rows": ("ragged.csv", _csv(_customers()).replace(b"\n5,", b"\n5,99,", 1), ["--target", "responded"],
                    ("ok", ["wrong number of fields"])),
    "mostly wrong delimiter": ("mixed.csv", b"a,b\n" + b"1;2;3;4,5,6\n1,2\n" * 40, ["--sep", ","],
                               ("error", ["delimiter"])),
    "semicolons and decimal commas": (
        "eu.csv", _customers().to_csv(index=False, sep=";", decimal=",").encode(), ["--target", "responded"],
        ("ok", None)),
    "gbk with chinese columns": ("cn.csv", CHINESE.to_csv(index=False).encode("gbk"), ["--target", "是否购买"],
                                 ("ok", None)),
    "latin-1": ("latin.csv", _customers().assign(region=lambda d: d["region"].map({"N": "Nörd", "S": "Süd", "E": "Ëast"}))
                .to_csv(index=False).encode("latin-1"), ["--target", "responded"], ("ok", None)),
    "utf-8 bom": ("bom.csv", b"\xef\xbb\xbf" + _csv(_customers()), ["--target", "responded", "--id", "customer_id"],
                  ("ok", None)),
    "thousands separators": ("thousands.csv", _customers().assign(spend=lambda d: d["spend"].map("${:,.2f}".format))
                             .to_csv(index=False).encode(), ["--target", "responded"], ("ok", None)),
    "mixed date formats": ("dates.csv", _customers().assign(
        joined=["2024-01-05", "05/02/2024", "2024-03-01"] * 100).to_csv(index=False).encode(), ["--target", "responded"],
        ("ok", ["mixes date formats"])),
    "duplicate column names": ("dup.csv", _csv(_customers()).replace(b"visits,spend", b"visits,visits", 1),
                               ["--target", "responded"], ("ok", ["appears more than once"])),
    "all-empty and constant columns": ("const.csv", _csv(_customers().assign(empty=np.nan, same="x")),
                                       ["--target", "responded"], ("ok", None)),
    "target missing": ("t.csv", _csv(_customers()), ["--target", "bought"], ("error", ["bought", "not in the file"])),
    "target with one class": ("one.csv", _csv(_customers(target=["no"])), ["--target", "responded"],
                              ("error", ["only one class"])),
    "target with many values": ("many.csv", _csv(_customers()), ["--target", "region"],
                                ("error", ["region", "Name the positive class"])),
    "three values with a positive class": ("maybe.csv", _csv(_customers(target=["yes", "no", "maybe", "no"])),
                                           ["--target", "responded", "--positive", "yes"],
                                           ("ok", ["modelling 'yes' against all the others (maybe, no)"])),
    "a handful of positives": ("few.csv", _csv(_customers(target=["yes"] + ["no"] * 59)), ["--target", "responded"],
                               ("error", ["5 positive", "at least 20 of each"])),
    "target spelled Y/N with blanks": ("yn.csv", _csv(_customers(target=["Y", "N", "", "N"])), ["--target", "responded"],
                                       ("ok", None)),
    "target spelled 1.0/0.0 with blanks": ("f.csv", _csv(_customers(target=[1.0, 0.0, None, 0.0])),
                                           ["--target", "responded"], ("ok", None)),
    "target spelled True/False": ("tf.csv", _csv(_customers(target=[True, False, False])), ["--target", "responded"],
                                  ("ok", None)),
    "one data row": ("one_row.csv", _csv(_customers(1)), [], ("error", ["at least 3"])),
    "a column copying the target": ("copy.csv", _csv(_customers().assign(flag=lambda d: d["responded"].eq("yes").astype(int))),
                                    ["--target", "responded"], ("ok", ["flag"])),
    "corrupt xlsx": ("broken.xlsx", _xlsx_corrupt(), [], ("error", ["Excel workbook"])),
    "missing-value codes in a number column": ("codes.csv", _csv(_with_cells(_customers(), "spend", {
        i: ["N/A", "-", "unknown"][i // 9 % 3] for i in range(0, 300, 9)})), ["--target", "responded"],
        ("ok", ["held 'N/A'", "held '-'", "held 'unknown'", "read as missing"])),
    "infinite, absurd and impossible numbers": ("absurd.csv", _csv(_with_cells(
        _with_cells(_customers().assign(age=lambda d: 20 + d["visits"] * 5), "age", {4: "-3"}),
        "spend", {7: "inf", 8: "1e308"})), ["--target", "responded"],
        ("ok", ["1 infinite value (data row 8)", "1 absurdly large value", "impossible age", "set to missing"])),
    "bare CR line ends": ("mac.csv", _csv(_customers()).replace(b"\n", b"\r"), ["--target", "responded"], ("ok", None)),
    "spreadsheet residue": ("residue.csv", _csv(_customers().assign(blank=None)).replace(b",blank", b",", 1)
                            .replace(b"\n5,", b"\n,,,,,\n5,", 1) + b",,,,,\n" * 12,
                            ["--target", "responded"], ("ok", ["Dropped 13 empty rows and 1 empty unnamed column"])),
    "a 200,000-character text cell": ("thread.csv", _csv(_with_cells(_customers(), "notes", {
        i: "short" for i in range(300)} | {5: "> quoted, reply\n" * 500 + "<p>long, unbroken html</p>" * 8_000})), ["--target", "responded"], ("ok", None)),
    "formula injection cells": ("inject.csv", _csv(_customers().assign(
        note=["=HYPERLINK(\"http://evil\",\"x\")", "+SUM(A1:A9)", "@cmd", "-2+3"] * 75)),
        ["--target", "responded", "--top", "50"], ("ok", None)),
}


@pytest.mark.parametrize("case", list(CORPUS))
def test_corpus_through_the_cli(case, tmp_path):
    name, data, args, (kind, words) = CORPUS[case]
    path = tmp_path / name
    path.write_bytes(data)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "lib.cli", "run", "--input", str(path), "--out", str(out), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    if kind == "error":
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")
        for w in words:
            assert w in lines[0], lines[0]
    else:
        assert proc.returncode == 0, proc.stderr
        report = json.loads((out / "report.json").read_text())
        text = json.dumps(report, ensure_ascii=False)
        for w in words or []:
            assert w in text, w
        customers = pd.read_csv(out / "customers.csv")
        assert len(customers) == report["customers"]
        CONTENT.get(case, lambda r, c: None)(report, customers)


def _balance(report: dict) -> dict:
    return report["quality"]["class_balance"]


# What each "ok" case must have produced, beyond not failing: the roles, counts and numbers.
CONTENT = {
    "ragged rows": lambda r, c: r["rows"] == 299 or pytest.fail(f"rows {r['rows']}"),
    "semicolons and decimal commas": lambda r, c: (
        r["roles"]["spend"] == "numeric" and "spend" in r["model"]["features"] and r["rows"] == 300
    ) or pytest.fail(str(r["roles"])),
    "gbk with chinese columns": lambda r, c: (
        r["roles"]["消费金额"] == "numeric" and _balance(r)["positive"] == 50 and r["id_column"] == "客户编号"
    ) or pytest.fail(str(r["roles"])),
    "latin-1": lambda r, c: (
        r["input"]["encoding"] in ("cp1252", "latin-1") and r["roles"]["region"] == "categorical"
    ) or pytest.fail(str(r["input"])),
    "utf-8 bom": lambda r, c: (r["id_column"] == "customer_id" and "customer_id" in r["roles"]) or pytest.fail(
        str(r["roles"])),
    "thousands separators": lambda r, c: r["roles"]["spend"] == "numeric" or pytest.fail(str(r["roles"])),
    "mixed date formats": lambda r, c: r["roles"]["joined"] == "date" or pytest.fail(str(r["roles"])),
    "duplicate column names": lambda r, c: (len(r["roles"]) == 5 and {"visits", "visits_2"} <= set(r["roles"])
                                            ) or pytest.fail(str(r["roles"])),
    "all-empty and constant columns": lambda r, c: (
        {e["column"] for e in r["excluded_features"]} >= {"empty", "same"}
        and not {"empty", "same"} & set(r["model"]["features"])) or pytest.fail(str(r["excluded_features"])),
    "target spelled Y/N with blanks": lambda r, c: (_balance(r)["unlabelled"] == 75 and _balance(r)["positive"] == 75
                                                    ) or pytest.fail(str(_balance(r))),
    "target spelled 1.0/0.0 with blanks": lambda r, c: (
        _balance(r)["unlabelled"] == 75 and _balance(r)["positive"] == 75) or pytest.fail(str(_balance(r))),
    "target spelled True/False": lambda r, c: _balance(r)["positive"] == 100 or pytest.fail(str(_balance(r))),
    "three values with a positive class": lambda r, c: (
        _balance(r)["positive"] == 75 and _balance(r)["negative"] == 225) or pytest.fail(str(_balance(r))),
    "a column copying the target": lambda r, c: any(
        e["column"] == "flag" and e["reason"].startswith("leakage") for e in r["excluded_features"]) or pytest.fail(
        str(r["excluded_features"])),
    "missing-value codes in a number column": lambda r, c: (
        r["roles"]["spend"] == "numeric" and "spend" in r["model"]["features"]) or pytest.fail(str(r["roles"])),
    "infinite, absurd and impossible numbers": lambda r, c: (
        r["roles"]["spend"] == "numeric" and r["roles"]["age"] == "numeric") or pytest.fail(str(r["roles"])),
    "bare CR line ends": lambda r, c: (r["rows"] == 300 and r["columns"] == 5) or pytest.fail(f"{r['rows']}"),
    "spreadsheet residue": lambda r, c: (r["rows"] == 300 and r["columns"] == 5) or pytest.fail(f"{r['rows']}"),
    "a 200,000-character text cell": lambda r, c: (r["rows"] == 300 and r["columns"] == 6 and "notes" in r["roles"]
                                                   ) or pytest.fail(str(r["roles"])),
    "formula injection cells": lambda r, c: r["model"] is not None or pytest.fail("no model"),
}


def test_every_ok_case_has_a_content_check():
    ok = {name for name, case in CORPUS.items() if case[3][0] == "ok"}
    assert ok - set(CONTENT) == set()


def test_thousand_columns_load_and_run():
    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(150, 1000)), columns=[f"c{i}" for i in range(1000)])
    wide["responded"] = np.where(wide["c0"] + rng.normal(size=150) > 0, "yes", "no")
    loaded = load_table(_csv(wide), "wide.csv")
    assert loaded.frame.shape == (150, 1001)
    result = run(loaded, RunSettings(understand=UnderstandSettings(target="responded"), segment=SegmentSettings(k=3)))
    assert len(result.table) == 150 and result.model is not None


def test_memory_guard_refuses_a_file_too_big_for_free_memory(monkeypatch):
    import lib.data.io.files

    monkeypatch.setattr(lib.data.io.files, "available_memory", lambda: 1000)
    with pytest.raises(DataValidationError, match="of memory once loaded"):
        load_table(_csv(_customers()), "big.csv")
