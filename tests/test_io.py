"""The loader reads every format and encoding real exports come in, and says precisely what is wrong
with files it cannot read."""

from __future__ import annotations

import gzip
import io
import zipfile

import numpy as np
import pandas as pd
import pytest

from lib.data.io import load_table, sniff_delimiter
from lib.errors import DataValidationError

from .conftest import SAMPLES, SHARED, requires_shared

PLAIN = "id,name,amount,joined\n1,Ann,10.5,2024-01-31\n2,Bob,20,2024-02-29\n3,Cy,30.25,2024-03-01\n"


def test_plain_utf8_csv_loads_with_types():
    r = load_table(PLAIN.encode(), "plain.csv")
    assert r.frame.shape == (3, 4)
    assert r.encoding == "utf-8" and r.delimiter == ","
    assert pd.api.types.is_float_dtype(r.frame["amount"])
    assert pd.api.types.is_datetime64_any_dtype(r.frame["joined"])
    assert pd.api.types.is_string_dtype(r.frame["name"])
    assert r.frame["amount"].tolist() == [10.5, 20.0, 30.25]


def test_utf8_bom_never_leaks_into_first_column_name():
    r = load_table(b"\xef\xbb\xbf" + PLAIN.encode(), "bom.csv")
    assert r.frame.columns[0] == "id"
    assert r.encoding == "utf-8-sig"


