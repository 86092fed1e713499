"""Restore a backup into an empty store: check everything first, then load, then verify.

Order matters so that a failure never leaves a half-restored store that looks whole: every
checksum is checked before the target is touched; blobs go first (content-addressed, so extra
ones are harmless); the database last, atomically (a rename on SQLite, one transaction on
PostgreSQL); then rows, digests, the schema revision, the audit chain and every blob are checked
against the manifest; a backup from an older mlgate is then upgraded to this one's schema. Any
failure raises and says what state the target was left in.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.backup import snapshot, targets
from mlgate.backup.archive import Advance, DecodedReader, fsync_dir, read_manifest, stored_checksum
from mlgate.backup.cipher import key_id
from mlgate.backup.schemas import Manifest, ManifestFile, RestoreResult
from mlgate.clock import utcnow
from mlgate.errors import Conflict, Invalid, MlgateError, Unavailable
from mlgate.registry.blobstore import LocalBlobStore
from mlgate.store.database import Database
from mlgate.store.migrate import MIGRATIONS_DIR, upgrade
from mlgate.web.session import end_every_session

__all__ = ["check_key", "database_entry", "restore_backup", "verify_restored"]

UNLIMITED = 2**62


def check_key(manifest: Manifest, key: bytes | None) -> None:
    if manifest.encryption is None:
        return
    if key is None:
        raise Invalid(f"backup {manifest.id} is encrypted; give its key with --key-file")
    if key_id(key) != manifest.encryption.key_id:
        raise Invalid(
            f"the key given does not open backup {manifest.id} "
            f"(key id {key_id(key)}, the backup needs {manifest.encryption.key_id})"
        )


def _check_revisions(manifest: Manifest) -> bool:
    """Refuse a backup from a newer mlgate; True when the backup's schema is older than this
    mlgate's (it is upgraded once restored and verified, as ``mlgate db upgrade`` would)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    scripts = ScriptDirectory.from_config(config)
    known = {revision.revision for revision in scripts.walk_revisions()}
    unknown = sorted(set(manifest.schema_revisions) - known)
    if unknown:
        raise Conflict(
            f"backup {manifest.id} has schema revision(s) {', '.join(unknown)} this mlgate does"
            " not know; restore it with the mlgate version that made it"
        )
    ancestors = scripts.revision_map.iterate_revisions(tuple(manifest.schema_revisions), "base")
    return not set(scripts.get_heads()) <= {revision.revision for revision in ancestors}


def database_entry(manifest: Manifest) -> ManifestFile:
    for entry in manifest.files:
        if entry.kind == "database":
            return entry
    raise Invalid(f"backup {manifest.id} holds no database file")


