"""Load a table from a path or an upload's bytes: size and memory checks, gzip, single-file zip, Excel
and Parquet here; text files in ``lib.data.io.delimited``; then ``lib.data.io.frame`` finishes it."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lib.data.io.cells import FIXES_ATTR, CellFix
from lib.data.io.delimited import _load_text
from lib.data.io.frame import _finish_frame, _Raw
from lib.errors import DataValidationError
from lib.text.i18n import t

#: Default upload/file size limit; matches ``server.maxUploadSize`` (MB) in .streamlit/config.toml.
DEFAULT_MAX_BYTES = 1024 * 1024 * 1024
SUPPORTED_EXTENSIONS = ("csv", "tsv", "txt", "gz", "zip", "xlsx", "parquet")


@dataclass(frozen=True)
class LoadResult:
    """A loaded table plus what the loader detected and had to fix."""

    frame: pd.DataFrame
    source_name: str
    file_format: str  # "csv", "excel" or "parquet"
    encoding: str | None
    delimiter: str | None
    decimal: str
    warnings: tuple[str, ...]
    digest: str  # sha256 of the raw bytes: the cache key for everything computed from this file
    size_bytes: int
    fixes: tuple[CellFix, ...] = ()


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_table(
    source: str | Path | bytes,
    name: str | None = None,
    *,
    sep: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> LoadResult:
    """Load a table from a path or raw bytes.

    Parameters
    ----------
    source
        A file path, or the raw bytes of an upload.
    name
        The file name (used for the extension and in messages); defaults to the path's name.
    sep, encoding, sheet
        Override the detected delimiter / encoding, or pick an Excel sheet by name.
    max_bytes
        Refuse files larger than this, before reading them into memory.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = name or path.name
        if not path.exists():
            raise DataValidationError(t("File not found: {path}. Check the path and try again.", path=path))
        if path.stat().st_size > max_bytes:
            raise DataValidationError(_too_big(name, path.stat().st_size, max_bytes))
        data = path.read_bytes()
    else:
        data = bytes(source)
        name = name or "upload"
    if len(data) > max_bytes:
        raise DataValidationError(_too_big(name, len(data), max_bytes))
    check_memory(name, len(data), compressed=data[:2] == b"\x1f\x8b" or data[:4] == b"PK\x03\x04")
    if sep is not None:
        sep = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(sep, sep)
    digest = file_digest(data)
    raw = _load_bytes(data, name, sep, encoding, sheet, max_bytes)
    frame, more, fixes = _finish_frame(raw.frame, raw.decimal, raw.nan_cells)
    # The quality report reads the fixes from here when its caller does not pass them.
    frame.attrs[FIXES_ATTR] = fixes
    return LoadResult(
        frame=frame,
        source_name=name,
        file_format=raw.file_format,
        encoding=raw.encoding,
        delimiter=raw.delimiter,
        decimal=raw.decimal,
        warnings=tuple(raw.warnings + more),
        digest=digest,
        size_bytes=len(data),
        fixes=fixes,
    )


# A CSV takes about this many times its size in memory once parsed (text columns, copies while
# converting); compressed files expand ~8x first.
MEMORY_FACTOR = 4
COMPRESSED_FACTOR = 8


