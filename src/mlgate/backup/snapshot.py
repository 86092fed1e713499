"""Consistent copies of a live store and their checks, for SQLite and PostgreSQL.

SQLite is copied with its online backup API in one step, which holds a read transaction for
the whole copy: WAL writers keep going and the copy is one point in time. PostgreSQL is dumped
with ``pg_dump -Fc --snapshot`` on a snapshot exported by a REPEATABLE READ transaction that
also counts the rows, so the dump, the counts and the audit head describe the same instant.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from mlgate.audit import service as audit
from mlgate.audit.hashes import UNVERSIONED
from mlgate.audit.models import AuditEntry, AuditHead
from mlgate.audit.schemas import AuditVerification
from mlgate.backup.schemas import AuditHeadRef, TableSummary
from mlgate.clock import ensure_utc
from mlgate.errors import Conflict, Invalid, Unavailable

__all__ = [
    "StoreSummary",
    "artifact_digests_in_pg_dump",
    "artifact_digests_in_sqlite_file",
    "check_pg_dump",
    "check_sqlite_file",
    "pg_conninfo",
    "pg_restore_into",
    "schema_revisions",
    "snapshot_postgres",
    "snapshot_sqlite",
    "summarize",
    "verify_audit_in_pg_dump",
    "verify_audit_in_sqlite_file",
]

TOOL_TIMEOUT_SECONDS = 6 * 3600
_MOD = 2**256


@dataclass(frozen=True, slots=True)
class StoreSummary:
    revisions: list[str]
    audit_head: AuditHeadRef
    tables: dict[str, TableSummary]
    blob_digests: list[str]


def _row_digest(row: dict[str, Any]) -> int:
    encoded = json.dumps(row, sort_keys=True, default=str, separators=(",", ":")).encode()
    return int.from_bytes(hashlib.sha256(encoded).digest(), "big")


def summarize(connection: Connection) -> StoreSummary:
    """Row counts and order-independent digests of every table, the revision and audit head."""
    quote = connection.dialect.identifier_preparer.quote
    names = sorted(inspect(connection).get_table_names())
    tables: dict[str, TableSummary] = {}
    for name in names:
        rows = 0
        total = 0
        query = text(f"SELECT * FROM {quote(name)}")  # noqa: S608 - names from the catalog
        result = connection.execute(query.execution_options(yield_per=2000))
        for row in result.mappings():
            rows += 1
            total = (total + _row_digest(dict(row))) % _MOD
        tables[name] = TableSummary(rows=rows, digest=f"{total:064x}")
    revisions: list[str] = []
    if "alembic_version" in names:
        revisions = sorted(
            connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        )
    head = AuditHeadRef(seq=0, hash=audit.GENESIS_HASH)
    if "audit_head" in names:
        found = connection.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).first()
        if found is not None:
            head = AuditHeadRef(seq=int(found[0]), hash=str(found[1]))
    digests: list[str] = []
    if "artifacts" in names:
        digests = sorted(
            connection.execute(text("SELECT DISTINCT sha256 FROM artifacts")).scalars()
        )
    return StoreSummary(revisions=revisions, audit_head=head, tables=tables, blob_digests=digests)


def _plain_engine(path: Path) -> Engine:
    return create_engine(f"sqlite:///{path}", poolclass=None)


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise Invalid.field("database_url", "an in-memory SQLite store cannot be backed up")
    return Path(database)


def _open_existing(path: Path, *, mode: str) -> sqlite3.Connection:
    """Open the SQLite file at ``path`` (``mode`` "ro" or "rw"); never create it if missing."""
    return sqlite3.connect(f"{path.absolute().as_uri()}?mode={mode}", uri=True, timeout=30)


def schema_revisions(engine: Engine) -> list[str]:
    """The store's alembic revisions ([] when it was never migrated), read without creating or
    changing anything (the engine's own SQLite connections would switch the file to WAL)."""
    if engine.dialect.name == "sqlite":
        path = sqlite_path(engine.url.render_as_string(hide_password=False))
        return _sqlite_revisions(path)
    query = text("SELECT version_num FROM alembic_version")
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return []
        return sorted(connection.execute(query).scalars())


def _sqlite_revisions(path: Path) -> list[str]:
    connection = _open_existing(path, mode="ro")
    try:
        tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if ("alembic_version",) not in tables.fetchall():
            return []
        rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    finally:
        connection.close()
    return sorted(str(row[0]) for row in rows)


def check_sqlite_file(path: Path) -> str:
    """'ok', or what SQLite's integrity check found."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = connection.execute("PRAGMA integrity_check").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        return f"not a readable SQLite database ({error})"
    found = "; ".join(str(row[0]) for row in rows)
    return "ok" if found == "ok" else found


def snapshot_sqlite(url: str, dest: Path) -> StoreSummary:
    """Copy the live SQLite store to ``dest`` (one self-contained file) and summarise it."""
    source = _open_existing(sqlite_path(url), mode="rw")  # a missing store is not created
    target = sqlite3.connect(str(dest))
    try:
        source.backup(target)  # pages=-1: one step under one read transaction
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        target.close()
        source.close()
    integrity = check_sqlite_file(dest)
    if integrity != "ok":
        raise Conflict(f"the store's copy fails its integrity check: {integrity}")
    engine = _plain_engine(dest)
    try:
        with engine.connect() as connection:
            return summarize(connection)
    finally:
        engine.dispose()


def artifact_digests_in_sqlite_file(path: Path) -> set[str]:
    """The blobs the artifact rows of the SQLite file at ``path`` need."""
    engine = _plain_engine(path)
    try:
        with engine.connect() as connection:
            query = text("SELECT DISTINCT sha256 FROM artifacts")
            return set(connection.execute(query).scalars())
    finally:
        engine.dispose()


def verify_audit_in_sqlite_file(path: Path, expected_head: str) -> AuditVerification:
    engine = _plain_engine(path)
    try:
        with Session(engine) as session:
            return audit.verify(session, expected_head=expected_head)
    finally:
        engine.dispose()


# --- PostgreSQL --------------------------------------------------------------------------------


def pg_conninfo(url: str | URL, *, database: str | None = None) -> tuple[str, dict[str, str]]:
    """A libpq connection string for the client tools, and the environment holding the password.

    The password travels in PGPASSWORD, never on a command line another user could read.
    """
    from psycopg.conninfo import make_conninfo

    parsed = make_url(url) if isinstance(url, str) else url
    params: dict[str, Any] = {"dbname": database or parsed.database}
    if parsed.host:
        params["host"] = parsed.host
    if parsed.port:
        params["port"] = str(parsed.port)
    if parsed.username:
        params["user"] = parsed.username
    params.update({k: v for k, v in parsed.query.items() if isinstance(v, str)})
    env = dict(os.environ)  # the client tools need PATH, locale; we add only the password
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return make_conninfo(**params), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise Unavailable(
            f"{name} is not installed; install the PostgreSQL client of the server's version"
            " (Debian: postgresql-client-15)"
        )
    return found


def _run(args: list[str], *, env: dict[str, str], what: str) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - fixed tool, arguments built by us
            args, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise Unavailable(f"{what} did not finish within {TOOL_TIMEOUT_SECONDS} s") from error
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise Unavailable(f"{what} failed: {last}")
    return done.stdout


def _major(version_text: str) -> int:
    found = re.search(r"(\d+)(?:\.\d+)?", version_text)
    return int(found.group(1)) if found else 0


def _check_client_version(tool: str, connection: Connection) -> None:
    server = int(connection.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    client = _major(_run([_tool(tool), "--version"], env=dict(os.environ), what=tool))
    if client < server:
        raise Unavailable(
            f"{tool} {client} cannot handle PostgreSQL {server}; install postgresql-client-{server}"
        )


def snapshot_postgres(engine: Engine, dest: Path) -> StoreSummary:
    """``pg_dump -Fc`` of the live store on the snapshot the summary was taken on."""
    conninfo, env = pg_conninfo(engine.url)
    with engine.connect() as connection:
        _check_client_version("pg_dump", connection)
        connection.commit()
        repeatable = connection.execution_options(isolation_level="REPEATABLE READ")
        with repeatable.begin():
            snapshot_id = repeatable.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            summary = summarize(repeatable)
            _run(
                [
                    _tool("pg_dump"),
                    "--format=custom",
                    f"--snapshot={snapshot_id}",
                    f"--file={dest}",
                    f"--dbname={conninfo}",
                ],
                env=env,
                what="pg_dump",
            )
    check = check_pg_dump(dest)
    if check != "ok":
        raise Conflict(f"the dump fails its check: {check}")
    return summary


def check_pg_dump(path: Path) -> str:
    """'ok' when pg_restore can read the dump's table of contents."""
    try:
        listing = _run(
            [_tool("pg_restore"), "--list", str(path)],
            env=dict(os.environ),
            what="pg_restore --list",
        )
    except Unavailable as error:
        return error.detail
    return "ok" if "TABLE DATA" in listing else "the dump holds no table data"


_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_ESCAPE_RE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)")


