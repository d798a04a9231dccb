"""End-to-end in headless Chromium: real uploads, the guided walk, real downloads, isolated sessions."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from .conftest import ROOT, assert_no_error_on

pytestmark = pytest.mark.e2e


def wait_idle(page) -> None:
    """Wait until Streamlit has finished the current run."""
    page.wait_for_timeout(300)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=180_000)


def goto(page, title: str) -> None:
    page.get_by_role("link", name=title).click()
    wait_idle(page)


def upload(page, path, label: str | None = None) -> None:
    """Upload into the file chooser with this label (the first one without).

    With a label, wait for that chooser, then for its file chip: on a loaded machine a chooser that a
    rerun is about to show (or move) is not there yet when the previous run looks finished. (The Upload
    page's own chooser hands the file over and empties itself, so there is no chip to wait for.)"""
    box = page.locator("[data-testid='stFileUploader']")
    box = (box.filter(has_text=label) if label else box).first
    box.wait_for()
    box.locator("input[type='file']").set_input_files(str(path))
    if label:
        box.get_by_text(Path(path).name).first.wait_for()
    wait_idle(page)


def test_uploading_a_csv_through_the_file_chooser_shows_the_quality_report(page, tmp_path):
    rows = ["customer_id;job;balance;pdays;responded"] + [
        f"{i};{'unknown' if i % 9 == 0 else 'admin'};{i * 10},5;{-1 if i % 2 else i};{'yes' if i % 4 == 0 else 'no'}"
        for i in range(1, 301)
    ]
    path = tmp_path / "export.csv"
    path.write_bytes(("\n".join(rows) + "\n").encode("cp1252"))
    upload(page, path)
    page.get_by_text("300 rows × 5 columns").wait_for()
    page.get_by_text("Data quality").first.wait_for()
    page.get_by_text("'pdays' uses -1").first.wait_for()
    page.get_by_text("decimal commas").first.wait_for()
    assert_no_error_on(page)
    page.screenshot(path=str(tmp_path / "upload.png"), full_page=True)


SAMPLE_WALKS = {
    "shop customers": ("Synthetic shop: 5,000 customers with a response flag", "5,000 rows × 17 columns", "customer_id"),
    "shop transactions": ("Synthetic shop: 62,000-line transaction log", "into 5,000 customers", "customer_id"),
    "bank marketing": ("UCI Bank Marketing: 45,211 calls, did they subscribe?", "45,211 rows × 17 columns", "id"),
}


@pytest.mark.parametrize("sample", list(SAMPLE_WALKS))
def test_full_walk_from_sample_to_downloaded_list(page, sample):
    button, loaded_text, id_col = SAMPLE_WALKS[sample]
    page.get_by_role("button", name=button).click()
    page.get_by_text(loaded_text).first.wait_for()
    assert_no_error_on(page)
    goto(page, "2. Segments")
    page.get_by_role("button", name="Find segments").click()
    page.get_by_text("Who is in each segment").wait_for()
    assert_no_error_on(page)
    goto(page, "3. Propensity model")
    page.get_by_role("button", name="Train model").click()
    page.get_by_text("What is a contact worth?").wait_for()
    assert_no_error_on(page)
    goto(page, "4. Explain")
    page.get_by_text("Exact TreeSHAP for all").wait_for()
    assert_no_error_on(page)
    goto(page, "5. Target list")
    page.get_by_text("To send").first.wait_for()
    assert_no_error_on(page)
    with page.expect_download() as info:
        page.get_by_role("button", name="CSV (UTF-8)").click()
    sent = pd.read_csv(io.BytesIO(info.value.path().read_bytes()), dtype=str)
    assert len(sent) == 900 and set(sent["group"]) == {"target"}
    assert sent.columns[0] == id_col and sent[id_col].is_unique
    assert {"segment_name", "score", "rank", "reason_1", "reason_2", "reason_3"} <= set(sent.columns)
    assert sent["reason_1"].str.contains("pts").all()
    page.get_by_text("Recorded campaign").wait_for()
    goto(page, "6. Campaigns & results")
    page.get_by_text("Results file").first.wait_for()
    assert_no_error_on(page)


def test_two_sessions_never_see_each_others_data(browser, server, tmp_path):
    a_file, b_file = tmp_path / "alpha.csv", tmp_path / "beta.csv"
    a_file.write_text("id,city,spend\n" + "".join(f"{i},AlphaTown,{i}\n" for i in range(1, 51)))
    b_file.write_text("id,region,spend\n" + "".join(f"{i},BetaVille,{i}\n" for i in range(1, 81)))
    pages = []
    for f in (a_file, b_file):
        ctx = browser.new_context()
        p = ctx.new_page()
        p.set_default_timeout(120_000)
        p.goto(server["url"])
        p.get_by_text("Upload & understand your data").first.wait_for()
        upload(p, f)
        pages.append(p)
    a, b = pages
    a.get_by_text("50 rows × 3 columns").wait_for()
    b.get_by_text("80 rows × 3 columns").wait_for()
    a.reload()
    a.get_by_text("Upload & understand your data").first.wait_for()
    wait_idle(a)
    assert "BetaVille" not in a.content() and "beta.csv" not in a.content()
    assert "AlphaTown" not in b.content() and "alpha.csv" not in b.content()
    for p in pages:
        p.context.close()



def _formats(tmp_path) -> dict:
    import gzip
    import zipfile

    df = pd.DataFrame({"客户编号": range(1, 41), "city": ["Málaga", "北京"] * 20, "spend": [1234.5] * 40,
                       "responded": ["yes", "no"] * 20})
    text = df.to_csv(index=False)
    files = {
        "utf8.csv": text.encode("utf-8"),
        "bom.csv": b"\xef\xbb\xbf" + text.encode("utf-8"),
        "gbk.csv": text.replace("Málaga", "广州").encode("gbk"),
        "semicolon.txt": df.to_csv(index=False, sep=";", decimal=",").encode("utf-8"),
        "tab.tsv": df.to_csv(index=False, sep="\t").encode("utf-8"),
        "data.csv.gz": gzip.compress(text.encode("utf-8")),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("export.csv", text)
    files["data.zip"] = buf.getvalue()
    buf = io.BytesIO()
    df.to_excel(buf, index=False)
    files["data.xlsx"] = buf.getvalue()
    buf = io.BytesIO()
    df.to_parquet(buf)
    files["data.parquet"] = buf.getvalue()
    out = {}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        out[name] = tmp_path / name
    return out


DETECTED = {"utf8.csv": "encoding utf-8 ·", "bom.csv": "encoding utf-8-sig", "gbk.csv": "encoding gb18030",
            "semicolon.txt": "semicolon-separated · decimal commas", "tab.tsv": "tab-separated",
            "data.csv.gz": "comma-separated", "data.zip": "comma-separated", "data.xlsx": "EXCEL",
            "data.parquet": "PARQUET"}


def test_every_format_loads_through_the_browser(page, tmp_path):
    for name, path in _formats(tmp_path).items():
        upload(page, path)
        summary = page.locator("[data-testid='stAlertContentSuccess']").first
        summary.get_by_text(name, exact=False).wait_for()
        text = summary.inner_text()
        assert "40 rows × 4 columns" in text and DETECTED[name] in text, (name, text)
        assert_no_error_on(page)


def test_save_a_model_then_score_next_months_file_with_it(page, tmp_path):
    """Train, download the model file, then upload it with a new file on Score a new file: drift check,
    scores, and a target list built from the new scores."""
    page.get_by_role("button", name="Synthetic shop: 5,000 customers with a response flag").click()
    page.get_by_text("5,000 rows × 17 columns").first.wait_for()
    goto(page, "3. Propensity model")
    page.get_by_role("button", name="Train model").click()
    page.get_by_text("Keep this model").wait_for()
    with page.expect_download() as info:
        page.get_by_role("button", name="Save model (.bullseye file)").click()
    model_path = tmp_path / "shop.bullseye"
    info.value.save_as(model_path)
    next_month = pd.read_csv(ROOT / "sample_data" / "shop_customers.csv").head(2000)
    next_month["region"] = next_month["region"].where(next_month.index % 5 > 0, "Atlantis")
    new_path = tmp_path / "next_month.csv"
    next_month.to_csv(new_path, index=False)
    goto(page, "Score a new file")
    page.get_by_text("A saved model file").click()
    wait_idle(page)
    upload(page, model_path, "Model file (.bullseye)")
    upload(page, new_path, "New customer file")
    page.get_by_role("button", name="Score this file").click()
    page.get_by_text("Has the data moved since training?").wait_for()
    page.get_by_text("Atlantis").first.wait_for()  # the new region is named in a drift warning
    page.get_by_text("Customers scored").wait_for()
    assert "2,000" in page.locator("[data-testid='stMetric']").first.inner_text()
    assert_no_error_on(page)
    goto(page, "5. Target list")
    page.get_by_text("scored by a saved model").first.wait_for()
    with page.expect_download() as info:
        page.get_by_role("button", name="CSV (UTF-8)").click()
    sent = pd.read_csv(io.BytesIO(info.value.path().read_bytes()), dtype=str)
    assert len(sent) == 900 and set(sent["customer_id"]) <= set(next_month["customer_id"].astype(str))
    assert_no_error_on(page)
