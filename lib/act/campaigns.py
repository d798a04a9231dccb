"""Campaign history and measured lift.

Every exported list is recorded in one SQLite file (standard library, nothing to install) under a data
directory: the campaign, its filters and model, and each customer with their group. When results come
back, target vs control response gives the lift with a confidence interval.

Campaigns belong to an owner (the signed-in e-mail, or "local" without sign-in): pages pass the owner,
and nobody reads another owner's campaigns. Every file that leaves Bullseye is logged in ``exports``
(the audit trail: who, when, which file, which columns, how many rows, pseudonymised or not).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from lib.data.privacy import LOCAL_USER
from lib.data.privacy import data_dir as privacy_data_dir
from lib.data.schema import binary_target, ids_as_text
from lib.errors import DataValidationError
from lib.text.i18n import t

_SCHEMA = """
CREATE TABLE IF NOT EXISTS campaigns (
    name TEXT PRIMARY KEY, created_at TEXT NOT NULL, file_digest TEXT, filters TEXT, model TEXT,
    selected INTEGER, control INTEGER
);
CREATE TABLE IF NOT EXISTS exports (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, owner TEXT NOT NULL, via TEXT NOT NULL,
    file_name TEXT NOT NULL, file_sha256 TEXT NOT NULL, columns TEXT NOT NULL, rows INTEGER NOT NULL,
    pseudonymised INTEGER NOT NULL, campaign TEXT, source_sha256 TEXT
);
CREATE TABLE IF NOT EXISTS members (
    campaign TEXT NOT NULL, customer_id TEXT NOT NULL, grp TEXT NOT NULL, score REAL, decile INTEGER,
    PRIMARY KEY (campaign, customer_id)
);
"""


def db_path(data_dir: str | Path | None = None) -> Path:
    return privacy_data_dir(data_dir) / "campaigns.sqlite"  # beside the pseudonymisation key


# Columns added after the first release: databases written before them gain them on open.
_ADDED = {"campaigns": (("owner", f"TEXT NOT NULL DEFAULT '{LOCAL_USER}'"), ("pseudonymised", "INTEGER NOT NULL DEFAULT 0"))}


# How long a writer waits for another (eight CLI runs and the app's sessions recording at once) before
# saying the history is busy: each holds the lock for well under a second, so a minute is a stuck writer.
BUSY_SECONDS = 60.0


@contextmanager
def _connect(data_dir: str | Path | None, write: bool = False) -> Iterator[sqlite3.Connection]:
    """The campaign history, opened for one transaction and closed. ``write``: the write lock is taken at
    the start (BEGIN IMMEDIATE), so a check-then-insert (a campaign name is free) cannot race another
    writer. A busy, damaged or unwritable database is one message saying which and what to do."""
    path = db_path(data_dir)
    con = None
    try:
        con = sqlite3.connect(path, timeout=BUSY_SECONDS)
        con.executescript(_SCHEMA)
        for table, columns in _ADDED.items():
            have = {row[1] for row in con.execute(f"PRAGMA table_info({table})")}
            for name, decl in columns:
                if name not in have:
                    con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
        con.commit()
        if write:
            con.execute("BEGIN IMMEDIATE")
        yield con
        con.commit()
    except sqlite3.Error as exc:
        if con is not None:
            con.rollback()
        raise history_error(path, exc) from None
    finally:
        if con is not None:
            con.close()


def history_error(path: Path, exc: sqlite3.Error) -> DataValidationError:
    """What went wrong with the campaign history file, in words (never a traceback)."""
    why = str(exc).lower()
    if "locked" in why or "busy" in why:
        return DataValidationError(t(
            "The campaign history {path} is busy: another Bullseye has been writing to it for over {seconds} s. "
            "Try again in a moment; nothing was recorded.", path=path, seconds=int(BUSY_SECONDS)))
    if "readonly" in why or "unable to open" in why or "read-only" in why:
        return DataValidationError(t(
            "Cannot write the campaign history {path} ({why}): give a writable data folder with --data-dir or "
            "BULLSEYE_DATA_DIR.", path=path, why=exc))
    return DataValidationError(t(
        "The campaign history {path} is damaged ({why}): move it aside (Bullseye then starts a new, empty one) "
        "or restore it from a backup.", path=path, why=exc))


def record_campaign(
    name: str,
    members: pd.DataFrame,
    id_col: str,
    file_digest: str,
    filters: dict,
    model: dict | None,
    data_dir: str | Path | None = None,
    owner: str = LOCAL_USER,
    pseudonymised: bool = False,
) -> None:
    """Store a list (target and control rows, with ``group``) under a unique campaign name, for
    ``owner``. ``pseudonymised``: the ids in ``members`` are pseudonyms (results are matched by them)."""
    name = name.strip()
    if not name:
        raise DataValidationError(t("Give the campaign a name so its results can be matched later."))
    if "group" not in members.columns or id_col not in members.columns:
        raise DataValidationError(t("The list needs '{id_col}' and 'group' columns to be recorded.", id_col=id_col))
    with _connect(data_dir, write=True) as con:
        if con.execute("SELECT 1 FROM campaigns WHERE name = ?", (name,)).fetchone():
            # Names are unique across owners; the message does not say whose campaign holds it.
            raise DataValidationError(t("A campaign named '{name}' already exists. Choose another name.", name=name))
        created = datetime.now(UTC).isoformat(timespec="seconds")
        groups = members["group"].astype(str)
        con.execute(
            "INSERT INTO campaigns (name, created_at, file_digest, filters, model, selected, control, owner, "
            "pseudonymised) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, created, file_digest, json.dumps(filters, default=str), json.dumps(model or {}, default=str),
             int((groups == "target").sum()), int((groups == "control").sum()), owner, int(pseudonymised)),
        )
        score = members["score"] if "score" in members.columns else pd.Series(np.nan, index=members.index)
        decile = members["decile"] if "decile" in members.columns else pd.Series(np.nan, index=members.index)
        rows = zip(
            [name] * len(members), members[id_col].astype(str), groups,
            score.astype("float64").where(score.notna(), None), decile.where(decile.notna(), None),
        )
        con.executemany("INSERT INTO members VALUES (?, ?, ?, ?, ?)", rows)


def list_campaigns(data_dir: str | Path | None = None, owner: str | None = None) -> pd.DataFrame:
    """Recorded campaigns, newest first: ``owner``'s only, or everyone's when ``owner`` is None (the CLI)."""
    where, params = ("WHERE owner = ?", (owner,)) if owner is not None else ("", ())
    with _connect(data_dir) as con:
        return pd.read_sql_query(
            "SELECT name, created_at, selected, control, file_digest, filters, model, owner, pseudonymised "
            f"FROM campaigns {where} ORDER BY created_at DESC, name", con, params=params)


def campaign_members(name: str, data_dir: str | Path | None = None, owner: str | None = None) -> pd.DataFrame:
    """A campaign's customers (``owner``'s campaign only, when given: another owner's reads as unknown)."""
    mine, params = ("AND owner = ?", (owner,)) if owner is not None else ("", ())
    with _connect(data_dir) as con:
        if not con.execute(f"SELECT 1 FROM campaigns WHERE name = ? {mine}", (name, *params)).fetchone():
            known = [r[0] for r in con.execute(f"SELECT name FROM campaigns WHERE 1 = 1 {mine} ORDER BY name",
                                               params)]
            raise DataValidationError(
                t("No campaign named '{name}'. Known campaigns: {known}.", name=name, known=t(', ').join(known) if known else t('none yet'))
            )
        return pd.read_sql_query(
            "SELECT customer_id, grp AS \"group\", score, decile FROM members WHERE campaign = ?", con, params=(name,))


