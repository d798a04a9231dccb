"""Finding English left on a Chinese page: runs of three or more English words that are not the user's
own data. Shared by the AppTest walk (tests/test_i18n.py) and the browser walk (tests/e2e/).

What may stay English is kept small and honest: the sample file's column names (also as a person reads
them, "web visits last month") and text values, and the names of products, methods and formats.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent

# Names that are the same in Chinese text (a Chinese marketer writes "XGBoost", "AUC", "CSV").
NAMES = ["Bullseye", "XGBoost", "TreeSHAP", "SHAP", "PR AUC", "AUC", "RFM", "Qini", "Platt", "Brier", "CSV", "UTF-8",
         "BOM", "Excel", "Parquet", "TSV", "TXT", "PII", "UCI", "python -m lib.cli score", ".bullseye", "Streamlit"]
# Streamlit's own page furniture, which an app cannot translate.
STREAMLIT = ["Skip to main content", "Drag and drop file here", "Browse files", "MB per file", "GB per file"]
RUN = re.compile(r"[A-Za-z][A-Za-z'’-]*(?:[ \t]+[A-Za-z][A-Za-z'’-]*){2,}")


def data_words(*files) -> list[str]:
    """Column names and text values of the files a walk loads: data, not interface."""
    words: set[str] = set()
    for path in files:
        frame = pd.read_csv(path, nrows=20_000)
        for col in frame.columns:
            words |= {col, col.replace("_", " "), col.replace("_", " ").capitalize()}
            if frame[col].dtype == object:  # names, places, emails; not lowercase words such as "yes" or "app",
                values = frame[col].dropna().astype(str).unique()[:500]  # which would hide English around them
                words |= {v for v in values if not re.fullmatch(r"[a-z]+", v)}
    return sorted(words, key=len, reverse=True)  # longest first, so "web visits" goes before "web"


def english_runs(text: str, allowed: list[str]) -> list[str]:
    """Runs of >= 3 English words in ``text`` once allowed names and data are taken out."""
    for word in [*STREAMLIT, *allowed, *NAMES]:
        if len(word) > 1:
            text = re.sub(rf"(?<![A-Za-z]){re.escape(word)}(?![A-Za-z])", " ¶ ", text)
    text = re.sub(r"[*`#>|]", " ", text)  # markdown (not "_": snake_case names and icon names are no words)
    return RUN.findall(text)


def written_by(run: str) -> str:
    """Where an English run comes from: "pages" when app.py or pages/ write it (and lib/ does not),
    else "lib" (lib/'s words are translated on their own branch, i18n-lib)."""
    def source(paths) -> str:
        return re.sub(r'"\s*\n\s*f?"', "", "\n".join(p.read_text(encoding="utf-8") for p in paths))

    ours, theirs = source([ROOT / "app.py", *(ROOT / "pages").glob("*.py")]), source((ROOT / "lib").rglob("*.py"))
    return "pages" if run in ours and run not in theirs else "lib"
