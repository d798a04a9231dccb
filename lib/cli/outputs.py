"""What every output file passes through: protected (personal data out, ids pseudonymised when asked),
logged in the audit trail before it is written, staged, and delivered with the others at once, report.json
last (lib.data.io.atomic: a killed run or a full disk never leaves a file cut short under its name)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lib.cli.settings import _list_spec
from lib.data.io.atomic import REPORT, OutputFolder
from lib.errors import DataValidationError
from lib.text.i18n import t


def _out_dir(args: argparse.Namespace) -> OutputFolder:
    """The command's output folder, to be entered (``with``) before the work starts: an unwritable folder
    fails in the first second, not after the training."""
    return OutputFolder(args.out, wait=_stderr)


@dataclass(frozen=True)
class _Outputs:
    """What every output file passes through: personal-data columns left out, ids pseudonymised when
    asked (``key``), and a line in the audit trail for each file written."""

    key: bytes | None  # None: ids as they are
    roles: dict  # column -> role of the input, to know its personal-data columns
    redactions: dict  # raw id / personal value -> its stand-in in report.json (empty without a key)
    source_sha256: str
    campaign: str | None
    data_dir: str | None
    folder: OutputFolder

    def table(self, path: Path, frame: pd.DataFrame, id_cols: tuple[str, ...] = ("id",)) -> None:
        from lib.act.targeting import to_csv_bytes
        from lib.data.privacy import protect

        safe = protect(frame, id_cols, self.roles, self.key)
        self.file(path, to_csv_bytes(safe.frame), list(safe.frame.columns), len(safe.frame))

    def file(self, path: Path, data: bytes, columns: list[str], rows: int) -> None:
        """Output ``path.name``: logged first (no file leaves without its line in the trail), then staged."""
        self.audit(path.name, data, columns, rows)
        self.folder.write(path.name, data)

    def audit(self, name: str, data: bytes | None, columns: list[str], rows: int, sha256: str | None = None) -> None:
        from lib.act.campaigns import record_export
        from lib.data.privacy import LOCAL_USER

        try:
            record_export(name, data, columns, rows, self.key is not None, owner=LOCAL_USER, via="cli",
                          campaign=self.campaign, source_sha256=self.source_sha256, data_dir=self.data_dir,
                          file_sha256=sha256)
        except DataValidationError as exc:  # busy, damaged or unwritable history: said as it is, nothing delivered
            raise DataValidationError(t("{name} was not written: {why}", name=name, why=exc)) from None
        except OSError as exc:
            where = self.data_dir or "BULLSEYE_DATA_DIR (default ~/.bullseye)"
            raise DataValidationError(t("Cannot log {name} in the audit trail ({why}): give a writable data folder "
                                        "with --data-dir or BULLSEYE_DATA_DIR instead of {where}.", name=name,
                                        why=exc, where=where)) from None

    def ids(self, ids: pd.Series) -> np.ndarray | pd.Series:
        from lib.data.privacy import pseudonymise

        return ids if self.key is None else pseudonymise(ids, self.key)


def _outputs(args: argparse.Namespace, frame: pd.DataFrame, ids: np.ndarray, digest: str,
             folder: OutputFolder) -> _Outputs:
    """The output rules of this command: with --pseudonymise, the key and what report.json must not quote.
    ``frame``: the input (or its first rows, for a file read in parts)."""
    from lib.data import privacy
    from lib.data.schema import infer_schema

    # Roles from the first rows are enough to know the personal-data columns, and cost no time on a big file.
    roles = dict(infer_schema(frame.head(50_000)).roles) if len(frame.columns) else {}
    key = redactions = None
    if getattr(args, "pseudonymise", False):
        key = privacy.load_key(args.data_dir)
        personal = frame[privacy.personal_columns(roles)]
        redactions = privacy.report_redactions(ids, privacy.pseudonymise(ids, key), personal)
    return _Outputs(key, roles, redactions or {}, digest, getattr(args, "campaign", None), args.data_dir, folder)


def _write_tables(table: pd.DataFrame | None, targets, outputs: _Outputs) -> None:
    """customers.csv (unless written already, part by part), and targets.csv when a list was asked for.
    (An earlier run's targets.csv, when this run makes no list, goes when the outputs land.)"""
    from lib.act.targeting import export_columns

    if table is not None:
        outputs.table(Path("customers.csv"), table)
    if targets is not None:
        outputs.table(Path("targets.csv"), export_columns(targets.table, "id", []))


def _campaign(args: argparse.Namespace, targets, digest: str, model_report: dict | None, outputs: _Outputs):
    """What records the list as a campaign (when named): called once every output is written and just before
    they land, so a run that fails writing records nothing, and its rerun can use the same name."""
    if not args.campaign or targets is None:
        return None
    from lib.act.campaigns import record_campaign

    def record() -> None:
        # A pseudonymised campaign keeps pseudonyms: results come back by them (or are pseudonymised to match).
        members = targets.table.assign(id=outputs.ids(targets.table["id"]))
        asked = [c.strip().lower() for c in (args.audience or "").split(",") if c.strip()]
        filters = {**targets.spec.describe(), **({"audiences": asked} if asked else {})}
        record_campaign(args.campaign, members, "id", digest, filters, model_report,
                        args.data_dir, pseudonymised=outputs.key is not None)
    return record


def _audiences(args: argparse.Namespace, targets=None, contacts=None, ids=None, roles=None) -> tuple:
    """--audience: checked (no list, or --pseudonymise, refuse it), then built when ``targets`` are given."""
    from lib.act import audiences as aud

    channels = aud.requested(args.audience, pseudonymised=args.pseudonymise, has_list=_list_spec(args) is not None)
    return aud.list_audiences(targets.table, contacts, ids, channels, roles=roles, phone_region=args.phone_region,
                              overrides=args.contact_col) if channels and targets is not None else ()


def _deliver(report: dict, outputs: _Outputs, record=None) -> None:
    """The campaign recorded (``record``, when named), then every staged output moved into place at once and
    report.json written last, naming each file delivered with its size and sha256."""
    from lib.data.privacy import key_id, redact

    report = {**redact(report, outputs.redactions), "pseudonymised": outputs.key is not None}
    if outputs.key is not None:
        report["pseudonym_key_id"] = key_id(outputs.key)  # which key: the same id joins only under the same key
    if record is not None:
        record()

    def report_bytes(files: dict) -> bytes:
        data = json.dumps({**report, "files": files}, indent=2, default=_json_default,
                          ensure_ascii=False).encode("utf-8")
        outputs.audit(REPORT, data, sorted(report), 1)
        return data

    outputs.folder.commit(report_bytes)


def _write_forecast(market, outputs: _Outputs) -> None:
    """forecast.csv (shop-level sales, no customer rows)."""
    from lib.act.targeting import to_csv_bytes

    if market is not None:
        outputs.file(Path("forecast.csv"), to_csv_bytes(market.forecast.round(2)), list(market.forecast.columns),
                     len(market.forecast))


def _write_risk(danger, outputs: _Outputs) -> None:
    """risk.csv (flagged customers with reasons)."""
    if danger is not None:
        outputs.table(Path("risk.csv"), danger.flagged_table(), id_cols=("customer_id",))


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if np.isnan(o) else float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, (pd.Timestamp,)):
        return o.isoformat()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _stderr(message: str) -> None:
    """Progress on stderr, one line per batch, so a long run shows it is alive."""
    sys.stderr.write(f"bullseye: {message}\n")
    sys.stderr.flush()