def _unescape(field: str) -> str | None:
    if field == "\\N":
        return None

    def one(match: re.Match[str]) -> str:
        token = match.group(1)
        if token[0] == "x":
            return chr(int(token[1:], 16))
        if token[0] in "01234567":
            return chr(int(token, 8))
        return _ESCAPES.get(token, token)

    return _ESCAPE_RE.sub(one, field)


def _copy_rows(path: Path, tables: list[str]) -> Iterator[tuple[str, dict[str, str | None]]]:
    """Rows of ``tables`` from the dump, via pg_restore's COPY text, streamed."""
    args = [_tool("pg_restore"), "--data-only", "--file=-"]
    args += [f"--table={name}" for name in tables] + [str(path)]
    process = subprocess.Popen(  # noqa: S603
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    header = re.compile(r"^COPY [\w.\"]*?\.?\"?(\w+)\"? \((.*)\) FROM stdin;$")
    current: tuple[str, list[str]] | None = None
    try:
        for line in process.stdout:
            line = line.rstrip("\n")
            if current is None:
                found = header.match(line)
                if found:
                    columns = [c.strip().strip('"') for c in found.group(2).split(",")]
                    current = (found.group(1), columns)
                continue
            if line == "\\.":
                current = None
                continue
            values = [_unescape(field) for field in line.split("\t")]
            yield current[0], dict(zip(current[1], values, strict=True))
    finally:
        process.stdout.close()
        if process.wait(timeout=60) != 0:
            raise Invalid(f"pg_restore cannot read the audit tables of {path.name}")


def _parse_time(value: str | None) -> datetime:
    if value is None:
        raise Invalid("an audit entry in the dump has no time")
    return ensure_utc(datetime.fromisoformat(value))


def _hash_version(value: str | None) -> int:
    """A dump from before hash versions has no such column: its entries are all version 1."""
    return UNVERSIONED if value is None else int(value)


def verify_audit_in_pg_dump(path: Path, expected_head: str) -> AuditVerification:
    """Check the dump's audit chain with the same verifier as the live store (in memory)."""
    engine = create_engine("sqlite://")
    try:
        AuditEntry.__table__.create(engine)  # type: ignore[attr-defined]
        AuditHead.__table__.create(engine)  # type: ignore[attr-defined]
        with Session(engine) as session:
            for table, row in _copy_rows(path, ["audit_entries", "audit_head"]):
                if table == "audit_head":
                    session.add(
                        AuditHead(
                            id=int(row["id"] or 0), seq=int(row["seq"] or 0), hash=row["hash"]
                        )
                    )
                elif table == "audit_entries":
                    session.add(
                        AuditEntry(
                            seq=int(row["seq"] or 0),
                            id=row["id"],
                            at=_parse_time(row["at"]),
                            actor=row["actor"],
                            action=row["action"],
                            object_type=row["object_type"],
                            object_id=row["object_id"],
                            change=json.loads(row["change"] or "{}"),
                            digest=row["digest"],
                            prev_hash=row["prev_hash"],
                            hash=row["hash"],
                            hash_version=_hash_version(row.get("hash_version")),
                        )
                    )
            session.flush()
            return audit.verify(session, expected_head=expected_head)
    finally:
        engine.dispose()


def artifact_digests_in_pg_dump(path: Path) -> set[str]:
    """The blobs the artifact rows of the dump at ``path`` need."""
    return {str(row["sha256"]) for _, row in _copy_rows(path, ["artifacts"])}


def pg_restore_into(path: Path, url: str) -> None:
    """Load a dump into the (empty) database at ``url`` in one transaction: all of it or nothing."""
    conninfo, env = pg_conninfo(url)
    _run(
        [
            _tool("pg_restore"),
            "--exit-on-error",
            "--single-transaction",
            "--no-owner",
            "--no-privileges",
            f"--dbname={conninfo}",
            str(path),
        ],
        env=env,
        what="pg_restore",
    )
