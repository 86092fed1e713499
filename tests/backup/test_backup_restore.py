"""Backups taken under concurrent writes restore to exactly what their manifest records;
a corrupted byte anywhere is found and named; an encrypted backup needs its key."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, inspect, select

from mlgate.audit import service as audit
from mlgate.auth import service as auth
from mlgate.auth.schemas import Principal
from mlgate.backup import jobs, service, snapshot
from mlgate.backup.archive import (
    MANIFEST,
    DecodedReader,
    read_manifest,
    store_file,
    write_manifest,
)
from mlgate.backup.cipher import generate_key
from mlgate.backup.restore import restore_backup
from mlgate.errors import Conflict, Invalid, Unavailable
from mlgate.registry import service as registry
from mlgate.registry.blobstore import LocalBlobStore
from mlgate.runtime import Runtime
from mlgate.store.database import Database
from mlgate.web.models import WebSession
from mlgate.web.session import start_session
from tests.backup.conftest import create_model, populate, register
from tests.conftest import KeyFactory

AUDIT_TABLES = {"audit_entries", "audit_head"}
MAX_BACKGROUND_WRITES = 400


def rewrite_manifest(backup: Path, **changes: Any) -> None:
    """Replace fields of a backup's manifest (its checksum recomputed): a manifest that lies."""
    manifest = read_manifest(backup)
    (backup / MANIFEST).unlink()  # a manifest is never overwritten
    write_manifest(backup, manifest.model_copy(update=changes))


def test_backup_under_concurrent_writes_restores_exactly_its_manifest(
    runtime: Runtime, admin: Principal, backup_root: Path, restore_target: str, tmp_path: Path
) -> None:
    populate(runtime, admin, versions=5)
    create_model(runtime, admin, "busy")
    stop = threading.Event()
    started = threading.Event()
    written: list[int] = []

    def write_until_stopped() -> None:
        for index in range(MAX_BACKGROUND_WRITES):
            if stop.is_set():
                return
            data = os.urandom(4096) + bytes([index % 256])
            written.append(register(runtime, admin, "busy", data).version)
            if len(written) >= 3:
                started.set()

    writer = threading.Thread(target=write_until_stopped)
    writer.start()
    try:
        assert started.wait(timeout=30), "the writer did not get going"
        backup = jobs.backup_job(runtime, actor=admin, root=backup_root, key=None)
        during = len(written)
    finally:
        stop.set()
        writer.join(timeout=60)
    assert not writer.is_alive()
    assert during >= 3
    manifest = read_manifest(Path(backup.path))

    # The snapshot is one instant: the model row's counter equals the versions it holds.
    busy_versions = manifest.tables["model_versions"].rows
    assert manifest.tables["audit_entries"].rows == manifest.audit_head.seq
    assert 5 + 3 <= busy_versions <= 5 + len(written)

    restored_blobs = tmp_path / "restored-blobs"
    result = restore_backup(
        backup=Path(backup.path),
        target_url=restore_target,
        blob_dir=restored_blobs,
        key=None,
        actor=admin,
    )
    assert result.verified

    engine = create_engine(restore_target)
    try:
        with engine.connect() as connection:
            summary = snapshot.summarize(connection)
    finally:
        engine.dispose()
    for name, expected in manifest.tables.items():
        if name not in AUDIT_TABLES:
            assert summary.tables[name] == expected, name
    restored = Database(restore_target)
    try:
        with restored.unit_of_work() as session:
            chain = audit.verify(session, expected_head=manifest.audit_head.hash)
            assert chain.ok
            assert chain.head_seq == manifest.audit_head.seq
            full = audit.verify(session)  # the restore itself appended one entry
            assert full.ok
            assert full.head_seq == manifest.audit_head.seq + 1
            busy = registry.get_model(session, name="busy")
            assert busy.latest_version == registry.list_versions(session, model_name="busy").total
    finally:
        restored.dispose()
    blobs = LocalBlobStore(restored_blobs)
    for entry in manifest.files:
        if entry.kind == "blob":
            with blobs.open(entry.content_sha256) as handle:
                assert hashlib.sha256(handle.read()).hexdigest() == entry.content_sha256
    assert sorted(blobs.iter_digests()) == sorted(
        e.content_sha256 for e in manifest.files if e.kind == "blob"
    )


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("encrypted", [False, True])
def test_a_corrupted_byte_in_any_file_fails_verify_and_names_the_file(
    runtime: Runtime, admin: Principal, backup_root: Path, tmp_path: Path, encrypted: bool
) -> None:
    populate(runtime, admin, versions=2)
    key = generate_key() if encrypted else None
    backup = Path(jobs.backup_job(runtime, actor=admin, root=backup_root, key=key).path)
    assert service.verify_backup(path=backup, key=key).ok
    files = sorted(p.relative_to(backup).as_posix() for p in backup.rglob("*") if p.is_file())
    assert MANIFEST in files
    assert len(files) >= 4
    for relative in files:
        copy = tmp_path / f"corrupt-{len(relative)}-{abs(hash(relative))}"
        shutil.copytree(backup, copy)
        _flip_byte(copy / relative)
        report = service.verify_backup(path=copy, key=key)
        assert not report.ok, relative
        assert any(relative in problem for problem in report.problems), (relative, report.problems)
        shutil.rmtree(copy)


