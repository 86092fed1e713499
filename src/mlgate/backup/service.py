"""Take, list, verify and prune backups of a live store, while it keeps serving and writing.

A backup is built in ``<backups>/.partial-<id>/``: the database snapshot (see ``snapshot``), then
every blob the snapshot's artifacts reference (blobs are immutable and written before the rows
that name them, so the snapshot never references a blob that is not there), then the manifest.
Every file is fsynced, the directory renamed into place in one step, and an existing backup is
never overwritten. A store mlgate never migrated is refused before anything is written, and a
backup exists only with its audit entry. Drills live in ``drills``; restore in ``restore``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mlgate import __version__
from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.backup import snapshot
from mlgate.backup.archive import (
    Advance,
    DecodedReader,
    fsync_dir,
    fsync_files,
    read_manifest,
    store_file,
    stored_checksum,
    write_manifest,
)
from mlgate.backup.cipher import CHUNK, key_id
from mlgate.backup.restore import check_key, database_entry
from mlgate.backup.retention import Retention, select_kept
from mlgate.backup.schemas import (
    BackupRead,
    EncryptionInfo,
    Manifest,
    ManifestFile,
    PruneFailure,
    PruneResult,
    VerifyReport,
)
from mlgate.clock import utcnow
from mlgate.errors import Conflict, Invalid, MlgateError, NotFound, Unavailable
from mlgate.ids import new_id
from mlgate.registry.blobstore import BlobStore
from mlgate.store.database import Database

__all__ = [
    "PruneIncomplete",
    "create_backup",
    "discard_backup",
    "get_backup",
    "list_backups",
    "prune_backups",
    "resolve_backup",
    "verify_backup",
]

logger = logging.getLogger(__name__)
# Leftovers of a killed backup or prune are removed once untouched this long: a running backup
# writes into its directory all the time, so it is never taken for one.
STALE_AFTER_SECONDS = 3600
LEFTOVER_PREFIXES = (".partial-", ".deleting-")
BACKUP_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-z]{6}")
ID_TIME = len("20260101T000000Z")


def _backup_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%S}Z-{new_id()[-6:].lower()}"


def create_backup(
    session: Session,
    *,
    db: Database,
    blobs: BlobStore,
    root: Path,
    key: bytes | None,
    actor: Principal,
    progress: Advance | None = None,
    now: datetime | None = None,
) -> BackupRead:
    """Back up the store behind ``db`` and the blobs it references into ``root/<id>``.

    The audit entry is flushed before the directory is renamed into place, and any failure
    removes what was written: no backup exists that the audit log does not record (the caller
    discards the backup if its commit fails).
    """
    started = time.monotonic()
    now = now or utcnow()
    _require_schema(db)
    backup_id = _backup_id(now)
    final = root / backup_id
    staging = root / f".partial-{backup_id}"
    if final.exists():
        raise Conflict(f"backup {backup_id} already exists; it is never overwritten")
    root.mkdir(parents=True, exist_ok=True)
    staging.mkdir(mode=0o700)
    try:
        manifest = _write_backup(db, blobs, staging, backup_id, key, now, progress, started)
        audit.record(
            session,
            actor=actor,
            action="backup.created",
            object_type="backup",
            object_id=backup_id,
            change={
                "audit_head": manifest.audit_head.seq,
                "files": len(manifest.files),
                "bytes": sum(f.size for f in manifest.files),
                "encrypted": manifest.encryption is not None,
            },
            now=now,
        )
        if final.exists():
            raise Conflict(f"backup {backup_id} already exists; it is never overwritten")
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        fsync_dir(root)
    except BaseException:
        with suppress(OSError):
            discard_backup(path=final)
        raise
    return _read(final, manifest)


def discard_backup(*, path: Path) -> None:
    """Delete the backup at ``path``: renamed to a dot-name first, so it is listed whole or not
    at all, then removed. Once renamed it is no backup any more: a removal that fails there
    leaves a ``.deleting-*`` leftover, logged, that a later prune removes (it does not raise:
    the backup is gone, and saying it is not would make an audit entry lie).

    A symlink is removed as a link: what it points to is outside the backup directory."""
    if path.is_symlink():
        path.unlink()
        return
    doomed = path.with_name(f".deleting-{path.name}-{new_id()[-6:].lower()}")
    path.rename(doomed)
    try:
        shutil.rmtree(doomed)
    except OSError as error:
        where = error.filename or doomed
        logger.warning(
            "backup %s deleted, but %s could not be removed (%s); a later prune removes it",
            path.name,
            where,
            error.strerror or error,
        )


def _require_schema(db: Database) -> None:
    """Refuse a store mlgate never migrated. Run from the wrong directory, or given a typo'd URL,
    mlgate opens a fresh empty store; its backup would become ``latest``, and prune would then
    delete the good backups to keep it."""
    shown = make_url(db.url).render_as_string(hide_password=True)
    check = "check MLGATE_DATABASE_URL and the directory mlgate runs in"
    if db.dialect == "sqlite":
        path = snapshot.sqlite_path(db.url)
        if not path.is_file():
            raise Invalid.field("database_url", f"there is no store at {path.absolute()}; {check}")
        shown = f"{shown} ({path.absolute()})"
    try:
        revisions = snapshot.schema_revisions(db.engine)
    except (sqlite3.Error, SQLAlchemyError) as error:
        reason = next(iter(str(error).splitlines()), type(error).__name__)
        raise Unavailable(f"cannot read the store at {shown}: {reason}; {check}") from error
    if not revisions:
        raise Invalid.field(
            "database_url",
            f"the store at {shown} has no schema revision (it holds no mlgate tables), so"
            f" nothing was backed up; {check}",
        )


def _write_backup(
    db: Database,
    blobs: BlobStore,
    staging: Path,
    backup_id: str,
    key: bytes | None,
    now: datetime,
    progress: Advance | None,
    started: float,
) -> Manifest:
    suffix = ".enc" if key is not None else ""
    raw = staging / ".snapshot.tmp"
    if db.dialect == "sqlite":
        summary = snapshot.snapshot_sqlite(db.url, raw)
        db_name = "database/store.sqlite"
    else:
        summary = snapshot.snapshot_postgres(db.engine, raw)
        db_name = "database/store.pgdump"
    referenced = set(summary.blob_digests)
    missing = sorted(d for d in referenced if not blobs.exists(d))
    if missing:
        raise Conflict(
            f"{len(missing)} artifacts have no blob in the blob store, e.g. {missing[0]}"
        )
    # Blobs no artifact row names yet (other domains' files, uploads in flight) are kept too:
    # harmless extras on restore, and never a missing file.
    sizes = {d: blobs.size(d) for d in referenced}
    for digest in blobs.iter_digests():
        if digest not in sizes and blobs.exists(digest):
            sizes[digest] = blobs.size(digest)
    total = raw.stat().st_size + sum(sizes.values())
    advance = (lambda n: progress("backing up", n, total)) if progress else None
    files: list[ManifestFile] = []
    with raw.open("rb") as source:
        entry = store_file(
            source,
            staging / (db_name + suffix),
            kind="database",
            root=staging,
            key=key,
            progress=advance,
        )
    raw.unlink()
    # The database copy was checked before storing; check what is stored decodes back to it.
    with DecodedReader(staging, entry, key=key) as reader:
        reader.read_all_into(None)
    files.append(entry)
    for digest in sorted(sizes):
        try:
            blob_stream = blobs.open(digest)
        except NotFound:
            if digest in referenced:
                raise
            continue  # an unreferenced upload that failed and was cleaned up meanwhile
        with blob_stream:
            files.append(
                store_file(
                    blob_stream,
                    staging / "blobs" / digest[:2] / (digest + suffix),
                    kind="blob",
                    root=staging,
                    key=key,
                    progress=advance,
                    sync=False,
                )
            )
    fsync_files([staging / f.path for f in files if f.kind == "blob"])
    for directory in {(staging / f.path).parent for f in files}:
        fsync_dir(directory)
    manifest = Manifest(
        id=backup_id,
        created_at=now,
        mlgate_version=__version__,
        dialect="sqlite" if db.dialect == "sqlite" else "postgresql",
        schema_revisions=summary.revisions,
        audit_head=summary.audit_head,
        tables=summary.tables,
        files=files,
        encryption=EncryptionInfo(chunk_bytes=CHUNK, key_id=key_id(key)) if key else None,
        duration_seconds=round(time.monotonic() - started, 3),
    )
    sealed = write_manifest(staging, manifest)
    fsync_dir(staging)
    return sealed


def _read(path: Path, manifest: Manifest) -> BackupRead:
    return BackupRead(
        id=manifest.id,
        path=str(path),
        created_at=manifest.created_at,
        dialect=manifest.dialect,
        size_bytes=sum(f.size for f in manifest.files),
        files=len(manifest.files),
        encrypted=manifest.encryption is not None,
        audit_head=manifest.audit_head,
        schema_revisions=manifest.schema_revisions,
    )


def list_backups(*, root: Path) -> list[BackupRead]:
    """Every readable backup under ``root``, newest first (unreadable ones are logged)."""
    if not root.exists():
        return []
    found: list[BackupRead] = []
    for path in root.iterdir():
        if not path.is_dir() or path.name.startswith("."):
            continue
        try:
            found.append(_read(path, read_manifest(path)))
        except MlgateError as error:
            logger.warning("skipping %s: %s", path.name, error.detail)
    return sorted(found, key=lambda b: (b.created_at, b.id), reverse=True)


def resolve_backup(*, root: Path, ref: str, allow_path: bool = True) -> Path:
    """A backup directory from a path (if ``allow_path``), an id under ``root``, or ``latest``."""
    if ref == "latest":
        backups = list_backups(root=root)
        damaged = _newest_unreadable(root, after=backups[0].id if backups else "")
        if damaged is not None:  # the newest is damaged: never fall back to an older one unsaid
            name, detail = damaged
            raise Conflict(
                f"the newest backup {name} is damaged: {detail}; name the backup to use instead"
                " of latest (`mlgate backup list`)"
            )
        if not backups:
            raise NotFound(f"no backups in {root}; create one with `mlgate backup create`")
        return Path(backups[0].path)
    path = Path(ref)
    if allow_path and path.is_dir():
        return path
    candidate = root / ref
    if "/" not in ref and not ref.startswith(".") and candidate.is_dir():
        return candidate
    raise NotFound(f"no backup '{ref}'; list them with `mlgate backup list`")


def _newest_unreadable(root: Path, *, after: str) -> tuple[str, str] | None:
    """The newest directory named like a backup id no older than backup ``after`` whose
    manifest cannot be read, and why. Ids start with their time to the second (then random
    letters), so one of the same second may be the newer: it counts too."""
    if not root.exists():
        return None
    for path in sorted(root.iterdir(), reverse=True):
        if path.name[:ID_TIME] < after[:ID_TIME]:
            return None
        if path.name == after or not (BACKUP_ID.fullmatch(path.name) and path.is_dir()):
            continue
        try:
            read_manifest(path)
        except MlgateError as error:
            return path.name, error.detail
    return None


def get_backup(*, path: Path) -> BackupRead:
    return _read(path, read_manifest(path))


def verify_backup(*, path: Path, key: bytes | None) -> VerifyReport:
    """Check every checksum; with the key (or unencrypted) also decode everything, run the
    database's integrity check and verify the audit chain up to the recorded head."""
    try:
        manifest = read_manifest(path)
    except Invalid as error:
        return VerifyReport(
            backup_id=path.name, ok=False, checked_files=0, deep=False, problems=[error.detail]
        )
    problems = [p for p in (stored_checksum(path, entry) for entry in manifest.files) if p]
    report = VerifyReport(
        backup_id=manifest.id,
        ok=False,
        checked_files=len(manifest.files),
        deep=False,
        problems=problems,
    )
    try:
        check_key(manifest, key)
    except Invalid as error:
        if key is not None:
            report.problems.append(error.detail)
        report.ok = not report.problems
        return report
    if problems:
        return report
    report.deep = True
    try:
        _deep_check(path, manifest, key, report)
    except MlgateError as error:
        report.problems.append(error.detail)
    report.ok = not report.problems
    return report


