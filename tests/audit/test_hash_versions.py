"""Hash versions on both databases: text cannot move across a '|' in a version-2 entry, entries
hashed before version 2 still verify, and the version column gives a tamperer nothing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from mlgate.audit import service
from mlgate.audit.hashes import hash_of
from mlgate.audit.schemas import AuditEntryRead, AuditVerification
from mlgate.auth.schemas import Principal
from mlgate.backup import snapshot
from mlgate.errors import Conflict
from mlgate.store.database import Database
from mlgate.store.migrate import alembic_config, upgrade
from tests.audit.tampering import append_as_before_hash_versions, tamper, version_1_hash

AT = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
BEFORE_HASH_VERSIONS = "0011_audit_hash_version@-1"


def record(
    db: Database,
    *,
    actor: str = "alice",
    action: str = "thing.changed",
    object_type: str = "thing",
    object_id: str = "t",
) -> None:
    with db.unit_of_work() as session:
        service.record(
            session,
            actor=Principal(name=actor, scopes=frozenset({"admin"})),
            action=action,
            object_type=object_type,
            object_id=object_id,
            change={"n": 1},
        )


def verify(db: Database) -> AuditVerification:
    with db.read_only() as session:
        return service.verify(session)


def broken(db: Database) -> tuple[bool, int | None, str]:
    result = verify(db)
    return result.ok, result.first_broken_seq, result.reason or ""


def versions(db: Database) -> list[int]:
    with db.engine.connect() as connection:
        query = text("SELECT hash_version FROM audit_entries ORDER BY seq")
        return list(connection.execute(query).scalars())


FIELDS = ("actor", "action", "object_type", "object_id")
DEFAULTS = {"actor": "alice", "action": "thing.changed", "object_type": "thing", "object_id": "t"}
# (the middle entry's fields as written, its fields after text moved across a '|')
MOVES = [
    ({"actor": "a|b", "action": "c"}, DEFAULTS | {"actor": "a", "action": "b|c"}),
    (
        {"action": "key|created", "object_type": "x"},
        DEFAULTS | {"action": "key", "object_type": "created|x"},
    ),
    (
        {"object_type": "model", "object_id": "churn|prod"},
        DEFAULTS | {"object_type": "model|churn", "object_id": "prod"},
    ),
]


def _set(seq: int, fields: Mapping[str, object]) -> str:
    assignments = ", ".join(
        f"{name} = {value}" if isinstance(value, int) else f"{name} = '{value}'"
        for name, value in fields.items()
    )
    return f"UPDATE audit_entries SET {assignments} WHERE seq = {seq}"


def _version_1_hash(entry: AuditEntryRead, fields: Mapping[str, str]) -> str:
    """``entry``'s hash in the version-1 format, with ``fields`` in place of its own."""
    return version_1_hash(
        prev_hash=entry.prev_hash,
        seq=entry.seq,
        at=entry.at,
        actor=fields["actor"],
        action=fields["action"],
        object_type=fields["object_type"],
        object_id=fields["object_id"],
        digest=entry.digest,
    )


def _middle_entry(db: Database, written: dict[str, str]) -> AuditEntryRead:
    record(db, object_id="first")
    record(db, **written)
    record(db, object_id="last")
    with db.read_only() as session:
        return list(service.iter_entries(session))[1]


@pytest.mark.parametrize(
    ("written", "after"), MOVES, ids=["actor>action", "action>type", "id>type"]
)
def test_text_moved_across_a_pipe_between_neighbouring_fields_is_caught(
    db: Database, written: dict[str, str], after: dict[str, str]
) -> None:
    entry = _middle_entry(db, written)
    assert entry.hash_version == 2
    unmoved = {name: getattr(entry, name) for name in FIELDS}
    assert unmoved != after
    # The move the version-1 format cannot see, which is why version 2 exists:
    assert _version_1_hash(entry, unmoved) == _version_1_hash(entry, after)
    tamper(db, _set(2, after))
    ok, seq, reason = broken(db)
    assert (ok, seq) == (False, 2)
    assert "does not match its hash" in reason


def test_old_version_1_entries_followed_by_version_2_entries_verify(db: Database) -> None:
    append_as_before_hash_versions(db, objects=["a|b", "c", "d"], at=AT)
    record(db, object_id="e")
    record(db, actor="ops|bot", object_id="f")
    assert versions(db) == [1, 1, 1, 2, 2]
    result = verify(db)
    assert (result.ok, result.entries, result.head_seq) == (True, 5, 5)


