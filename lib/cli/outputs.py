"""What every output file passes through: protected (personal data out, ids pseudonymised when asked),
logged in the audit trail before it is written, and report.json last."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lib.cli.settings import _list_spec
from lib.errors import DataValidationError
from lib.text.i18n import t


def _out_dir(args: argparse.Namespace) -> Path:
    out_dir = Path(args.out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataValidationError(t("Cannot create output folder {folder}: {reason}.", folder=out_dir, reason=exc.strerror)) from None
    return out_dir


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

    def table(self, path: Path, frame: pd.DataFrame, id_cols: tuple[str, ...] = ("id",)) -> None:
        from lib.act.targeting import to_csv_bytes
        from lib.data.privacy import protect

        safe = protect(frame, id_cols, self.roles, self.key)
        self.file(path, to_csv_bytes(safe.frame), list(safe.frame.columns), len(safe.frame))

    def file(self, path: Path, data: bytes, columns: list[str], rows: int) -> None:
        self.audit(path.name, data, columns, rows)  # logged first: no file leaves without its line in the trail
        path.write_bytes(data)

    def audit(self, name: str, data: bytes | None, columns: list[str], rows: int, sha256: str | None = None) -> None:
        import sqlite3

        from lib.act.campaigns import record_export
        from lib.data.privacy import LOCAL_USER

        try:
            record_export(name, data, columns, rows, self.key is not None, owner=LOCAL_USER, via="cli",
                          campaign=self.campaign, source_sha256=self.source_sha256, data_dir=self.data_dir,
                          file_sha256=sha256)
        except (sqlite3.Error, OSError) as exc:
            where = self.data_dir or "BULLSEYE_DATA_DIR (default ~/.bullseye)"
            raise DataValidationError(t("Cannot log {name} in the audit trail ({why}): give a writable data folder "
                                        "with --data-dir or BULLSEYE_DATA_DIR instead of {where}.", name=name,
                                        why=exc, where=where)) from None

    def ids(self, ids: pd.Series) -> np.ndarray | pd.Series:
        from lib.data.privacy import pseudonymise

        return ids if self.key is None else pseudonymise(ids, self.key)


def _outputs(args: argparse.Namespace, frame: pd.DataFrame, ids: np.ndarray, digest: str) -> _Outputs:
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
    return _Outputs(key, roles, redactions or {}, digest, getattr(args, "campaign", None), args.data_dir)


def _write_tables(out_dir: Path, table: pd.DataFrame | None, targets, args: argparse.Namespace, digest: str,
                  model_report: dict | None, outputs: _Outputs) -> None:
    """customers.csv (unless written already, part by part), and targets.csv when a list was asked for
    (recorded as a campaign when named)."""
    from lib.act.targeting import export_columns

    if table is not None:
        outputs.table(out_dir / "customers.csv", table)
    targets_path = out_dir / "targets.csv"
    if targets is None:
        if targets_path.exists():
            targets_path.unlink()  # a stale list from an earlier run must not pass for this one
        return
    outputs.table(targets_path, export_columns(targets.table, "id", []))
    if args.campaign:
        from lib.act.campaigns import record_campaign

        # A pseudonymised campaign keeps pseudonyms: results come back by them (or are pseudonymised to match).
        members = targets.table.assign(id=outputs.ids(targets.table["id"]))
        asked = [c.strip().lower() for c in (args.audience or "").split(",") if c.strip()]
        filters = {**targets.spec.describe(), **({"audiences": asked} if asked else {})}
        record_campaign(args.campaign, members, "id", digest, filters, model_report,
                        args.data_dir, pseudonymised=outputs.key is not None)


def _audiences(args: argparse.Namespace, targets=None, contacts=None, ids=None, roles=None) -> tuple:
    """--audience: checked (no list, or --pseudonymise, refuse it), then built when ``targets`` are given."""
    from lib.act import audiences as aud

    channels = aud.requested(args.audience, pseudonymised=args.pseudonymise, has_list=_list_spec(args) is not None)
    return aud.list_audiences(targets.table, contacts, ids, channels, roles=roles, phone_region=args.phone_region,
                              overrides=args.contact_col) if channels and targets is not None else ()


def _write_report(out_dir: Path, report: dict, outputs: _Outputs) -> None:
    from lib.data.privacy import key_id, redact

    report = {**redact(report, outputs.redactions), "pseudonymised": outputs.key is not None}
    if outputs.key is not None:
        report["pseudonym_key_id"] = key_id(outputs.key)  # which key: the same id joins only under the same key
    text = json.dumps(report, indent=2, default=_json_default, ensure_ascii=False)
    outputs.file(out_dir / "report.json", text.encode("utf-8"), sorted(report), 1)


def _write_forecast(out_dir: Path, market, outputs: _Outputs) -> None:
    """forecast.csv (shop-level sales, no customer rows), or no stale one from an earlier run."""
    from lib.act.targeting import to_csv_bytes

    if market is not None:
        return outputs.file(out_dir / "forecast.csv", to_csv_bytes(market.forecast.round(2)),
                            list(market.forecast.columns), len(market.forecast))
    (out_dir / "forecast.csv").unlink(missing_ok=True)


def _write_risk(out_dir: Path, danger, outputs: _Outputs) -> None:
    """risk.csv (flagged customers with reasons), or no stale one from an earlier run."""
    if danger is not None:
        return outputs.table(out_dir / "risk.csv", danger.flagged_table(), id_cols=("customer_id",))
    (out_dir / "risk.csv").unlink(missing_ok=True)


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