@dataclass(frozen=True)
class LiftReport:
    campaign: str
    target_n: int
    control_n: int
    target_rate: float
    control_rate: float
    lift: float | None  # relative: target_rate / control_rate − 1
    uplift: float  # absolute difference in response rate
    uplift_ci: tuple[float, float]  # 95% interval of the absolute difference
    incremental_conversions: float
    incremental_conversions_ci: tuple[float, float]
    incremental_revenue: float | None
    by_decile: pd.DataFrame
    unmatched_results: int
    verdict: str

    def to_dict(self) -> dict:
        return {
            "campaign": self.campaign, "target_n": self.target_n, "control_n": self.control_n,
            "target_rate": round(self.target_rate, 5), "control_rate": round(self.control_rate, 5),
            "lift": None if self.lift is None else round(self.lift, 4),
            "uplift": round(self.uplift, 5), "uplift_ci": [round(v, 5) for v in self.uplift_ci],
            "incremental_conversions": round(self.incremental_conversions, 2),
            "incremental_conversions_ci": [round(v, 2) for v in self.incremental_conversions_ci],
            "incremental_revenue": None if self.incremental_revenue is None else round(self.incremental_revenue, 2),
            "by_decile": self.by_decile.to_dict(orient="records"),
            "unmatched_results": self.unmatched_results, "verdict": self.verdict,
        }


