"""The audit chain on both databases: intact when untouched; each kind of tampering is named."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from mlgate.audit import service
from mlgate.audit.hashes import entry_hash
from mlgate.auth.schemas import Principal
from mlgate.runtime import Runtime
from mlgate.store.database import Database
from tests.audit.tampering import cut_off_the_end, tamper
from tests.concurrency import race


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


def verify(
    db: Database, known_head: tuple[int, str] | None = None
) -> tuple[bool, int | None, str | None]:
    with db.read_only() as session:
        result = service.verify(session, known_head=known_head)
    return result.ok, result.first_broken_seq, result.reason


def recorded_head(db: Database) -> tuple[int, str]:
    """The head a verify prints, as an operator would keep it outside the store."""
    with db.read_only() as session:
        result = service.verify(session)
    assert result.ok
    return result.head_seq, result.head_hash


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
    forged = entry_hash(
        version=entries[1].hash_version,
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


def test_entries_cut_off_the_end_are_found_against_a_head_recorded_earlier(
    db: Database, admin: Principal
) -> None:
    write_entries(db, admin, 6)
    recorded = recorded_head(db)
    cut_off_the_end(db, keep=3)
    assert verify(db)[0]  # the chain alone cannot tell
    ok, first_broken, reason = verify(db, known_head=recorded)
    assert (ok, first_broken) == (False, 4)
    assert "cut off" in (reason or "")
    write_entries(db, admin, 3)  # the chain grows back to seq 6, with other entries
    ok, first_broken, reason = verify(db, known_head=recorded)
    assert (ok, first_broken) == (False, 6)
    assert "rewritten" in (reason or "")


def test_a_head_recorded_earlier_holds_while_the_chain_grows(
    db: Database, admin: Principal
) -> None:
    write_entries(db, admin, 3)
    recorded = recorded_head(db)
    write_entries(db, admin, 3)
    with db.read_only() as session:
        result = service.verify(session, known_head=recorded)
    assert (result.ok, result.entries, result.head_seq) == (True, 6, 6)


@pytest.mark.parametrize(
    ("statement", "broken_seq", "reason"),
    [
        ("DELETE FROM audit_head", 6, "head row is missing"),
        ("UPDATE audit_head SET seq = 3", 4, "entries after it exist"),
        ("UPDATE audit_head SET seq = 9", 6, "entries 6 to 9 are missing"),
    ],
    ids=["head-row-deleted", "head-rewound", "head-ahead"],
)
def test_a_head_row_that_does_not_match_the_chain_is_named(
    db: Database, admin: Principal, statement: str, broken_seq: int, reason: str
) -> None:
    write_entries(db, admin)
    tamper(db, statement)
    ok, first_broken, why = verify(db)
    assert (ok, first_broken) == (False, broken_seq)
    assert reason in (why or "")


@pytest.mark.parametrize("number", [1e16, -0.0, 1e300, 2.5, 1e-20])
def test_a_change_holding_any_float_verifies_as_stored(
    db: Database, admin: Principal, number: float
) -> None:
    """PostgreSQL's jsonb gives 1e16 back as 10000000000000000 and -0.0 as 0: the digest
    must be of what the store gives back, or the chain looks tampered with for good."""
    with db.unit_of_work() as session:
        service.record(
            session,
            actor=admin,
            action="route.created",
            object_type="route",
            object_id="r",
            change={"breaker_window_seconds": number, "nested": [{"v": number}]},
        )
    write_entries(db, admin, 2)
    assert verify(db) == (True, None, None)


def test_appends_from_concurrent_transactions_form_one_chain(
    runtime: Runtime, admin: Principal
) -> None:
    def append(session: Session) -> int:
        entry = service.record(
            session, actor=admin, action="thing.changed", object_type="thing", object_id="t"
        )
        return entry.seq

    outcomes = race(runtime, *[append] * 6)
    assert sorted(o for o in outcomes if isinstance(o, int)) == [1, 2, 3, 4, 5, 6], outcomes
    assert verify(runtime.db) == (True, None, None)
