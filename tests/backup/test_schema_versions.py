"""Backups across today's migrations: one taken before an upgrade restores after it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.backup import service
from mlgate.backup.restore import restore_backup
from mlgate.runtime import Runtime
from mlgate.store.database import Database
from mlgate.store.migrate import alembic_config, current_revisions, is_current
from tests.audit.tampering import append_as_before_hash_versions

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
BEFORE_TODAY = ("0011_audit_hash_version@-1", "0012_web_sessions@-1")


def _backup_as_before_the_upgrade(runtime: Runtime, root: Path) -> Path:
    """A store at the revisions before 0011/0012 with an audit chain, backed up as an mlgate of
    that time wrote it (its own audit entry is not written: that needs the old code)."""
    for revision in BEFORE_TODAY:
        command.downgrade(alembic_config(runtime.db.engine), revision)
    append_as_before_hash_versions(runtime.db, objects=["a", "b"], at=AT)
    staging = root / "old"
    staging.mkdir(parents=True)
    service._write_backup(runtime.db, runtime.blobs, staging, "old", None, AT, None, 0.0)
    return staging


def test_a_backup_from_before_the_upgrade_restores_and_verifies(
    runtime: Runtime, admin: Principal, backup_root: Path, restore_target: str, tmp_path: Path
) -> None:
    """Restored, verified against its manifest, then upgraded: this mlgate's server needs its
    schema, and so does the restore's own audit entry (it failed with a raw database error)."""
    backup = _backup_as_before_the_upgrade(runtime, backup_root)
    assert service.verify_backup(path=backup, key=None).ok
    blobs = tmp_path / "blobs"
    plan = restore_backup(
        backup=backup,
        target_url=restore_target,
        blob_dir=blobs,
        key=None,
        actor=admin,
        dry_run=True,
    )
    assert any(action.startswith("upgrade the schema") for action in plan.actions)
    result = restore_backup(
        backup=backup, target_url=restore_target, blob_dir=blobs, key=None, actor=admin
    )
    assert (result.verified, result.schema_upgraded) == (True, True)
    restored = Database(restore_target)
    try:
        assert is_current(restored.engine)
        assert {"0011_audit_hash_version", "0012_web_sessions"} <= current_revisions(
            restored.engine
        )
        with restored.read_only() as session:
            chain = audit.verify(session)
            entries = audit.get_all(session)
        assert (chain.ok, chain.entries) == (True, 3)
        assert [(e.action, e.hash_version) for e in entries][-1] == ("backup.restored", 2)
    finally:
        restored.dispose()