@pytest.mark.parametrize("delim", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(delim):
    text = PLAIN.replace(",", delim)
    r = load_table(text.encode(), "d.txt")
    assert r.delimiter == delim
    assert list(r.frame.columns) == ["id", "name", "amount", "joined"]


def test_semicolon_file_with_decimal_commas_and_thousands_dots_parses_numbers():
    text = "kunde;umsatz;rabatt\nA;1.234,50;0,1\nB;99,95;0,25\nC;12.000,00;0\n"
    r = load_table(text.encode(), "de.csv")
    assert r.decimal == ","
    assert r.frame["umsatz"].tolist() == [1234.5, 99.95, 12000.0]
    assert r.frame["rabatt"].tolist() == [0.1, 0.25, 0.0]


def test_thousands_separators_and_currency_signs_parse_as_numbers():
    text = 'id,revenue,price\n1,"$1,234.50",€5\n2,"$12,000",€7.25\n3,$3,£9\n'
    r = load_table(text.encode(), "money.csv")
    assert r.frame["revenue"].tolist() == [1234.5, 12000.0, 3.0]
    assert r.frame["price"].tolist() == [5.0, 7.25, 9.0]


def test_codes_with_leading_zeros_stay_text():
    r = load_table(b"zip,n\n01234,1\n02345,2\n10001,3\n", "zip.csv")
    assert r.frame["zip"].tolist() == ["01234", "02345", "10001"]


def test_gbk_file_with_chinese_headers_loads():
    text = "客户编号,姓名,城市,消费金额,是否购买\n1,张三,北京,100.5,是\n2,李四,上海,200,否\n3,王五,广州,50,是\n"
    r = load_table(text.encode("gbk"), "cn.csv")
    assert r.encoding == "gb18030"
    assert list(r.frame.columns) == ["客户编号", "姓名", "城市", "消费金额", "是否购买"]
    assert r.frame["城市"].tolist() == ["北京", "上海", "广州"]
    assert r.frame["消费金额"].tolist() == [100.5, 200.0, 50.0]


def test_latin1_cp1252_file_loads():
    text = "name;city;spend\nJosé;Málaga;10\nFrançoise;Besançon;20\nJürgen;Köln;30\n"
    r = load_table(text.encode("cp1252"), "eu.csv")
    assert r.encoding in ("cp1252", "latin-1")
    assert r.frame["city"].tolist() == ["Málaga", "Besançon", "Köln"]


def test_quoted_fields_with_embedded_newlines_and_crlf_line_ends():
    text = 'id,note,amount\r\n1,"first line\r\nsecond line",5\r\n2,"plain",6\r\n3,"a, b",7\r\n'
    r = load_table(text.encode(), "crlf.csv")
    assert r.frame.shape == (3, 3)
    assert r.frame["note"].iloc[0] == "first line\r\nsecond line" or r.frame["note"].iloc[0] == "first line\nsecond line"
    assert r.frame["note"].iloc[2] == "a, b"
    assert r.frame["amount"].tolist() == [5, 6, 7]


def test_duplicate_column_names_are_made_unique_with_a_warning():
    r = load_table(b"id,score,score,score\n1,2,3,4\n5,6,7,8\n", "dup.csv")
    assert list(r.frame.columns) == ["id", "score", "score_2", "score_3"]
    assert any("'score' appears more than once" in w for w in r.warnings)


def test_ragged_rows_are_reported_with_their_line_number():
    rows = ["a,b,c"] + [f"{i},{i},{i}" for i in range(1, 40)]
    rows[7] = "7,7,7,7"  # line 8 of the file has four fields
    r = load_table(("\n".join(rows) + "\n").encode(), "ragged.csv")
    assert len(r.frame) == 38
    assert any("line 8" in w and "4 fields" in w for w in r.warnings)


def test_mostly_ragged_file_is_refused_with_a_hint_about_the_delimiter():
    rows = ["a,b"] + ["1,2,3,4" if i % 2 else "1,2" for i in range(40)]
    with pytest.raises(DataValidationError, match="delimiter"):
        load_table(("\n".join(rows) + "\n").encode(), "bad.csv", sep=",")


def test_common_date_formats_parse_as_dates():
    text = "a,b,c,d\n31/01/2024,2024-01-31,01/31/2024,31.01.2024\n15/02/2024,2024-02-15,02/15/2024,15.02.2024\n"
    r = load_table(text.encode(), "dates.csv")
    for col in "abcd":
        assert pd.api.types.is_datetime64_any_dtype(r.frame[col]), col
        assert r.frame[col].iloc[0] == pd.Timestamp("2024-01-31")


def test_gzip_and_single_file_zip_load(tmp_path):
    gz = gzip.compress(PLAIN.encode())
    assert load_table(gz, "x.csv.gz").frame.shape == (3, 4)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("inner/data.csv", PLAIN)
    assert load_table(buf.getvalue(), "x.zip").frame.shape == (3, 4)


def test_zip_with_several_files_is_refused_by_name():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.csv", PLAIN)
        zf.writestr("b.csv", PLAIN)
    with pytest.raises(DataValidationError, match="holds 2 files"):
        load_table(buf.getvalue(), "two.zip")


def _xlsx(sheets: dict[str, pd.DataFrame]) -> bytes:
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as w:
        for name, df in sheets.items():
            df.to_excel(w, sheet_name=name, index=False)
    return buf.getvalue()


def test_xlsx_first_sheet_and_named_sheet():
    data = _xlsx({"Customers": pd.DataFrame({"id": [1, 2], "spend": [3.5, 4.0]}),
                  "Other": pd.DataFrame({"x": ["a", "b", "c"]})})
    first = load_table(data, "book.xlsx")
    assert list(first.frame.columns) == ["id", "spend"]
    assert any("2 sheets" in w for w in first.warnings)
    other = load_table(data, "book.xlsx", sheet="Other")
    assert other.frame["x"].tolist() == ["a", "b", "c"]


def test_missing_sheet_names_the_sheets_that_exist():
    data = _xlsx({"Customers": pd.DataFrame({"id": [1]})})
    with pytest.raises(DataValidationError, match="Its sheets are: Customers"):
        load_table(data, "book.xlsx", sheet="Nope")


def test_corrupt_xlsx_gets_a_specific_message():
    data = _xlsx({"S": pd.DataFrame({"id": [1, 2]})})
    with pytest.raises(DataValidationError, match="could not be opened as an Excel workbook"):
        load_table(data[: len(data) // 2], "broken.xlsx")


def test_parquet_loads():
    buf = io.BytesIO()
    pd.DataFrame({"id": [1, 2, 3], "v": [0.5, 1.5, np.nan]}).to_parquet(buf)
    r = load_table(buf.getvalue(), "t.parquet")
    assert r.file_format == "parquet" and r.frame.shape == (3, 2)


@pytest.mark.parametrize(
    "data,name,message",
    [
        (b"", "empty.csv", "is empty"),
        (b"   \n\n", "blank.csv", "is empty"),
        (b"id,name,spend\n", "header.csv", "no data rows"),
        (b"\x00\x01\x02binary\x00junk" * 50, "fake.csv", "binary file"),
    ],
)
def test_unreadable_files_get_a_specific_message(data, name, message):
    with pytest.raises(DataValidationError, match=message):
        load_table(data, name)


def test_file_over_the_size_limit_is_refused_before_reading():
    with pytest.raises(DataValidationError, match="over the"):
        load_table(PLAIN.encode() * 10, "big.csv", max_bytes=100)


def test_size_limit_matches_streamlit_upload_limit():
    import tomllib

    from lib.data.io import DEFAULT_MAX_BYTES

    config = tomllib.loads((SAMPLES.parent / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 1024 * 1024 == DEFAULT_MAX_BYTES


def test_sniffer_respects_quotes():
    assert sniff_delimiter('a;b\n"x,y,z";1\n"p,q";2\n') == ";"


@pytest.mark.parametrize("name", ["shop_customers.csv", "shop_transactions.csv.gz", "bank_marketing.csv.gz"])
def test_every_sample_loads(name):
    r = load_table(SAMPLES / name)
    assert len(r.frame) > 1000 and not r.warnings


@requires_shared
def test_shared_datasets_load_with_their_known_shapes():
    bank = load_table(SHARED / "bank_marketing" / "bank-full.csv")
    assert bank.frame.shape == (45211, 17) and bank.delimiter == ";"
    people = load_table(SHARED / "customer_personality" / "marketing_campaign.csv")
    assert people.frame.shape == (2240, 29) and people.delimiter == "\t"
    assert pd.api.types.is_datetime64_any_dtype(people.frame["Dt_Customer"])
    assert people.frame["Dt_Customer"].iloc[0] == pd.Timestamp("2012-09-04")  # dd-mm-yyyy
    retail = load_table(SHARED / "online_retail" / "online_retail.csv.gz")
    assert retail.frame.shape == (541909, 8)


# --- every bad input answered: missing-value codes, impossible numbers, huge cells, old line ends,
# spreadsheet leftovers -----------------------------------------------------------------------------

# How often each code appears in the 'income' column of the file below.
MISSING_CODES = {"N/A": 37, "-": 4, "NULL": 3, "#N/A": 3, "?": 2, "unknown": 2, "n/a": 2, "NA": 2, "none": 1,
                 "#VALUE!": 1, "nan": 1, "missing": 1}


def _coded_income_file(tmp_path):
    codes = [code for code, n in MISSING_CODES.items() for _ in range(n)]
    n = 400
    income = [f"{1000 + 10 * i}" for i in range(n)]
    coded_rows = list(range(3, 3 + 6 * len(codes), 6))
    for row, code in zip(coded_rows, codes):
        income[row] = code
    income[5] = ""  # an ordinary empty cell is missing too, but not a code worth reporting
    jobs = ["admin.", "unknown", "technician", "services"]
    lines = ["id,income,job,visits"] + [f"{i + 1},{income[i]},{jobs[i % 4]},{i % 9}" for i in range(n)]
    path = tmp_path / "coded.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, coded_rows


def test_missing_value_codes_in_a_number_column_load_as_missing_numbers(tmp_path):
    path, coded_rows = _coded_income_file(tmp_path)
    r = load_table(path)
    income = r.frame["income"]
    assert pd.api.types.is_float_dtype(income)
    assert income.isna().sum() == sum(MISSING_CODES.values()) + 1
    assert income.iloc[coded_rows].isna().all() and np.isnan(income.iloc[5])
    assert income.iloc[0] == 1000.0 and income.iloc[399] == 1000.0 + 3990
    counts = {f.value: f.cells for f in r.fixes if f.column == "income"}
    assert counts == MISSING_CODES
    assert {f.kind for f in r.fixes} == {"missing_token"}


def test_a_category_that_includes_unknown_stays_text(tmp_path):
    path, _ = _coded_income_file(tmp_path)
    job = load_table(path).frame["job"]
    assert pd.api.types.is_string_dtype(job)
    assert job.value_counts()["unknown"] == 100 and job.notna().all()


@pytest.mark.parametrize(
    "column,values",
    [("InvoiceNo", ["536365", "536366", "C536379"] + [f"5364{i:02d}" for i in range(97)]),  # cancellations
     ("StockCode", ["85123A", "71053", "84406B"] + [f"2{i:04d}" for i in range(97)]),
     ("children", ["0", "1", "2", "3+"] * 25)],
)
def test_codes_with_digits_keep_a_mostly_numeric_column_as_text(column, values):
    r = load_table((f"{column},n\n" + "".join(f"{v},{i}\n" for i, v in enumerate(values))).encode(), "codes.csv")
    assert pd.api.types.is_string_dtype(r.frame[column])
    assert r.frame[column].tolist() == values and r.fixes == ()


def test_a_stray_word_in_a_number_column_is_read_as_missing_and_named():
    values = [str(i) for i in range(200)]
    values[10] = values[20] = "refused"
    r = load_table(("spend\n" + "\n".join(values) + "\n").encode(), "refused.csv")
    assert pd.api.types.is_float_dtype(r.frame["spend"]) and r.frame["spend"].isna().sum() == 2
    assert [(f.kind, f.value, f.cells) for f in r.fixes] == [("not_a_number", "refused", 2)]


def test_nan_written_in_a_number_column_is_counted():
    # pyarrow reads 'nan' in a column of numbers as a number (NaN) itself; it is still reported.
    r = load_table(b"id,spend\n1,1.5\n2,nan\n3,2\n4,NaN\n5,3\n6,nan\n", "nan.csv")
    assert r.frame["spend"].isna().sum() == 3
    assert [(f.column, f.value, f.cells) for f in r.fixes] == [("spend", "nan", 3)]


def test_missing_value_codes_in_an_xlsx_number_column(tmp_path):
    data = _xlsx({"S": pd.DataFrame({"id": range(1, 41), "spend": [12.5, "N/A", 7, "-"] * 10})})
    r = load_table(data, "coded.xlsx")
    assert pd.api.types.is_float_dtype(r.frame["spend"])
    assert r.frame["spend"].tolist()[:4] == [12.5, pytest.approx(np.nan, nan_ok=True), 7.0,
                                             pytest.approx(np.nan, nan_ok=True)]
    assert {f.value: f.cells for f in r.fixes} == {"N/A": 10, "-": 10}


def test_infinite_and_absurd_numbers_become_missing_with_their_rows_named(tmp_path):
    n = 300
    spend = [f"{(i * 37) % 500 + 0.5}" for i in range(n)]
    for row, bad in {4: "inf", 9: "-inf", 17: "Infinity", 60: "1e308", 61: "1e309", 120: "-1e20"}.items():
        spend[row] = bad
    path = tmp_path / "absurd.csv"
    path.write_text("id,spend\n" + "".join(f"{i + 1},{v}\n" for i, v in enumerate(spend)))
    r = load_table(path)
    s = r.frame["spend"]
    assert s.isna().sum() == 6 and s.iloc[[4, 9, 17, 60, 61, 120]].isna().all()
    assert np.isfinite(s.dropna()).all() and s.max() == 499.5
    fixes = {f.kind: f for f in r.fixes}
    assert fixes["non_finite"].cells == 4 and fixes["non_finite"].rows == (5, 10, 18, 62)  # 1e309 overflows to inf
    assert fixes["absurd"].cells == 2 and fixes["absurd"].rows == (61, 121)
    warning = next(w for w in r.warnings if w.startswith("'spend'"))
    assert "4 infinite values (data rows 5, 10, 18, 62)" in warning
    assert "2 absurdly large values" in warning and "data rows 61, 121" in warning
    assert "set to missing" in warning


def test_a_column_of_huge_numbers_is_left_alone():
    # Nanosecond timestamps or 16-digit account numbers are large everywhere, not absurd.
    values = [1.7e18 + i * 1e12 for i in range(100)]
    r = load_table(("ts\n" + "\n".join(f"{v:.0f}" for v in values) + "\n").encode(), "big.csv")
    assert r.frame["ts"].notna().all() and r.fixes == () and not r.warnings


def test_impossible_ages_become_missing_but_negative_quantities_stay(tmp_path):
    n = 200
    age = [str(20 + i % 50) for i in range(n)]
    age[3], age[8], age[150] = "-3", "150", "999"
    quantity = [str(i % 7 - 2) for i in range(n)]  # negative quantities are returns
    account_age_days = [str(300 + i * 10) for i in range(n)]
    path = tmp_path / "ages.csv"
    path.write_text("Age,quantity,account_age_days\n" + "".join(
        f"{a},{q},{d}\n" for a, q, d in zip(age, quantity, account_age_days)))
    r = load_table(path)
    assert r.frame["Age"].isna().sum() == 3 and r.frame["Age"].iloc[[3, 8, 150]].isna().all()
    assert (r.frame["quantity"] < 0).sum() == sum(int(q) < 0 for q in quantity)
    assert r.frame["account_age_days"].notna().all() and r.frame["account_age_days"].max() == 300 + 199 * 10
    (fix,) = r.fixes
    assert (fix.column, fix.kind, fix.cells, fix.rows) == ("Age", "impossible_age", 3, (4, 9, 151))
    assert any("'Age': 3 impossible ages (below 0 or above 120; data rows 4, 9, 151) were set to missing" in w
               for w in r.warnings)


def test_an_age_column_not_in_years_is_left_alone():
    # Someone's "age" in months (or of a contract in days) is not a person's age in years.
    r = load_table(("age\n" + "\n".join(str(200 + 7 * i) for i in range(100)) + "\n").encode(), "months.csv")
    assert r.frame["age"].notna().all() and r.fixes == ()


def test_impossible_numbers_do_not_break_scaling_clustering_or_boosting(tmp_path):
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler
    from xgboost import XGBClassifier

    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({"age": rng.integers(18, 80, n).astype(str), "spend": rng.gamma(2, 50, n).round(2).astype(str),
                          "bought": rng.integers(0, 2, n)})
    frame.loc[[1, 2], "age"] = ["-4", "200"]
    frame.loc[[5, 6, 7], "spend"] = ["inf", "-Infinity", "1e308"]
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    loaded = load_table(path).frame
    x = loaded[["age", "spend"]]
    assert x.isna().sum().tolist() == [2, 3]
    filled = x.fillna(x.median())
    scaled = StandardScaler().fit_transform(filled)
    assert np.isfinite(scaled).all()
    assert len(set(KMeans(3, n_init=2, random_state=0).fit_predict(scaled))) == 3
    model = XGBClassifier(n_estimators=5, max_depth=2).fit(x, loaded["bought"])
    assert np.isfinite(model.predict_proba(x)).all()


def test_a_200000_character_text_cell_loads(tmp_path):
    # Quoted replies with commas and newlines, then an HTML part with no line break at all.
    replies = "> On Monday, Ann wrote:\n> \"Can we move the order, please?\"\n" * 500
    thread = (replies + "<p>Thanks, see you soon, Bob</p>" * 10_000)[:200_000]
    quoted = '"' + thread.replace('"', '""') + '"'
    path = tmp_path / "emails.csv"
    path.write_text(f"id,notes,spend\n1,{quoted},10.5\n2,short note,20\n3,\"a, b\",30\n")
    r = load_table(path)
    assert r.frame.shape == (3, 3)
    assert r.frame["notes"].iloc[0] == thread and len(r.frame["notes"].iloc[0]) == 200_000
    assert r.frame["notes"].iloc[2] == "a, b"
    assert r.frame["spend"].tolist() == [10.5, 20.0, 30.0]


@pytest.mark.parametrize("newline", ["\r", "\n", "\r\n"], ids=["bare CR (old Mac Excel)", "LF", "CRLF"])
def test_every_line_end_loads_the_same_rows(tmp_path, newline):
    lines = ["id;city;spend;joined", "1;Köln;10,5;31/01/2024", "2;Lyon;20;15/02/2024", "3;Graz;7,25;01/03/2024"]
    path = tmp_path / "lines.csv"
    path.write_bytes((newline.join(lines) + newline).encode("cp1252"))
    r = load_table(path)
    assert r.frame.shape == (3, 4) and r.delimiter == ";"
    assert r.frame["city"].tolist() == ["Köln", "Lyon", "Graz"]
    assert r.frame["spend"].tolist() == [10.5, 20.0, 7.25]
    assert r.frame["joined"].iloc[2] == pd.Timestamp("2024-03-01")


def test_csv_empty_rows_and_empty_unnamed_columns_are_dropped_and_counted(tmp_path):
    rows = ["id,region,spend,,"]
    rows += [f"{i},{'NS'[i % 2]},{i * 1.5},," for i in range(1, 21)]
    rows.insert(8, ",,,,")  # a blank row in the middle of the data
    rows.insert(15, " , ,,,")
    rows += [",,,,"] * 10 + [""] * 3  # the used range of the sheet it came from
    path = tmp_path / "residue.csv"
    path.write_text("\n".join(rows) + "\n")
    r = load_table(path)
    assert list(r.frame.columns) == ["id", "region", "spend"]
    assert r.frame["id"].tolist() == list(range(1, 21))
    assert "Dropped 12 empty rows and 2 empty unnamed columns" in " ".join(r.warnings)


def test_xlsx_used_range_residue_is_dropped_and_counted():
    import openpyxl
    from openpyxl.styles import PatternFill

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["id", "spend", "region", None])
    for i in range(1, 31):
        sheet.append([i, i * 2.5, "N" if i % 3 else "S", None])
        if i == 10:
            sheet.append([None, " ", None, None])  # a blank row in the middle
    yellow = PatternFill("solid", fgColor="FFFF00")
    for row in range(33, 45):  # formatted, "empty" rows below the data
        sheet.cell(row, 1).fill = yellow
        sheet.cell(row, 2).value = " "
        sheet.cell(row, 4).value = ""
    for row in range(2, 45):
        sheet.cell(row, 4).value = " "  # a column with no header and nothing in it but spaces
    buf = io.BytesIO()
    book.save(buf)
    r = load_table(buf.getvalue(), "residue.xlsx")
    assert list(r.frame.columns) == ["id", "spend", "region"]
    assert len(r.frame) == 30 and r.frame["id"].tolist() == list(range(1, 31))
    assert r.frame["spend"].iloc[-1] == 75.0
    assert any(w.startswith("Dropped 13 empty rows and 1 empty unnamed column:") for w in r.warnings)


def test_named_empty_columns_are_kept_for_the_quality_report():
    r = load_table(b"id,spend,notes\n1,2,\n2,3,\n3,4,\n", "named.csv")
    assert list(r.frame.columns) == ["id", "spend", "notes"] and not r.warnings