def measure_lift(
    name: str,
    results: pd.DataFrame,
    id_col: str | None = None,
    outcome_col: str | None = None,
    revenue_col: str | None = None,
    data_dir: str | Path | None = None,
    owner: str | None = None,
) -> LiftReport:
    """Response of target vs control for a recorded campaign. Customers absent from the results file
    count as non-responders (results files usually list only the responders' ids, or everyone)."""
    members, res = _members_and_results(name, results, id_col, outcome_col, data_dir, owner)
    members = members.set_index("customer_id")
    y = res["_y"].reindex(members.index).fillna(0.0).to_numpy()
    revenue = None
    if revenue_col is not None:
        if revenue_col not in res.columns:
            raise DataValidationError(t("The results file has no revenue column '{revenue_col}'.", revenue_col=revenue_col))
        revenue = pd.to_numeric(res[revenue_col], errors="coerce").reindex(members.index).fillna(0.0).to_numpy()
    unmatched = int((~res.index.isin(members.index)).sum())
    is_t = (members["group"] == "target").to_numpy()
    is_c = ~is_t
    n_t, n_c = int(is_t.sum()), int(is_c.sum())
    if n_t == 0:
        raise DataValidationError(t("Campaign '{name}' has no target customers.", name=name))
    if n_c == 0:
        raise DataValidationError(
            t("Campaign '{name}' was sent without a control group, so lift cannot be measured. Keep a control group (e.g. 10%) next time.", name=name)
        )
    rt, rc = float(y[is_t].mean()), float(y[is_c].mean())
    diff = rt - rc
    se = np.sqrt(rt * (1 - rt) / n_t + rc * (1 - rc) / n_c)
    ci = (diff - 1.96 * se, diff + 1.96 * se)
    inc = diff * n_t
    inc_rev = None
    if revenue is not None:
        inc_rev = float(revenue[is_t].mean() - revenue[is_c].mean()) * n_t
    dec = pd.DataFrame({"decile": members["decile"].to_numpy(), "group": members["group"].to_numpy(), "y": y})
    by_decile = (
        dec.dropna(subset=["decile"]).pivot_table(index="decile", columns="group", values="y", aggfunc="mean")
        .rename(columns={"target": "target_rate", "control": "control_rate"}).reset_index()
    )
    by_decile.columns.name = None
    if ci[0] > 0:
        verdict = (t("It worked: the campaign raised response from {rc:.1%} (control) to {rt:.1%}, about {inc:,.0f} extra conversions (95% interval {low:,.0f} to {high:,.0f}).", rc=rc, rt=rt, inc=inc, low=ci[0] * n_t, high=ci[1] * n_t))
    elif ci[1] < 0:
        verdict = (t("It backfired: targeted customers responded less ({rt:.1%}) than the control group ({rc:.1%}). Review the offer and the audience.", rt=rt, rc=rc))
    else:
        verdict = (t("No clear effect yet: target {rt:.1%} vs control {rc:.1%}; the difference could be chance (95% interval {low:+.1%} to {high:+.1%}). A larger control group would tell.", rt=rt, rc=rc, low=ci[0], high=ci[1]))
    return LiftReport(
        campaign=name, target_n=n_t, control_n=n_c, target_rate=rt, control_rate=rc,
        lift=(rt / rc - 1) if rc > 0 else None, uplift=diff, uplift_ci=ci, incremental_conversions=inc,
        incremental_conversions_ci=(ci[0] * n_t, ci[1] * n_t), incremental_revenue=inc_rev,
        by_decile=by_decile, unmatched_results=unmatched, verdict=verdict,
    )


def campaign_outcomes(
    name: str,
    results: pd.DataFrame,
    id_col: str | None = None,
    outcome_col: str | None = None,
    data_dir: str | Path | None = None,
    owner: str | None = None,
) -> pd.DataFrame:
    """Every customer of a recorded campaign with their group and what they did: ``customer_id``,
    ``group`` (target/control) and ``responded`` (yes/no). Customers absent from the results file did
    not respond; a results file without an outcome column lists the responders."""
    members, res = _members_and_results(name, results, id_col, outcome_col, data_dir, owner)
    y = res["_y"].reindex(members["customer_id"]).fillna(0.0)
    return pd.DataFrame({"customer_id": members["customer_id"].to_numpy(), "group": members["group"].to_numpy(),
                         "responded": np.where(y.to_numpy() > 0, "yes", "no").astype(object)})


