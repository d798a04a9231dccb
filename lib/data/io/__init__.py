"""Load any table a marketer is likely to export: CSV/TSV/TXT (any delimiter, encoding, decimal comma),
gzip or single-file zip, Excel, Parquet.

The loader never guesses silently: what it detected (encoding, delimiter, decimal mark) and what it
had to fix (duplicate names, skipped ragged rows, empty spreadsheet rows, "N/A" cells read as missing,
impossible numbers set to missing) is returned with the frame, and a file it cannot read raises
``DataValidationError`` saying what is wrong and what to do.

One concept per module, in the order a file goes through them:

- ``files``: paths and uploads, size and memory checks, gzip/zip, Excel, Parquet; ``load_table``
- ``encoding``: which text encoding a file is in
- ``delimited``: CSV/TSV/TXT: delimiter, decimal mark, header, ragged rows
- ``frame``: from a table as read to the finished frame (names, leftovers, text columns)
- ``cells``: cells that mean "no value", limits of a believable number, what was fixed, in words
- ``numbers``: numbers written as text, impossible numbers
- ``dates``: dates written as text

Every name other code uses is importable from ``lib.data.io`` itself.
"""

from lib.data.io.cells import (
    ABSURD,
    ABSURD_P99,
    FIXES_ATTR,
    FLOAT32_MAX,
    MAX_AGE,
    MISSING_TOKENS,
    NA_TOKENS,
    SHOW_ROWS,
    CellFix,
    fix_sentences,
)
from lib.data.io.dates import parse_dates
from lib.data.io.delimited import DELIMITER_NAMES, DELIMITERS, _detect_decimal, sniff_delimiter
from lib.data.io.encoding import detect_encoding
from lib.data.io.files import (
    COMPRESSED_FACTOR,
    DEFAULT_MAX_BYTES,
    MEMORY_FACTOR,
    SUPPORTED_EXTENSIONS,
    LoadResult,
    available_memory,
    check_memory,
    file_digest,
    load_table,
)
from lib.data.io.frame import _finish_frame, _unique_names
from lib.data.io.numbers import NUMERIC_SHARE

__all__ = [
    "ABSURD", "ABSURD_P99", "COMPRESSED_FACTOR", "DEFAULT_MAX_BYTES", "DELIMITERS", "DELIMITER_NAMES",
    "FIXES_ATTR", "FLOAT32_MAX", "MAX_AGE", "MEMORY_FACTOR", "MISSING_TOKENS", "NA_TOKENS", "NUMERIC_SHARE",
    "SHOW_ROWS", "SUPPORTED_EXTENSIONS", "CellFix", "LoadResult", "available_memory", "check_memory",
    "detect_encoding", "file_digest", "fix_sentences", "load_table", "parse_dates", "sniff_delimiter",
    # The streaming reader (lib.scale.streaming) reads each part by the same rules as a whole file.
    "_detect_decimal", "_finish_frame", "_unique_names",
]
