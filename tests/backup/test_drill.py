"""Drills restore the latest backup to scratch, smoke-check it and keep RTO/RPO as evidence;
a failed drill is recorded and opens one incident; the scheduled run backs up and prunes, and
any failure of its backup step opens an incident."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mlgate.auth.schemas import Principal
from mlgate.backup import drills, jobs, service
from mlgate.backup.archive import read_manifest
from mlgate.clock import utcnow
from mlgate.config import Settings
from mlgate.incidents import service as incidents
from mlgate.runtime import Runtime
from tests.backup.conftest import populate


def test_drill_restores_to_scratch_and_records_rto_and_rpo(
    runtime: Runtime, admin: Principal, backup_root: Path, tmp_path: Path
) -> None:
    populate(runtime, admin, versions=2)
    backup = Path(jobs.backup_job(runtime, actor=admin, root=backup_root, key=None).path)
    seen: list[tuple[str, int, int]] = []
    result = jobs.drill_job(
        runtime,
        actor=admin,
        backup=backup,
        key=None,
        scratch_root=tmp_path,
        progress=lambda phase, n, total: seen.append((phase, n, total)),
    )
    assert result.ok, result.detail
    # What the CLI's progress bar counts: every byte restored, out of the backup's total.
    total = sum(e.content_size for e in read_manifest(backup).files)
    assert {(phase, t) for phase, _, t in seen} == {("restoring", total)}
    assert sum(n for _, n, _ in seen) == total
    assert "registry lists 1 models" in result.detail
    assert result.rto_seconds > 0
    assert result.rpo_seconds >= 0
    assert result.gateway_check.startswith(("ok", "skipped"))
    assert list(tmp_path.glob("mlgate-drill-*")) == []  # scratch cleaned up
    with runtime.db.unit_of_work() as session:
        recorded = drills.list_drills(session)
        assert [d.id for d in recorded] == [result.id]
        assert incidents.get_all(session, open_only=True) == []


def test_a_failed_drill_is_recorded_and_opens_one_incident(
    runtime: Runtime, admin: Principal, backup_root: Path, tmp_path: Path
) -> None:
    populate(runtime, admin, versions=1)
    backup = Path(jobs.backup_job(runtime, actor=admin, root=backup_root, key=None).path)
    database = next(e for e in read_manifest(backup).files if e.kind == "database")
    damaged = backup / database.path
    data = bytearray(damaged.read_bytes())
    data[-10] ^= 0x01
    damaged.write_bytes(bytes(data))
    for _ in range(2):
        result = jobs.drill_job(
            runtime, actor=admin, backup=backup, key=None, scratch_root=tmp_path
        )
        assert not result.ok
        assert database.path in result.detail
    with runtime.db.unit_of_work() as session:
        assert [d.ok for d in drills.list_drills(session)] == [False, False]
        opened = incidents.get_all(session, open_only=True)
    assert [i.cause_key for i in opened] == ["backup-drill-failed"]
    assert [e.kind for e in opened[0].events] == ["opened", "recurred"]


def test_scheduled_run_backs_up_when_due_and_not_before(runtime: Runtime, admin: Principal) -> None:
    populate(runtime, admin, versions=1)
    first = jobs.scheduled_run(runtime)
    assert first.error is None
    assert first.audit_ok
    assert first.backup is not None
    again = jobs.scheduled_run(runtime)
    assert again.backup is None  # the newest backup is younger than the interval
    later = utcnow() + timedelta(seconds=runtime.settings.backup_interval_seconds + 1)
    due = jobs.scheduled_run(runtime, now=later)
    assert due.backup is not None
    assert due.pruned is not None
    # Both backups fall on the same day: daily retention keeps only the newer one.
    assert due.pruned.delete == [first.backup.id]
    remaining = service.list_backups(root=runtime.settings.backups_path)
    assert [b.id for b in remaining] == [due.backup.id]


def test_a_broken_audit_chain_opens_an_incident_on_the_scheduled_run(
    runtime: Runtime, admin: Principal
) -> None:
    from sqlalchemy import text

    populate(runtime, admin, versions=1)
    with runtime.db.engine.begin() as connection:
        connection.execute(text("UPDATE audit_entries SET actor = 'mallory' WHERE seq = 1"))
    run = jobs.scheduled_run(runtime)
    assert run.audit_ok is False
    assert run.backup is not None  # the evidence is backed up all the same
    with runtime.db.unit_of_work() as session:
        opened = incidents.get_all(session, open_only=True)
    assert [(i.cause_key, i.severity.value) for i in opened] == [("audit-chain-broken", "SEV1")]


@pytest.mark.parametrize("broken", ["key file", "backup dir"])
def test_any_failure_of_the_scheduled_backup_opens_an_incident(
    settings: Settings, tmp_path: Path, broken: str
) -> None:
    if broken == "key file":
        update: dict[str, object] = {"backup_key_file": tmp_path / "missing.key"}
        step = "reading the backup key"
    else:
        a_file = tmp_path / "backups"
        a_file.write_text("not a directory")
        update = {"backup_dir": a_file}
        step = "listing the backups"
    runtime = Runtime.from_settings(settings.model_copy(update=update))
    try:
        run = jobs.scheduled_run(runtime)
        with runtime.db.unit_of_work() as session:
            opened = incidents.get_all(session, open_only=True)
    finally:
        runtime.close()
    assert run.backup is None
    assert run.error
    assert [i.cause_key for i in opened] == ["backup-failed"]
    assert step in opened[0].summary