def labels_from_results(
    name: str,
    results: pd.DataFrame,
    id_col: str | None = None,
    outcome_col: str | None = None,
    data_dir: str | Path | None = None,
    owner: str | None = None,
) -> pd.DataFrame:
    """The campaign's customers with what they did (responded = yes/no) and their group: join it to the
    customer file by id and it is the target for the next model. Only the target group was contacted, so
    only its rows are labelled; control rows keep ``responded`` empty (they measure lift, not response)."""
    out = campaign_outcomes(name, results, id_col, outcome_col, data_dir, owner)
    out.loc[out["group"] != "target", "responded"] = None
    return out.assign(campaign=name)


def _members_and_results(name: str, results: pd.DataFrame, id_col: str | None, outcome_col: str | None,
                         data_dir: str | Path | None, owner: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A campaign's members and the results by id. A pseudonymised campaign holds pseudonyms: a results
    file with the real ids is matched by pseudonymising them with the same key (one with pseudonyms
    matches as it is)."""
    members = campaign_members(name, data_dir, owner)
    res = _results_by_id(results, id_col, outcome_col)
    with _connect(data_dir) as con:
        pseudo = con.execute("SELECT pseudonymised FROM campaigns WHERE name = ?", (name,)).fetchone()[0]
    if pseudo and len(res):
        from lib.data.privacy import load_key, pseudonymise

        mapped = res.set_axis(pseudonymise(pd.Series(res.index), load_key(data_dir)))
        known = set(members["customer_id"])
        if mapped.index.isin(known).sum() > res.index.isin(known).sum():
            res = mapped
    return members, res


def _results_by_id(results: pd.DataFrame, id_col: str | None, outcome_col: str | None) -> pd.DataFrame:
    """A results file indexed by customer id (as text, the last row per id), with ``_y`` = 1 for a
    response. Without an outcome column the file is a list of responders' ids."""
    id_col = id_col or _guess(results, ["customer_id", "id", "customer", "client_id"], 0)
    outcome_col = outcome_col or _guess(results, ["responded", "converted", "response", "purchased", "outcome"], None)
    if id_col not in results.columns:
        raise DataValidationError(t("The results file has no id column '{id_col}'.", id_col=id_col))
    res = results.assign(_id=ids_as_text(results[id_col]))
    if outcome_col is None or outcome_col not in res.columns:
        res["_y"] = 1.0  # a list of responder ids
    else:
        res["_y"] = binary_target(res[outcome_col], column=outcome_col).fillna(0.0)
    return res.drop_duplicates("_id", keep="last").set_index("_id")


def _guess(frame: pd.DataFrame, names: list[str], fallback_index: int | None) -> str | None:
    lower = {str(c).lower(): c for c in frame.columns}
    for n in names:
        if n in lower:
            return lower[n]
    return frame.columns[fallback_index] if fallback_index is not None else None


# --- the audit trail ------------------------------------------------------------------------------


def record_export(
    file_name: str,
    content: bytes,
    columns: list[str] | tuple[str, ...],
    rows: int,
    pseudonymised: bool,
    owner: str = LOCAL_USER,
    via: str = "app",
    campaign: str | None = None,
    source_sha256: str | None = None,
    data_dir: str | Path | None = None,
    file_sha256: str | None = None,
) -> None:
    """Log one file leaving Bullseye: who (``owner``), when, through what (``via``: app or cli), the
    SHA-256 of the exact bytes (so a file found later can be traced), its columns and row count, and
    whether its ids were pseudonymised. ``file_sha256``: the digest, for a file written in parts and too
    big to pass as ``content``."""
    import hashlib

    with _connect(data_dir, write=True) as con:
        con.execute(
            "INSERT INTO exports (created_at, owner, via, file_name, file_sha256, columns, rows, pseudonymised, "
            "campaign, source_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (datetime.now(UTC).isoformat(timespec="seconds"), owner, via, file_name,
             file_sha256 or hashlib.sha256(content).hexdigest(), json.dumps([str(c) for c in columns], ensure_ascii=False),
             int(rows), int(pseudonymised), campaign, source_sha256),
        )


def list_exports(data_dir: str | Path | None = None, owner: str | None = None) -> pd.DataFrame:
    """The audit trail, newest first: ``owner``'s exports, or everyone's when ``owner`` is None."""
    where, params = ("WHERE owner = ?", (owner,)) if owner is not None else ("", ())
    with _connect(data_dir) as con:
        return pd.read_sql_query(
            "SELECT created_at, owner, via, file_name, rows, columns, pseudonymised, campaign, file_sha256, "
            f"source_sha256 FROM exports {where} ORDER BY id DESC", con, params=params)
