"""A restore drill on PostgreSQL whose scratch database cannot be dropped afterwards: the drill's
own outcome is what is recorded and reported, and the database left behind is a warning."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from mlgate.auth.schemas import Principal
from mlgate.backup import drills, jobs
from mlgate.backup.archive import MANIFEST, read_manifest, write_manifest
from mlgate.incidents import service as incidents
from mlgate.runtime import Runtime
from tests.backup.conftest import populate
from tests.conftest import PG_ADMIN_URL

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


class ScratchPinner:
    """A drill's progress callback that marks the drill's scratch database a template as soon as
    it exists: PostgreSQL refuses to drop a template database, even WITH (FORCE)."""

    def __init__(self, live_url: str) -> None:
        self.prefix = f"{make_url(live_url).database}_drill_"
        self.engine: Engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        self.pinned: list[str] = []

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self.pinned:
            return
        with self.engine.connect() as connection:
            names = connection.execute(text("SELECT datname FROM pg_database")).scalars().all()
            for name in (n for n in names if n.startswith(self.prefix)):
                connection.execute(text(f'ALTER DATABASE "{name}" IS_TEMPLATE true'))
                self.pinned.append(name)

    def release(self) -> None:
        with self.engine.connect() as connection:
            for name in self.pinned:
                connection.execute(text(f'ALTER DATABASE "{name}" IS_TEMPLATE false'))
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.engine.dispose()


@pytest.fixture
def pinner(db_url: str) -> Iterator[ScratchPinner]:
    pinning = ScratchPinner(db_url)
    yield pinning
    pinning.release()


def claim_one_row_more(backup: Path, table: str) -> None:
    """Make the backup's manifest promise a row its database does not hold: the restore into
    scratch succeeds, and its verification against the manifest fails."""
    manifest = read_manifest(backup)
    rows = manifest.tables[table]
    tables = {**manifest.tables, table: rows.model_copy(update={"rows": rows.rows + 1})}
    (backup / MANIFEST).unlink()
    write_manifest(backup, manifest.model_copy(update={"tables": tables, "checksum": ""}))


def test_a_drill_that_succeeds_is_recorded_as_ok_when_its_scratch_cannot_be_dropped(
    runtime: Runtime,
    admin: Principal,
    backup_root: Path,
    tmp_path: Path,
    pinner: ScratchPinner,
    caplog: pytest.LogCaptureFixture,
) -> None:
    populate(runtime, admin, versions=1)
    backup = Path(jobs.backup_job(runtime, actor=admin, root=backup_root, key=None).path)
    with caplog.at_level(logging.WARNING, logger="mlgate.backup.drills"):
        result = jobs.drill_job(
            runtime, actor=admin, backup=backup, key=None, scratch_root=tmp_path, progress=pinner
        )
    [scratch] = pinner.pinned
    assert result.ok, result.detail
    assert result.detail.startswith("restored and verified; registry lists 1 models; warning:")
    assert f"scratch database {scratch} was not dropped (" in result.detail
    assert "cannot drop a template database" in result.detail
    assert f"scratch database {scratch} was not dropped" in caplog.text
    with runtime.db.unit_of_work() as session:
        assert [(d.id, d.ok) for d in drills.list_drills(session)] == [(result.id, True)]
        assert incidents.get_all(session, open_only=True) == []


def test_a_failed_drill_reports_its_own_error_when_its_scratch_cannot_be_dropped(
    runtime: Runtime,
    admin: Principal,
    backup_root: Path,
    tmp_path: Path,
    pinner: ScratchPinner,
    caplog: pytest.LogCaptureFixture,
) -> None:
    populate(runtime, admin, versions=1)
    backup = Path(jobs.backup_job(runtime, actor=admin, root=backup_root, key=None).path)
    claim_one_row_more(backup, "models")
    with caplog.at_level(logging.WARNING, logger="mlgate.backup.drills"):
        result = jobs.drill_job(
            runtime, actor=admin, backup=backup, key=None, scratch_root=tmp_path, progress=pinner
        )
    [scratch] = pinner.pinned
    assert not result.ok
    own_error = "table models differs (1 rows, expected 2)"
    assert result.detail.startswith(f"restore of {result.backup_id} failed while verifying")
    assert result.detail.index(own_error) < result.detail.index("warning:")
    assert f"warning: scratch database {scratch} was not dropped (" in result.detail
    assert f"scratch database {scratch} was not dropped" in caplog.text
    with runtime.db.unit_of_work() as session:
        assert [(d.id, d.ok) for d in drills.list_drills(session)] == [(result.id, False)]
        [opened] = incidents.get_all(session, open_only=True)
    assert opened.cause_key == "backup-drill-failed"
    assert own_error in opened.summary