def test_an_encrypted_backup_cannot_be_restored_without_its_key(
    runtime: Runtime, admin: Principal, backup_root: Path, restore_target: str, tmp_path: Path
) -> None:
    populate(runtime, admin, versions=2)
    key = generate_key()
    backup = Path(jobs.backup_job(runtime, actor=admin, root=backup_root, key=key).path)
    manifest = read_manifest(backup)
    # Nothing readable inside: the artifact bytes appear in no stored file.
    with runtime.blobs.open(manifest.files[-1].content_sha256) as handle:
        plain = handle.read()
    for path in backup.rglob("*"):
        if path.is_file():
            assert plain[:64] not in path.read_bytes()
    blobs = tmp_path / "blobs"
    with pytest.raises(Invalid, match="encrypted; give its key"):
        restore_backup(
            backup=backup, target_url=restore_target, blob_dir=blobs, key=None, actor=admin
        )
    with pytest.raises(Invalid, match="does not open backup"):
        restore_backup(
            backup=backup,
            target_url=restore_target,
            blob_dir=blobs,
            key=generate_key(),
            actor=admin,
        )
    assert not blobs.exists()
    report = service.verify_backup(path=backup, key=None)
    assert report.ok
    assert not report.deep
    result = restore_backup(
        backup=backup, target_url=restore_target, blob_dir=blobs, key=key, actor=admin
    )
    assert result.verified


def test_restore_refuses_a_non_empty_store_and_force_moves_it_aside(
    runtime: Runtime, admin: Principal, backup_root: Path, restore_target: str, tmp_path: Path
) -> None:
    populate(runtime, admin, versions=1)
    backup = Path(jobs.backup_job(runtime, actor=admin, root=backup_root, key=None).path)
    blobs = tmp_path / "blobs"
    restore_backup(backup=backup, target_url=restore_target, blob_dir=blobs, key=None, actor=admin)
    with pytest.raises(Conflict, match="is not empty"):
        restore_backup(
            backup=backup, target_url=restore_target, blob_dir=blobs, key=None, actor=admin
        )
    plan = restore_backup(
        backup=backup,
        target_url=restore_target,
        blob_dir=blobs,
        key=None,
        actor=admin,
        force=True,
        dry_run=True,
    )
    assert plan.dry_run
    assert not plan.moved_aside
    assert any("aside" in action for action in plan.actions)
    result = restore_backup(
        backup=backup, target_url=restore_target, blob_dir=blobs, key=None, actor=admin, force=True
    )
    assert result.verified
    assert len(result.moved_aside) == 2
    blobs_aside = Path(result.moved_aside[1])
    assert blobs_aside.is_dir()
    assert any(LocalBlobStore(blobs_aside).iter_digests())
    if restore_target.startswith("sqlite"):
        assert Path(result.moved_aside[0]).is_file()


def test_a_backup_is_never_overwritten_and_a_failed_one_leaves_nothing(
    runtime: Runtime, admin: Principal, backup_root: Path
) -> None:
    populate(runtime, admin, versions=1)
    with runtime.db.unit_of_work() as session:
        digest = registry.get_version(session, model_name="churn", version=1).artifacts[0].sha256
    os.chmod(runtime.blobs.path(digest), 0o644)
    runtime.blobs.delete(digest)  # an artifact row without its blob: the backup must refuse
    with pytest.raises(Conflict, match="no blob"):
        jobs.backup_job(runtime, actor=admin, root=backup_root, key=None)
    assert [p.name for p in backup_root.iterdir()] == []
    with runtime.db.unit_of_work() as session:
        from mlgate.incidents import service as incidents

        opened = incidents.get_all(session, open_only=True)
    assert [i.cause_key for i in opened] == ["backup-failed"]


