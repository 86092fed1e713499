"""Prune deletes each backup where it listed it, leaves a backup found in two directories alone,
and removes what killed backups and prunes left once nothing has written to it for an hour."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.backup import jobs, service
from mlgate.backup.retention import Retention
from mlgate.backup.schemas import BackupRead
from mlgate.runtime import Runtime
from tests.backup.conftest import populate
from tests.cli.conftest import Cli, cli  # noqa: F401  (fixture)
from tests.conftest import KeyFactory, bearer
from tests.integration.conftest import LiveServer, live_server  # noqa: F401  (fixture)

DAY = datetime(2026, 3, 2, tzinfo=UTC)
NEWEST_ONLY = Retention(daily=1, weekly=0, monthly=0)
TWO_HOURS = 2 * 3600


def backup_at(runtime: Runtime, admin: Principal, root: Path, hour: int) -> BackupRead:
    with runtime.db.unit_of_work() as session:
        return service.create_backup(
            session,
            db=runtime.db,
            blobs=runtime.blobs,
            root=root,
            key=None,
            actor=admin,
            now=DAY + timedelta(hours=hour),
        )


def age(directory: Path, seconds: float) -> None:
    """Make everything in ``directory`` look last written ``seconds`` ago."""
    then = time.time() - seconds
    for path in [directory, *directory.rglob("*")]:
        os.utime(path, (then, then))


def test_prune_deletes_the_directory_it_listed_and_leaves_copies_alone(
    runtime: Runtime, admin: Principal, backup_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    populate(runtime, admin, versions=1)
    oldest, copied, newest = (backup_at(runtime, admin, backup_root, h) for h in (1, 2, 3))
    renamed = backup_root / "before-the-upgrade"
    Path(oldest.path).rename(renamed)
    copy = backup_root / f"{copied.id}.copy"
    shutil.copytree(copied.path, copy)
    with caplog.at_level(logging.WARNING), runtime.db.unit_of_work() as session:
        result = service.prune_backups(session, root=backup_root, policy=NEWEST_ONLY, actor=admin)
    assert result.keep == [newest.id]
    assert result.delete == [oldest.id]
    assert result.duplicates == [copied.id]
    assert not renamed.exists()
    assert sorted(p.name for p in backup_root.iterdir()) == sorted(
        [newest.id, copied.id, copy.name]
    )
    assert f"backup {copied.id} is in 2 directories" in caplog.text


def test_prune_removes_what_killed_backups_left_once_nothing_writes_to_it(
    runtime: Runtime,
    admin: Principal,
    cli: Cli,  # noqa: F811
) -> None:
    populate(runtime, admin, versions=1)
    root = runtime.settings.backups_path
    backup = jobs.backup_job(runtime, actor=admin, root=root, key=None)
    killed = root / ".partial-20260301T000000Z-killed"
    half_deleted = root / ".deleting-20260228T000000Z-halfway"
    running = root / ".partial-20260302T000000Z-running"
    for leftover in (killed, half_deleted, running):
        shutil.copytree(backup.path, leftover)  # full size, as a SIGKILL leaves it
        age(leftover, TWO_HOURS)
    blob = next(p for p in running.rglob("*") if p.is_file() and "blobs" in p.parts)
    os.utime(blob)  # a running backup still writing one large blob deep inside
    dry = cli("backup", "prune", "--from", str(root), "--dry-run")
    assert dry.code == 0, dry.err
    assert "would remove 2 leftover directories" in dry.out
    assert killed.is_dir()
    result = jobs.prune_job(runtime, actor=admin, root=root)
    assert result.leftovers == sorted([half_deleted.name, killed.name])
    assert result.delete == []
    assert sorted(p.name for p in root.iterdir()) == sorted([backup.id, running.name])


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_prune_removes_a_symlinked_backup_as_a_link(
    runtime: Runtime, admin: Principal, backup_root: Path, tmp_path: Path
) -> None:
    """It raised 'Cannot call rmtree on a symbolic link' halfway through, after deleting other
    backups and before its audit entry, and left a '.deleting-' link no prune removes."""
    populate(runtime, admin, versions=1)
    elsewhere = backup_at(runtime, admin, tmp_path / "other-disk", 1)
    older = backup_at(runtime, admin, backup_root, 2)
    newest = backup_at(runtime, admin, backup_root, 3)
    (backup_root / elsewhere.id).symlink_to(elsewhere.path)
    with runtime.db.unit_of_work() as session:
        result = service.prune_backups(session, root=backup_root, policy=NEWEST_ONLY, actor=admin)
    assert sorted(result.delete) == sorted([elsewhere.id, older.id])
    assert [p.name for p in backup_root.iterdir()] == [newest.id]
    assert Path(elsewhere.path, "manifest.json").is_file()  # the link went, not what it named


def make_undeletable(path: Path) -> Path:
    """Rename a backup directory so that deleting it fails with an OSError, for root too (a
    read-only directory would not stop root): prune first renames a backup to
    ``.deleting-<name>-<6 letters>``, which is over the file system's 255-byte name limit."""
    stuck = path.with_name("b" * 245)
    path.rename(stuck)
    return stuck