def _deep_check(path: Path, manifest: Manifest, key: bytes | None, report: VerifyReport) -> None:
    for entry in manifest.files:
        if entry.kind == "blob":
            with DecodedReader(path, entry, key=key) as reader:
                reader.read_all_into(None)
    database = database_entry(manifest)
    with tempfile.TemporaryDirectory(prefix="mlgate-verify-") as scratch:
        copy = Path(scratch) / "store"
        with copy.open("wb") as out, DecodedReader(path, database, key=key) as reader:
            reader.read_all_into(out)
        head = manifest.audit_head.hash
        if manifest.dialect == "sqlite":
            report.integrity = snapshot.check_sqlite_file(copy)
            if report.integrity != "ok":
                report.problems.append(
                    f"{database.path} fails its integrity check: {report.integrity}"
                )
                return
            chain = snapshot.verify_audit_in_sqlite_file(copy, head)
            referenced = snapshot.artifact_digests_in_sqlite_file(copy)
        else:
            report.integrity = snapshot.check_pg_dump(copy)
            if report.integrity != "ok":
                report.problems.append(f"{database.path}: {report.integrity}")
                return
            chain = snapshot.verify_audit_in_pg_dump(copy, head)
            referenced = snapshot.artifact_digests_in_pg_dump(copy)
    report.audit_entries = chain.entries
    stored = {e.content_sha256 for e in manifest.files if e.kind == "blob"}
    missing = sorted(referenced - stored)
    if missing:
        report.problems.append(
            f"{database.path}: {len(missing)} artifacts have no blob in the backup, e.g."
            f" {missing[0]}"
        )
    if not chain.ok:
        report.problems.append(
            f"{database.path}: audit chain broken at entry {chain.first_broken_seq}: {chain.reason}"
        )
    elif chain.head_seq != manifest.audit_head.seq:
        report.problems.append(
            f"{database.path}: audit head is entry {chain.head_seq}, the manifest says"
            f" {manifest.audit_head.seq}"
        )


