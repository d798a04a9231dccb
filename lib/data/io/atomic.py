"""Writing files so that they appear whole or not at all.

Every file Bullseye writes goes through here. A file is written beside its target under a hidden name,
flushed to disk and renamed into place: a rename within one folder is atomic, so a reader (or a person
opening the folder after a crash, a kill or a full disk) sees the old file or the new one, never half of
either — the write-temp-then-rename pattern of every serious exporter and SQLite's promise in small.

A command's outputs go one step further (``OutputFolder``): they are all written into a hidden staging
folder inside the output folder first. Only when every one of them is written are they moved into place,
report.json last, naming each file with its size and sha256. So:

- a run killed at any moment leaves either the previous run's files or this run's, never a file that is
  cut short under its final name; a folder without report.json holds no finished run;
- a full disk or an unwritable folder stops the run with one message naming the folder, and the previous
  outputs stay as they were;
- a known output of an earlier run that this run does not write (a stale targets.csv) is removed at the
  same moment, so the folder's files always belong to one run;
- the next run into the folder removes what an interrupted one left (its staging folder).
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import hashlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from lib.errors import DataValidationError
from lib.text.i18n import t

try:  # POSIX: one run at a time writes into a folder (Windows: no lock, the staging still protects files)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

STAGING_PREFIX = ".bullseye-staging-"
TEMP_PREFIX = ".bullseye-tmp-"
REPORT = "report.json"
# The names a command's outputs can have: any of them in the folder that the current run does not write
# is an earlier run's and is removed when the run lands. Other files in the folder are the user's: kept.
OUTPUT_NAMES = ("customers.csv", "customers.parquet", "targets.csv", "recommendations.csv", "forecast.csv",
                "risk.csv", "audience_*.csv", REPORT)
# Hidden folders earlier versions (and interrupted runs) left inside an output folder.
_LEFTOVERS = (STAGING_PREFIX + "*", ".bullseye-parts-*", TEMP_PREFIX + "*")


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (the folder's own entry list is flushed)."""
    with contextlib.suppress(OSError):  # some filesystems (and Windows) cannot open a folder: best effort
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_synced(path: Path, data: bytes, mode: int | None = None) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, 0o600 if mode is None else mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise


def temp_beside(path: Path) -> Path:
    """A hidden name in ``path``'s folder, unique to this write: renamed onto ``path`` when complete."""
    return path.parent / f"{TEMP_PREFIX}{uuid.uuid4().hex[:12]}-{path.name}"