def test_a_prune_that_fails_part_way_audits_what_it_deleted(
    runtime: Runtime, admin: Principal, backup_root: Path
) -> None:
    """The 3rd of 5 deletions raised: the two backups already deleted had no audit entry (the
    error escaped before it was written, and would have rolled it back), the 4th and 5th were
    not tried."""
    populate(runtime, admin, versions=1)
    *older, newest = (backup_at(runtime, admin, backup_root, hour) for hour in range(1, 7))
    doomed = older[::-1]  # prune deletes newest first
    stuck = make_undeletable(Path(doomed[2].path))
    with pytest.raises(service.PruneIncomplete) as raised:
        jobs.prune_job(runtime, actor=admin, root=backup_root)
    deleted = [doomed[i].id for i in (0, 1, 3, 4)]
    assert raised.value.result.delete == deleted
    assert [f.name for f in raised.value.result.failed] == [doomed[2].id]
    assert f"could not delete {doomed[2].id}: File name too long: {stuck}" in raised.value.detail
    assert "it deleted 4 backups" in raised.value.detail
    assert sorted(p.name for p in backup_root.iterdir()) == sorted([newest.id, stuck.name])
    with runtime.db.unit_of_work() as session:
        entry = audit.latest(session, action="backup.pruned")
    assert entry is not None
    assert entry.change["deleted"] == deleted
    assert list(entry.change["failed"]) == [doomed[2].id]
    assert "File name too long" in entry.change["failed"][doomed[2].id]


@pytest.fixture
def immutable() -> Iterator[Callable[[Path], None]]:
    """Mark a backup's file immutable (chattr +i), which root cannot delete either; undone
    afterwards under the backup's whole directory, wherever prune moved the file to."""
    roots: list[Path] = []

    def mark(path: Path) -> None:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"chattr +i is not available here: {done.stderr.decode().strip()}")
        roots.append(path.parents[1])

    yield mark
    for root in roots:
        subprocess.run(["chattr", "-R", "-i", str(root)], capture_output=True, check=False)


def test_a_backup_whose_removal_fails_after_the_rename_is_deleted_and_audited(
    runtime: Runtime,
    admin: Principal,
    backup_root: Path,
    immutable: Callable[[Path], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Renamed to '.deleting-*', it was no backup any more, yet it was audited as not deleted."""
    populate(runtime, admin, versions=1)
    older = backup_at(runtime, admin, backup_root, 1)
    newest = backup_at(runtime, admin, backup_root, 2)
    immutable(Path(older.path, "manifest.json"))
    with runtime.db.unit_of_work() as session:
        result = service.prune_backups(session, root=backup_root, policy=NEWEST_ONLY, actor=admin)
    assert (result.delete, result.failed) == ([older.id], [])
    assert [b.id for b in service.list_backups(root=backup_root)] == [newest.id]
    leftover = [p.name for p in backup_root.iterdir() if p.name.startswith(".deleting-")]
    assert len(leftover) == 1  # for a later prune to remove
    assert f"backup {older.id} deleted, but" in caplog.text
    with runtime.db.unit_of_work() as session:
        entry = audit.latest(session, action="backup.pruned")
    assert entry is not None
    assert entry.change["deleted"] == [older.id]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_failed_prune_is_an_error_on_the_cli_and_over_http(
    runtime: Runtime,
    admin: Principal,
    make_key: KeyFactory,
    live_server: LiveServer,  # noqa: F811
    cli: Cli,  # noqa: F811
) -> None:
    populate(runtime, admin, versions=1)
    root = runtime.settings.backups_path
    first, second, newest = (backup_at(runtime, admin, root, hour) for hour in (1, 2, 3))
    make_undeletable(Path(first.path))
    answer = httpx.post(
        f"{live_server.url}/api/v1/backups/prune?dry_run=false",
        headers=bearer(make_key("backup:admin")),
    )
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"] == "urn:mlgate:problem:unavailable"
    assert f"could not delete {first.id}: File name too long: " in problem["detail"]
    assert "it deleted 1 backups" in problem["detail"]
    assert [b.id for b in service.list_backups(root=root)] == [newest.id, first.id]
    refused = cli("backup", "prune", "--from", str(root))
    assert refused.code == 1
    assert refused.err.count("\n") == 1
    assert refused.err.startswith(f"error: prune could not delete {first.id}: File name too")
    assert "deleted 0 backups, keeping 1" in refused.out
    as_json = cli("backup", "prune", "--from", str(root), "--json")
    assert as_json.code == 1
    assert [f["name"] for f in json.loads(as_json.out)["failed"]] == [first.id]
    with runtime.db.unit_of_work() as session:
        entries = audit.get_all(session, object_type="backup", object_id="retention")
    assert [e.change["deleted"] for e in entries] == [[second.id], [], []]