def prune_backups(
    session: Session | None,
    *,
    root: Path,
    policy: Retention,
    actor: Principal,
    dry_run: bool = False,
) -> PruneResult:
    """Delete backups the grandfather-father-son policy does not keep, and what killed backups
    and prunes left behind (``--dry-run``: list them).

    Each backup is deleted where it was listed, whatever its directory is called. An id found in
    more than one directory (a copy) is left alone with a warning: which one to keep is the
    operator's call.
    """
    places: dict[str, list[Path]] = {}
    backups = list_backups(root=root)
    for backup in backups:  # newest first, and dicts keep that order
        places.setdefault(backup.id, []).append(Path(backup.path))
    kept = select_kept([(b.id, b.created_at) for b in backups], policy)
    duplicates = [backup_id for backup_id, paths in places.items() if len(paths) > 1]
    for backup_id in duplicates:
        logger.warning(
            "backup %s is in %d directories (%s); prune leaves them: keep one by hand",
            backup_id,
            len(places[backup_id]),
            ", ".join(p.name for p in places[backup_id]),
        )
    result = PruneResult(
        dry_run=dry_run,
        keep=[backup_id for backup_id in places if backup_id in kept],
        delete=[b for b in places if b not in kept and b not in duplicates],
        duplicates=duplicates,
        leftovers=[p.name for p in _leftovers(root, now=time.time())],
    )
    if dry_run or not (result.delete or result.leftovers):
        return result
    # One deletion failing must not stop the others, nor keep the audit entry from saying what
    # was deleted: ``delete`` and ``leftovers`` become what went, ``failed`` what did not.
    failed: list[PruneFailure] = []
    result.delete = _each(result.delete, failed, lambda i: discard_backup(path=places[i][0]))
    result.leftovers = _each(result.leftovers, failed, lambda name: _remove_leftover(root / name))
    result.failed = failed
    if session is not None:
        audit.record(
            session,
            actor=actor,
            action="backup.pruned",
            object_type="backup",
            object_id="retention",
            change={
                "deleted": result.delete,
                "kept": len(result.keep),
                "leftovers": len(result.leftovers),
                "failed": {f.name: f.error for f in failed},
            },
        )
    return result