def test_a_damaged_backup_restores_nothing(
    runtime: Runtime, admin: Principal, backup_root: Path, restore_target: str, tmp_path: Path
) -> None:
    populate(runtime, admin, versions=2)
    backup = Path(jobs.backup_job(runtime, actor=admin, root=backup_root, key=None).path)
    blob = next(e for e in read_manifest(backup).files if e.kind == "blob")
    _flip_byte(backup / blob.path)
    blobs = tmp_path / "blobs"
    with pytest.raises(Invalid, match=f"nothing was restored: {blob.path}"):
        restore_backup(
            backup=backup, target_url=restore_target, blob_dir=blobs, key=None, actor=admin
        )
    assert not blobs.exists()
    from mlgate.backup.targets import store_state

    assert store_state(restore_target) == "missing"


def test_restore_refuses_a_schema_revision_this_code_does_not_know(
    runtime: Runtime, admin: Principal, backup_root: Path, restore_target: str, tmp_path: Path
) -> None:
    populate(runtime, admin, versions=1)
    backup = Path(jobs.backup_job(runtime, actor=admin, root=backup_root, key=None).path)
    rewrite_manifest(backup, schema_revisions=["9999_future"])
    with pytest.raises(Conflict, match="9999_future"):
        restore_backup(
            backup=backup, target_url=restore_target, blob_dir=tmp_path / "b", key=None, actor=admin
        )


def _leave_a_stale_wal(store: Path) -> None:
    """What a crash leaves when the operator then deletes the store file but not its WAL."""
    store.parent.mkdir(parents=True, exist_ok=True)
    wal = store.with_name(store.name + "-wal")
    connection = sqlite3.connect(store)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA wal_autocheckpoint=0")
        connection.execute("CREATE TABLE foreign_rows (x)")
        connection.execute("INSERT INTO foreign_rows VALUES ('stale')")
        connection.commit()
        stale = wal.read_bytes()
    finally:
        connection.close()  # a clean close checkpoints and removes the WAL; a crash does not
    store.unlink()
    wal.write_bytes(stale)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_leftover_wal_makes_the_target_non_empty_and_force_moves_it_aside(
    runtime: Runtime, admin: Principal, backup_root: Path, restore_target: str, tmp_path: Path
) -> None:
    populate(runtime, admin, versions=1)
    backup = Path(jobs.backup_job(runtime, actor=admin, root=backup_root, key=None).path)
    store = snapshot.sqlite_path(restore_target)
    _leave_a_stale_wal(store)
    blobs = tmp_path / "blobs"
    with pytest.raises(Conflict, match="is not empty"):
        restore_backup(
            backup=backup, target_url=restore_target, blob_dir=blobs, key=None, actor=admin
        )
    assert not store.exists()
    result = restore_backup(
        backup=backup, target_url=restore_target, blob_dir=blobs, key=None, actor=admin, force=True
    )
    assert result.verified
    assert len(result.moved_aside) == 1
    assert result.moved_aside[0].endswith("-wal")
    assert Path(result.moved_aside[0]).is_file()  # kept, never deleted
    engine = create_engine(restore_target)
    try:
        with engine.connect() as connection:
            assert "foreign_rows" not in inspect(connection).get_table_names()
    finally:
        engine.dispose()


def _drop_audit_tables(backup: Path, scratch: Path) -> None:
    """Rewrite the backup's database without its audit tables, checksums to match."""
    manifest = read_manifest(backup)
    entry = next(e for e in manifest.files if e.kind == "database")
    copy = scratch / "without-audit.sqlite"
    with copy.open("wb") as out, DecodedReader(backup, entry, key=None) as reader:
        reader.read_all_into(out)
    connection = sqlite3.connect(copy)
    try:
        connection.execute("DROP TABLE audit_entries")
        connection.execute("DROP TABLE audit_head")
        connection.commit()
    finally:
        connection.close()
    (backup / entry.path).unlink()
    with copy.open("rb") as source:
        rewritten = store_file(source, backup / entry.path, kind="database", root=backup, key=None)
    files = [rewritten if f.kind == "database" else f for f in manifest.files]
    rewrite_manifest(backup, files=files)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_unexpected_error_while_verifying_says_the_target_must_not_be_used(
    runtime: Runtime, admin: Principal, backup_root: Path, restore_target: str, tmp_path: Path
) -> None:
    populate(runtime, admin, versions=1)
    backup = Path(jobs.backup_job(runtime, actor=admin, root=backup_root, key=None).path)
    _drop_audit_tables(backup, tmp_path)
    with pytest.raises(Unavailable) as failed:
        restore_backup(
            backup=backup,
            target_url=restore_target,
            blob_dir=tmp_path / "blobs",
            key=None,
            actor=admin,
        )
    detail = failed.value.detail
    assert "failed while verifying the restored store" in detail
    assert "no such table: audit_entries" in detail
    assert "must not be used" in detail
    assert "\n" not in detail