def test_an_altered_version_1_entry_is_still_caught(db: Database) -> None:
    append_as_before_hash_versions(db, objects=["a", "b", "c"], at=AT)
    record(db)
    tamper(db, _set(2, {"actor": "mallory"}))
    assert broken(db)[:2] == (False, 2)


@pytest.mark.parametrize(
    ("change", "broken_seq", "reason"),
    [
        ({"hash_version": 1}, 2, "does not match its hash"),
        ({"hash_version": 1, "actor": "a", "action": "b|c"}, 2, "does not match its hash"),
        ("rehashed", 3, "link to the previous entry is broken"),
    ],
    ids=["flipped", "flipped-and-moved", "flipped-moved-and-rehashed"],
)
def test_flipping_a_version_2_entry_to_version_1_is_caught(
    db: Database, change: dict[str, object] | str, broken_seq: int, reason: str
) -> None:
    entry = _middle_entry(db, {"actor": "a|b", "action": "c"})
    if change == "rehashed":  # the move, its version-1 hash stored: as if written by old code
        forged = _version_1_hash(entry, DEFAULTS | {"actor": "a", "action": "b|c"})
        assert forged != entry.hash
        change = {"hash_version": 1, "actor": "a", "action": "b|c", "hash": forged}
    assert isinstance(change, dict)
    tamper(db, _set(2, change))
    ok, seq, why = broken(db)
    assert (ok, seq) == (False, broken_seq)
    assert reason in why


@pytest.mark.parametrize("version", [0, 3, -1, 2**31 - 1])
def test_an_unknown_hash_version_is_reported_not_raised(db: Database, version: int) -> None:
    for object_id in ("a", "b", "c"):
        record(db, object_id=object_id)
    tamper(db, _set(2, {"hash_version": version}))
    ok, seq, reason = broken(db)
    assert (ok, seq) == (False, 2)
    assert f"hash version {version} is unknown" in reason


def test_upgrading_a_store_holding_old_entries_marks_them_version_1_and_they_verify(
    db: Database,
) -> None:
    engine = db.engine
    command.downgrade(alembic_config(engine), BEFORE_HASH_VERSIONS)
    append_as_before_hash_versions(db, objects=["a|b", "c", "d"], at=AT)
    before = verify(db)  # a store (or backup) from before the column: all version 1
    assert (before.ok, before.entries) == (True, 3)

    upgrade(engine)
    column = next(
        c for c in inspect(engine).get_columns("audit_entries") if c["name"] == "hash_version"
    )
    assert (column["nullable"], column["default"]) == (False, None)  # new rows say their version
    assert versions(db) == [1, 1, 1]
    assert verify(db).head_hash == before.head_hash
    record(db)
    record(db, actor="x|y")
    assert versions(db) == [1, 1, 1, 2, 2]
    assert verify(db).ok


def test_downgrading_refuses_while_version_2_entries_exist(db: Database) -> None:
    record(db)
    with pytest.raises(Conflict, match="keep this revision"):
        command.downgrade(alembic_config(db.engine), BEFORE_HASH_VERSIONS)
    assert versions(db) == [2]
    assert verify(db).ok


def test_a_backup_copy_from_before_hash_versions_verifies(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    """The checks backups get (``backup verify``, restore) read old copies as version 1."""
    command.downgrade(alembic_config(db.engine), BEFORE_HASH_VERSIONS)
    append_as_before_hash_versions(db, objects=["a|b", "c"], at=AT)
    if db_url.startswith("sqlite"):
        head = verify(db).head_hash
        result = snapshot.verify_audit_in_sqlite_file(snapshot.sqlite_path(db_url), head)
    else:
        dump = tmp_path / "store.dump"
        head = snapshot.snapshot_postgres(db.engine, dump).audit_head.hash
        result = snapshot.verify_audit_in_pg_dump(dump, head)
    assert (result.ok, result.entries, result.head_hash) == (True, 2, head)


def test_an_export_carries_each_entrys_version_and_verifies_offline(db: Database) -> None:
    append_as_before_hash_versions(db, objects=["a", "b"], at=AT)
    record(db, actor="a|b")
    record(db)
    with db.read_only() as session:
        lines = [entry.model_dump_json() for entry in service.iter_entries(session)]
    assert [json.loads(line)["hash_version"] for line in lines] == [1, 1, 2, 2]
    prev_hash = service.GENESIS_HASH
    for line in lines:
        entry = AuditEntryRead.model_validate_json(line)
        assert (entry.prev_hash, entry.hash) == (prev_hash, hash_of(entry, prev_hash=prev_hash))
        prev_hash = entry.hash
    older = json.loads(lines[0])
    del older["hash_version"]  # a line exported before hash versions
    assert AuditEntryRead.model_validate(older).hash_version == 1