class PruneIncomplete(Unavailable):
    """A prune that could not delete everything it meant to; what it deleted was audited."""

    def __init__(self, result: PruneResult) -> None:
        reasons = "; ".join(f"{f.name}: {f.error}" for f in result.failed)
        super().__init__(
            f"prune could not delete {reasons}; it deleted {len(result.delete)} backups and"
            f" {len(result.leftovers)} leftover directories (audited as backup.pruned); fix the"
            " cause and prune again"
        )
        self.result = result


def _each(names: list[str], failed: list[PruneFailure], delete: Callable[[str], None]) -> list[str]:
    """Delete each of ``names``; the names deleted, each failure added to ``failed``."""
    done: list[str] = []
    for name in names:
        try:
            delete(name)
        except OSError as error:  # reported by the caller, with what was deleted
            where = f": {error.filename}" if error.filename else ""
            failed.append(PruneFailure(name=name, error=f"{error.strerror or error}{where}"))
        else:
            done.append(name)
    return done


def _remove_leftover(path: Path) -> None:
    with suppress(FileNotFoundError):  # another prune got there first
        shutil.rmtree(path)


def _leftovers(root: Path, *, now: float) -> list[Path]:
    """``.partial-*`` and ``.deleting-*`` directories nothing has written to for an hour."""
    if not root.is_dir():
        return []
    return sorted(
        path
        for path in root.iterdir()
        if path.name.startswith(LEFTOVER_PREFIXES)
        and path.is_dir()
        and not path.is_symlink()
        and now - _last_write(path) > STALE_AFTER_SECONDS
    )


def _last_write(directory: Path) -> float:
    """The newest mtime in the tree: a backup copying a large blob deep inside changes only that
    file's, not its directory's."""
    newest = 0.0
    for parent, _, files in os.walk(directory):
        for path in [parent, *(os.path.join(parent, name) for name in files)]:
            with suppress(FileNotFoundError):  # removed meanwhile by the job that wrote it
                newest = max(newest, os.stat(path).st_mtime)
    return newest
