"""The loader reads every format and encoding real exports come in, and says precisely what is wrong
with files it cannot read."""

from __future__ import annotations

import gzip
import io
import zipfile

import numpy as np
import pandas as pd
import pytest

from lib.errors import DataValidationError
from lib.io import load_table, sniff_delimiter

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

    from lib.io import DEFAULT_MAX_BYTES

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