def _leave_out_a_blob(backup: Path) -> str:
    """Delete one blob and its manifest line, checksum to match: a manifest that lies."""
    manifest = read_manifest(backup)
    blob = next(e for e in manifest.files if e.kind == "blob")
    (backup / blob.path).unlink()
    rewrite_manifest(backup, files=[f for f in manifest.files if f is not blob])
    return blob.content_sha256


def test_a_manifest_that_leaves_a_blob_out_fails_verify_and_restore(
    runtime: Runtime, admin: Principal, backup_root: Path, restore_target: str, tmp_path: Path
) -> None:
    """The artifact rows say which blobs a store needs; both checks read them (a restore
    reported success while an artifact had no blob)."""
    populate(runtime, admin, versions=2)
    backup = Path(jobs.backup_job(runtime, actor=admin, root=backup_root, key=None).path)
    digest = _leave_out_a_blob(backup)
    report = service.verify_backup(path=backup, key=None)
    assert not report.ok
    assert any(
        f"1 artifacts have no blob in the backup, e.g. {digest}" in p for p in report.problems
    )
    with pytest.raises(Unavailable, match=f"1 blobs are missing, e.g. {digest}"):
        restore_backup(
            backup=backup,
            target_url=restore_target,
            blob_dir=tmp_path / "blobs",
            key=None,
            actor=admin,
        )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_manifest_without_a_database_is_refused_before_anything_is_restored(
    runtime: Runtime, admin: Principal, backup_root: Path, restore_target: str, tmp_path: Path
) -> None:
    populate(runtime, admin, versions=1)
    backup = Path(jobs.backup_job(runtime, actor=admin, root=backup_root, key=None).path)
    manifest = read_manifest(backup)
    rewrite_manifest(backup, files=[f for f in manifest.files if f.kind != "database"])
    report = service.verify_backup(path=backup, key=None)  # raised StopIteration
    assert (report.ok, report.problems) == (False, [f"backup {manifest.id} holds no database file"])
    blobs = tmp_path / "blobs"
    with pytest.raises(Invalid, match="holds no database file"):
        restore_backup(
            backup=backup, target_url=restore_target, blob_dir=blobs, key=None, actor=admin
        )
    assert not blobs.exists()  # the blobs were restored before the missing database was noticed


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_file_that_is_not_a_sqlite_store_is_a_non_empty_target(
    runtime: Runtime, admin: Principal, backup_root: Path, tmp_path: Path
) -> None:
    populate(runtime, admin, versions=1)
    backup = Path(jobs.backup_job(runtime, actor=admin, root=backup_root, key=None).path)
    other = tmp_path / "notes.db"
    other.write_bytes(b"not a database\n" * 100)
    target = f"sqlite:///{other}"
    blobs = tmp_path / "blobs"
    with pytest.raises(Conflict, match="is not empty"):  # was sqlalchemy's DatabaseError
        restore_backup(backup=backup, target_url=target, blob_dir=blobs, key=None, actor=admin)
    result = restore_backup(
        backup=backup, target_url=target, blob_dir=blobs, key=None, actor=admin, force=True
    )
    assert result.verified
    assert Path(result.moved_aside[0]).read_bytes() == b"not a database\n" * 100


def test_a_restore_ends_every_web_session_it_brings_back(
    runtime: Runtime,
    admin: Principal,
    backup_root: Path,
    restore_target: str,
    tmp_path: Path,
    make_key: KeyFactory,
) -> None:
    """A session signed out after the backup was taken must not open pages again."""
    key = make_key("registry:read")
    with runtime.db.unit_of_work() as session:
        principal = auth.authenticate(session, secret=runtime.secret, presented=key)
        assert principal.key_id is not None
        start_session(session, key_id=principal.key_id)
    backup = Path(jobs.backup_job(runtime, actor=admin, root=backup_root, key=None).path)
    result = restore_backup(
        backup=backup, target_url=restore_target, blob_dir=tmp_path / "b", key=None, actor=admin
    )
    assert result.verified
    restored = Database(restore_target)
    try:
        with restored.read_only() as session:
            assert session.scalar(select(func.count()).select_from(WebSession)) == 0
            entries = audit.get_all(session, object_type="backup", limit=1000)
        (restored_entry,) = [e for e in entries if e.action == "backup.restored"]
        assert restored_entry.change["web_sessions_ended"] == 1
    finally:
        restored.dispose()
