"""A backup is taken only of a store mlgate migrated, and exists only with its audit entry: a
wrong directory or a typo'd URL is refused before anything is written, and a backup whose audit
entry fails is removed again."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from mlgate.auth.schemas import Principal
from mlgate.backup import jobs, service, snapshot, targets
from mlgate.config import Settings
from mlgate.errors import Invalid, Unavailable
from mlgate.runtime import Runtime
from tests.backup.conftest import populate


def test_a_store_without_a_schema_revision_is_refused_before_anything_is_written(
    settings: Settings, admin: Principal, backup_root: Path, restore_target: str
) -> None:
    # Run from the wrong directory: mlgate opens a fresh, empty store there.
    if restore_target.startswith("postgresql"):
        targets.create_pg_database(restore_target)
    empty = Runtime.from_settings(settings.model_copy(update={"database_url": restore_target}))
    try:
        with pytest.raises(Invalid, match="no schema revision") as refused:
            jobs.backup_job(empty, actor=admin, root=backup_root, key=None)
    finally:
        empty.close()
    assert restore_target in refused.value.detail
    assert not backup_root.exists()


def test_a_typod_database_url_is_refused_without_showing_its_password(
    admin: Principal, backup_root: Path, tmp_path: Path
) -> None:
    typo = "postgresql+psycopg://mlgate:hunter2@127.0.0.1:5432/mlgate_no_such_database"
    wrong = Runtime.from_settings(Settings(database_url=typo, data_dir=tmp_path / "data"))
    try:
        with pytest.raises(Unavailable, match="cannot read the store") as refused:
            jobs.backup_job(wrong, actor=admin, root=backup_root, key=None)
    finally:
        wrong.close()
    assert "mlgate:***@127.0.0.1:5432/mlgate_no_such_database" in refused.value.detail
    assert "hunter2" not in refused.value.detail
    assert not backup_root.exists()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_missing_sqlite_store_is_not_created_by_the_backup(
    runtime: Runtime, admin: Principal, backup_root: Path
) -> None:
    store = snapshot.sqlite_path(runtime.settings.database_url)
    runtime.db.dispose()
    store.unlink()  # deleted under a running server
    with runtime.db.sessions() as session, pytest.raises(Invalid, match="there is no store"):
        service.create_backup(
            session, db=runtime.db, blobs=runtime.blobs, root=backup_root, key=None, actor=admin
        )
    assert not store.exists()
    assert not backup_root.exists()


def test_a_backup_whose_audit_entry_fails_leaves_nothing(
    runtime: Runtime, admin: Principal, backup_root: Path
) -> None:
    populate(runtime, admin, versions=1)
    with runtime.db.engine.begin() as connection:
        connection.execute(text("DROP TABLE audit_head"))  # no audit entry can be written now
    with pytest.raises(Exception, match="audit_head"):
        jobs.backup_job(runtime, actor=admin, root=backup_root, key=None)
    assert list(backup_root.iterdir()) == []
    assert service.list_backups(root=backup_root) == []
