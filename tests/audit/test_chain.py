"""The audit chain on both databases: intact when untouched; each kind of tampering is named."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mlgate.audit import service
from mlgate.auth.schemas import Principal
from mlgate.store.database import Database


def write_entries(db: Database, actor: Principal, count: int = 5) -> None:
    for index in range(count):
        with db.unit_of_work() as session:
            service.record(
                session,
                actor=actor,
                action="thing.changed",
                object_type="thing",
                object_id=f"t{index}",
                change={"index": index},
            )


def verify(db: Database) -> tuple[bool, int | None, str | None]:
    with db.unit_of_work() as session:
        result = service.verify(session)
    return result.ok, result.first_broken_seq, result.reason


def tamper(db: Database, *statements: str) -> None:
    with db.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def test_untouched_chain_verifies(db: Database, admin: Principal) -> None:
    write_entries(db, admin)
    assert verify(db) == (True, None, None)


def test_each_entry_links_to_the_previous_hash(db: Database, admin: Principal) -> None:
    write_entries(db, admin, 3)
    with db.unit_of_work() as session:
        entries = list(service.iter_entries(session))
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[1].prev_hash == entries[0].hash
    assert entries[2].prev_hash == entries[1].hash


@pytest.mark.parametrize(
    ("statements", "broken_seq"),
    [
        (["UPDATE audit_entries SET actor = 'mallory' WHERE seq = 3"], 3),
        (["UPDATE audit_entries SET action = 'key.created' WHERE seq = 2"], 2),
        (["UPDATE audit_entries SET object_id = 'other' WHERE seq = 4"], 4),
        (["DELETE FROM audit_entries WHERE seq = 3"], 3),
        (["DELETE FROM audit_entries WHERE seq = 5"], 5),
        (
            [
                "UPDATE audit_entries SET seq = 100 WHERE seq = 2",
                "UPDATE audit_entries SET seq = 2 WHERE seq = 3",
                "UPDATE audit_entries SET seq = 3 WHERE seq = 100",
            ],
            2,
        ),
    ],
    ids=[
        "altered-actor",
        "altered-action",
        "altered-object",
        "deleted-middle",
        "deleted-last",
        "reordered",
    ],
)
def test_tampering_is_caught_and_named(
    db: Database, admin: Principal, statements: list[str], broken_seq: int
) -> None:
    write_entries(db, admin)
    tamper(db, *statements)
    ok, first_broken, reason = verify(db)
    assert not ok
    assert first_broken == broken_seq
    assert reason


def test_altered_change_body_is_caught(db: Database, admin: Principal) -> None:
    write_entries(db, admin)
    with db.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_entries SET change = :c WHERE seq = 2"), {"c": '{"index": 99}'}
        )
    ok, first_broken, _ = verify(db)
    assert (ok, first_broken) == (False, 2)


def test_rewritten_chain_without_the_secret_head_still_breaks(
    db: Database, admin: Principal
) -> None:
    """Recomputing one entry's hash is not enough: the next entry's link breaks."""
    write_entries(db, admin)
    with db.unit_of_work() as session:
        entries = list(service.iter_entries(session))
    forged = service._entry_hash(
        prev_hash=entries[1].prev_hash,
        seq=2,
        at=entries[1].at,
        actor="mallory",
        action=entries[1].action,
        object_type=entries[1].object_type,
        object_id=entries[1].object_id,
        digest=entries[1].digest,
    )
    tamper(db, f"UPDATE audit_entries SET actor = 'mallory', hash = '{forged}' WHERE seq = 2")
    ok, first_broken, _ = verify(db)
    assert (ok, first_broken) == (False, 3)