def verify_restored(manifest: Manifest, *, url: str, blob_dir: Path) -> None:
    """Raise Conflict unless the store at ``url`` and ``blob_dir`` equal the manifest."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            summary = snapshot.summarize(connection)
        with Session(engine) as session:
            chain = audit.verify(session, expected_head=manifest.audit_head.hash)
    finally:
        engine.dispose()
    problems: list[str] = []
    if summary.revisions != sorted(manifest.schema_revisions):
        problems.append(f"schema revision {summary.revisions} != {manifest.schema_revisions}")
    for name, expected in manifest.tables.items():
        found = summary.tables.get(name)
        if found is None:
            problems.append(f"table {name} is missing")
        elif found != expected:
            problems.append(f"table {name} differs ({found.rows} rows, expected {expected.rows})")
    if not chain.ok:
        problems.append(f"audit chain broken at entry {chain.first_broken_seq}: {chain.reason}")
    blobs = LocalBlobStore(blob_dir)
    # The restored artifact rows count too: a manifest that leaves a blob out must not pass.
    wanted = {e.content_sha256 for e in manifest.files if e.kind == "blob"}
    missing = sorted(d for d in wanted | set(summary.blob_digests) if not blobs.exists(d))
    if missing:
        problems.append(f"{len(missing)} blobs are missing, e.g. {missing[0]}")
    if problems:
        raise Conflict("the restored store does not match the backup: " + "; ".join(problems))


def restore_backup(
    *,
    backup: Path,
    target_url: str,
    blob_dir: Path,
    key: bytes | None,
    actor: Principal,
    force: bool = False,
    dry_run: bool = False,
    progress: Advance | None = None,
) -> RestoreResult:
    started = time.monotonic()
    now = utcnow()
    manifest = read_manifest(backup)
    dialect = targets.dialect_of(target_url)
    if dialect != manifest.dialect:
        raise Invalid.field(
            "target",
            f"backup {manifest.id} is a {manifest.dialect} store; give a {manifest.dialect} URL",
        )
    check_key(manifest, key)
    behind = _check_revisions(manifest)
    database_entry(manifest)
    for entry in manifest.files:
        problem = stored_checksum(backup, entry)
        if problem is not None:
            raise Invalid(f"backup {manifest.id} is damaged, nothing was restored: {problem}")
    store_state = targets.store_state(target_url)
    blobs_state = targets.blob_dir_state(blob_dir)
    shown = make_url(target_url).render_as_string(hide_password=True)
    actions: list[str] = []
    for what, state in ((f"store {shown}", store_state), (f"blob dir {blob_dir}", blobs_state)):
        if state == "non-empty":
            if not force:
                raise Conflict(
                    f"{what} is not empty; restore into an empty store, or pass --force to move"
                    " it aside (it is renamed, never deleted)"
                )
            actions.append(f"move {what} aside")
    total = sum(e.content_size for e in manifest.files)
    actions += [
        f"restore {sum(1 for e in manifest.files if e.kind == 'blob')} blobs into {blob_dir}",
        f"restore the {dialect} database into {shown}",
        "verify rows, schema revision, audit chain and blobs against the manifest",
    ]
    if behind:  # this mlgate (its audit entry, its server) needs its own schema
        actions.append(f"upgrade the schema from {', '.join(manifest.schema_revisions)}")
    result = RestoreResult(
        backup_id=manifest.id,
        target=shown,
        blob_dir=str(blob_dir),
        dry_run=dry_run,
        actions=actions,
        moved_aside=[],
        verified=False,
        seconds=0.0,
        bytes_restored=0,
    )
    if dry_run:
        return result
    step = "moving the old store aside"
    try:
        if store_state == "non-empty":
            result.moved_aside.append(targets.move_store_aside(target_url, now=now))
            store_state = "missing"
        if blobs_state == "non-empty":
            result.moved_aside.append(targets.move_blob_dir_aside(blob_dir, now=now))
        step = "restoring blobs"
        result.bytes_restored += _restore_blobs(backup, manifest, blob_dir, key, total, progress)
        step = "restoring the database"
        result.bytes_restored += _restore_database(
            backup, manifest, target_url, dialect, store_state, key, total, progress
        )
        step = "verifying the restored store"
        verify_restored(manifest, url=target_url, blob_dir=blob_dir)
        if behind:
            step = "upgrading the restored schema"
            _upgrade(target_url)
            result.schema_upgraded = True
    except MlgateError as error:
        raise _failed(manifest, step, error.detail, result) from error
    except OSError as error:
        raise _failed(manifest, step, str(error), result) from error
    except Exception as error:  # e.g. a database error while verifying: still say the state
        raise _failed(manifest, step, _first_line(error), result) from error
    result.verified = True
    database = Database(target_url)
    try:
        with database.unit_of_work() as session:
            # A session signed out after the backup was taken must not open pages again.
            ended = end_every_session(session)
            audit.record(
                session,
                actor=actor,
                action="backup.restored",
                object_type="backup",
                object_id=manifest.id,
                change={
                    "moved_aside": result.moved_aside,
                    "audit_head": manifest.audit_head.seq,
                    "web_sessions_ended": ended,
                },
            )
    finally:
        database.dispose()
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _upgrade(url: str) -> None:
    database = Database(url)
    try:
        upgrade(database.engine)
    finally:
        database.dispose()


def _failed(manifest: Manifest, step: str, detail: str, result: RestoreResult) -> Unavailable:
    aside = (
        f"; the previous store was moved to {', '.join(result.moved_aside)}"
        if result.moved_aside
        else ""
    )
    return Unavailable(
        f"restore of {manifest.id} failed while {step}: {detail}. The target is incomplete and"
        f" must not be used{aside}"
    )


def _first_line(error: Exception) -> str:
    """An unexpected error in one line (database errors go on with the SQL and a web link)."""
    first = next(iter(str(error).splitlines()), "")
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def _restore_blobs(
    backup: Path,
    manifest: Manifest,
    blob_dir: Path,
    key: bytes | None,
    total: int,
    progress: Advance | None,
) -> int:
    store = LocalBlobStore(blob_dir)
    restored = 0
    for entry in manifest.files:
        if entry.kind != "blob":
            continue
        with DecodedReader(backup, entry, key=key) as reader:
            store.put(
                reader,  # type: ignore[arg-type]
                max_bytes=UNLIMITED,
                expected_sha256=entry.content_sha256,
                field=entry.path,
                progress=(lambda n: progress("restoring", n, total)) if progress else None,
            )
        restored += entry.content_size
    return restored


def _restore_database(
    backup: Path,
    manifest: Manifest,
    url: str,
    dialect: str,
    state: targets.TargetState,
    key: bytes | None,
    total: int,
    progress: Advance | None,
) -> int:
    entry = database_entry(manifest)
    advance = (lambda n: progress("restoring", n, total)) if progress else None
    if dialect == "sqlite":
        path = snapshot.sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.restoring-")
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as out, DecodedReader(backup, entry, key=key) as reader:
                size = reader.read_all_into(out, advance)
                out.flush()
                os.fsync(out.fileno())
            integrity = snapshot.check_sqlite_file(tmp)
            if integrity != "ok":
                raise Conflict(f"the restored database fails its integrity check: {integrity}")
            leftovers = targets.sqlite_side_files(path)
            if leftovers:  # SQLite would replay them onto the restored file
                raise Conflict(
                    f"{leftovers[0]} appeared while restoring; stop whatever opened {path}"
                    " and restore again"
                )
            if path.exists():  # only an empty store reaches here; a non-empty one was moved
                os.replace(tmp, path)
            else:
                os.rename(tmp, path)
            fsync_dir(path.parent)
        finally:
            tmp.unlink(missing_ok=True)
        return size
    if state == "missing":
        targets.create_pg_database(url)
    with tempfile.TemporaryDirectory(prefix="mlgate-restore-") as scratch:
        dump = Path(scratch) / "store.pgdump"
        with dump.open("wb") as out, DecodedReader(backup, entry, key=key) as reader:
            size = reader.read_all_into(out, advance)
        snapshot.pg_restore_into(dump, url)
    return size