def available_memory() -> int:
    """Bytes of memory available to this process right now (Linux /proc/meminfo, else total RAM)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(name: str, size: int, compressed: bool = False) -> None:
    """Refuse, with a message, a file whose estimated in-memory size exceeds what is available."""
    need = size * MEMORY_FACTOR * (COMPRESSED_FACTOR if compressed else 1)
    have = available_memory()
    if need > have:
        raise DataValidationError(
            t("{name} would need about {need:,.1f} GB of memory once loaded, but only {have:,.1f} GB is free. Close other programs, drop unused columns, or split the file.", name=name, need=need / 1000000000.0, have=have / 1000000000.0)
        )


def _too_big(name: str, size: int, limit: int) -> str:
    return (
        t("{name} is {size:,.0f} MB, over the {limit:,.0f} MB limit. Split the file, drop unused columns, or compress it (.gz) and try again.", name=name, size=size / 1000000.0, limit=limit / 1000000.0)
    )


def _load_bytes(data, name, sep, encoding, sheet, max_bytes) -> _Raw:
    if len(data) == 0:
        raise DataValidationError(t("{name} is empty (0 bytes). Export the data again and re-upload it.", name=name))
    lower = name.lower()
    if data[:2] == b"\x1f\x8b":
        try:
            inner = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise DataValidationError(
                t("{name} looks like a .gz file but could not be decompressed ({exc}). Re-create the archive.", name=name, exc=exc)
            ) from None
        if len(inner) > max_bytes:
            raise DataValidationError(_too_big(name + t(" (uncompressed)"), len(inner), max_bytes))
        inner_name = lower[:-3] if lower.endswith(".gz") else lower
        return _load_bytes(inner, inner_name, sep, encoding, sheet, max_bytes)
    if data[:4] == b"PK\x03\x04" or lower.endswith((".zip", ".xlsx")):
        return _load_zip_or_excel(data, name, sep, encoding, sheet, max_bytes)
    if data[:4] == b"PAR1" or lower.endswith(".parquet"):
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises many types for a damaged file
            raise DataValidationError(
                t("{name} could not be read as Parquet ({exc}). Re-export it, or save it as CSV.", name=name, exc=exc)
            ) from None
        return _Raw(frame, "parquet", None, None, ".", [], {})
    if lower.endswith((".xls",)):
        raise DataValidationError(
            t("{name} is an old Excel .xls file, which Bullseye does not read. Open it in Excel and save it as .xlsx or CSV.", name=name)
        )
    return _load_text(data, name, sep, encoding)


def _load_zip_or_excel(data, name, sep, encoding, sheet, max_bytes):
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        names = [n for n in zf.namelist() if not n.endswith("/") and not n.startswith("__MACOSX")]
    except zipfile.BadZipFile:
        kind = t("an Excel workbook") if name.lower().endswith(".xlsx") else t("a zip archive")
        raise DataValidationError(
            t("{name} could not be opened as {kind}: the file is damaged or not really {kind}. Re-save it from Excel as .xlsx, or export it as CSV.", name=name, kind=kind)
        ) from None
    if "[Content_Types].xml" in names:
        return _load_excel(data, name, sheet)
    if len(names) != 1:
        raise DataValidationError(
            t("{name} holds {n_names} files ({items}); Bullseye reads a zip with exactly one file. Unzip it and upload the one table you want.", name=name, n_names=len(names), items=', '.join(names[:5]))
        )
    info = zf.getinfo(names[0])
    if info.file_size > max_bytes:
        raise DataValidationError(_too_big(names[0], info.file_size, max_bytes))
    return _load_bytes(zf.read(names[0]), names[0], sep, encoding, sheet, max_bytes)


def _load_excel(data, name, sheet):
    try:
        book = pd.ExcelFile(io.BytesIO(data), engine="openpyxl")
    except Exception:
        raise DataValidationError(
            t("{name} could not be opened as an Excel workbook: it is damaged or password protected. Re-save it from Excel as .xlsx (without a password), or export it as CSV.", name=name)
        ) from None
    sheets = book.sheet_names
    if sheet is not None and sheet not in sheets:
        raise DataValidationError(
            t("{name} has no sheet named '{sheet}'. Its sheets are: {items}.", name=name, sheet=sheet, items=', '.join(sheets))
        )
    # Only truly empty cells are missing here; 'N/A' and friends are counted in _finish_frame so the
    # report can say how many there were.
    frame = pd.read_excel(book, sheet_name=sheet if sheet is not None else 0, keep_default_na=False,
                          na_values=[""])
    warnings = []
    if sheet is None and len(sheets) > 1:
        warnings.append(
            t("The workbook has {n_sheets} sheets; read the first one, '{value}'. Pick another with the sheet option.", n_sheets=len(sheets), value=sheets[0])
        )
    frame.columns = [str(c) for c in frame.columns]
    if frame.empty and len(frame.columns) == 0:
        raise DataValidationError(t("Sheet '{value}' of {name} is empty.", value=sheet or sheets[0], name=name))
    return _Raw(frame, "excel", None, None, ".", warnings, {})