def write_atomic(path: str | Path, data: bytes, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` whole or not at all (the old file, if any, stays until the new one is
    complete). Raises OSError as the system reports it; callers turn it into their own message."""
    path = Path(path)
    temp = temp_beside(path)
    _write_synced(temp, data, mode)
    try:
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _sync_folder(path.parent)
    return path


def create_once(path: str | Path, data: bytes, mode: int = 0o600) -> bool:
    """Create ``path`` holding ``data`` unless it exists, with no moment at which another process can see
    it empty or half-written (written under a hidden name, then hard-linked: a link never overwrites).
    Returns False when the file was there already (someone else created it first)."""
    path = Path(path)
    temp = temp_beside(path)
    _write_synced(temp, data, mode)
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    except OSError as exc:  # a filesystem without hard links: an exclusive rename is the next best thing
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        if path.exists():
            return False
        os.replace(temp, path)
        return True
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()
    _sync_folder(path.parent)
    return True


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _is_output(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in OUTPUT_NAMES)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def write_failed(folder: Path, exc: OSError) -> DataValidationError:
    """The one message for an output that could not be written: which folder, why, and that nothing of the
    previous run was touched."""
    name = Path(exc.filename).name if exc.filename else ""
    if name.startswith((TEMP_PREFIX, STAGING_PREFIX)):
        name = name.split("-", 3)[-1] if name.startswith(TEMP_PREFIX) else ""
    reason = exc.strerror or str(exc)
    return DataValidationError(t(
        "Cannot write the outputs into {folder}{file}: {reason}. Nothing was changed there: the previous outputs "
        "are as they were. Free some space or give a writable folder with --out.",
        folder=folder, file=f" ({name})" if name else "", reason=reason))


class OutputFolder:
    """One command's outputs into one folder, delivered together (see the module's docstring).

    Use as a context manager: files are ``write``-n (or written by the caller at ``path(name)``) into the
    staging folder; ``commit(report)`` moves them into place, report.json last. Leaving the block without
    a commit (an error) removes the staging folder and leaves the folder as it was. ``also`` files beside
    other targets (a model file) are moved into place in the same commit."""

    def __init__(self, folder: str | Path, wait: Callable[[str], None] | None = None) -> None:
        self.folder = Path(folder)
        self._wait = wait
        self._lock_fd: int | None = None
        self.staging: Path | None = None
        self._elsewhere: list[tuple[Path, Path]] = []  # (temp beside target, target) outside the folder
        self.committed = False

    def __enter__(self) -> OutputFolder:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._lock()
            for pattern in _LEFTOVERS:  # an interrupted run's leftovers: with the lock held, nobody owns them
                for stale in self.folder.glob(pattern):
                    _remove(stale)
            self.staging = self.folder / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
            self.staging.mkdir()
        except OSError as exc:
            self._unlock()
            raise write_failed(self.folder, exc) from None
        return self

    def __exit__(self, kind, exc, tb) -> None:
        try:
            if not self.committed:
                self._discard()
        finally:
            self._unlock()
        if isinstance(exc, OSError) and self._is_ours(exc):
            raise write_failed(self.folder, exc) from None

    def _is_ours(self, exc: OSError) -> bool:
        """An error writing this run's outputs (not reading its input): no room left anywhere, or a
        refusal on a path in the output folder or beside a model file."""
        if exc.errno in _NO_ROOM:
            return True
        if exc.errno not in _REFUSED or not exc.filename:
            return False
        where = Path(os.fsdecode(exc.filename)).resolve().parent
        return where.is_relative_to(self.folder.resolve()) or any(where == t.parent.resolve() for _, t in self._elsewhere)

    def _lock(self) -> None:
        """One run at a time into a folder: a second waits (and says so) rather than mixing files."""
        if fcntl is None:
            return
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if self._wait is not None:
                self._wait(t("Another Bullseye run is writing into {folder}: waiting for it to finish.",
                             folder=self.folder))
            fcntl.flock(fd, fcntl.LOCK_EX)
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the folder releases its lock
            self._lock_fd = None

    def _discard(self) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
        for temp, _ in self._elsewhere:
            with contextlib.suppress(OSError):
                temp.unlink()

    def path(self, name: str) -> Path:
        """Where a writer that writes itself (a file in parts) puts output ``name`` until the commit."""
        assert self.staging is not None, "use OutputFolder as a context manager"
        return self.staging / name

    def write(self, name: str, data: bytes) -> Path:
        path = self.path(name)
        _write_synced(path, data, 0o644)
        return path

    def probe(self, target: str | Path) -> None:
        """Check now, before hours of work, that a file can be written beside ``target`` (a model file)."""
        target = Path(target)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = temp_beside(target)
            _write_synced(temp, b"", 0o644)
            temp.unlink()
        except OSError as exc:
            raise DataValidationError(t("Cannot write {path}: {reason}. Give a path in a writable folder.",
                                        path=target, reason=exc.strerror or exc)) from None

    def also(self, target: str | Path, data: bytes) -> None:
        """A file outside the folder (a model file) delivered in the same commit: written beside its target
        now, renamed onto it only when the whole run lands."""
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = temp_beside(target)
        _write_synced(temp, data, 0o644)
        self._elsewhere.append((temp, target))

    def staged(self) -> dict[str, dict]:
        """Each staged output's size and sha256 (a folder of parts: its total size and file count)."""
        out: dict[str, dict] = {}
        for item in sorted(self.path("").iterdir()):
            if item.name.startswith("."):
                continue  # a writer's own scratch (parts being scored), not an output
            if item.is_dir():
                files = sorted(p for p in item.rglob("*") if p.is_file())
                out[item.name] = {"bytes": sum(p.stat().st_size for p in files), "files": len(files)}
            else:
                out[item.name] = {"bytes": item.stat().st_size, "sha256": file_sha256(item)}
        return out

    def commit(self, report: Callable[[dict], bytes]) -> dict[str, dict]:
        """Move every staged file into place and write report.json last. ``report`` gets the delivered
        files ({name: {bytes, sha256}}) and returns report.json's bytes. Returns the files delivered."""
        files = self.staged()
        report_bytes = report(files)
        self.write(REPORT + ".new", report_bytes)  # written (and its space taken) before anything moves
        (self.folder / REPORT).unlink(missing_ok=True)  # from here until the end, no report: no finished run
        for temp, target in self._elsewhere:
            os.replace(temp, target)
        for name in files:
            target = self.folder / name
            if target.is_dir() and not target.is_symlink():
                old = self.path(f".old-{name}")
                os.replace(target, old)  # a folder cannot be renamed onto a folder that has files
            os.replace(self.path(name), target)
        for existing in self.folder.iterdir():
            if _is_output(existing.name) and existing.name not in files and existing.name != REPORT:
                _remove(existing)  # an earlier run's output this run does not write
        os.replace(self.path(REPORT + ".new"), self.folder / REPORT)
        _sync_folder(self.folder)
        self.committed = True
        shutil.rmtree(self.staging, ignore_errors=True)
        return {**files, REPORT: {"bytes": len(report_bytes), "sha256": hashlib.sha256(report_bytes).hexdigest()}}


def delivery_problems(folder: str | Path) -> list[str]:
    """What is wrong with an output folder, judged by its report.json: a file it names that is missing or
    differs (size, sha256), an output it does not name, no report.json at all (no finished run). Empty:
    the folder holds one finished run, whole."""
    folder = Path(folder)
    report = folder / REPORT
    if not report.exists():
        return [t("{folder} holds no finished run (no report.json).", folder=folder)]
    import json

    try:
        files = json.loads(report.read_text(encoding="utf-8")).get("files") or {}
    except (ValueError, OSError) as exc:
        return [t("{path} cannot be read: {why}.", path=report, why=exc)]
    problems = []
    for name, facts in files.items():
        path = folder / name
        if not path.exists():
            problems.append(t("{name} is named in report.json but missing.", name=name))
        elif path.is_file() and (path.stat().st_size != facts.get("bytes") or file_sha256(path) != facts.get("sha256")):
            problems.append(t("{name} is not the file report.json describes (size or sha256 differ).", name=name))
    for path in folder.iterdir():
        if _is_output(path.name) and path.name != REPORT and path.name not in files:
            problems.append(t("{name} is not part of the run report.json describes.", name=path.name))
    return problems


def staged_files(folder: Path) -> Iterator[Path]:
    """What an interrupted run left in ``folder`` (for tests and the curious)."""
    for pattern in _LEFTOVERS:
        yield from Path(folder).glob(pattern)


# Errors that mean "this folder cannot take the files": reported as such, never as a bug.
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_REFUSED = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR, errno.EIO}
