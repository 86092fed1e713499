"""Key changes that race: of two rotations, or two revocations, of one key exactly one wins."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from mlgate.audit import service as audit
from mlgate.auth import service
from mlgate.auth.schemas import ApiKeyCreate, Principal, Scope
from mlgate.errors import Conflict
from mlgate.runtime import Runtime
from tests.concurrency import race

ROUNDS = 4


def _issue(runtime: Runtime, admin: Principal) -> str:
    key_in = ApiKeyCreate(name="ci", owner="bob", scopes=[Scope.REGISTRY_READ])
    with runtime.db.unit_of_work() as session:
        return service.create(session, secret=runtime.secret, key_in=key_in, actor=admin).id


def _one_winner(runtime: Runtime, unit: Callable[[Session], object]) -> None:
    """Run ``unit`` twice at once: one succeeds, the other is a 409."""
    outcomes = race(runtime, unit, unit)
    conflicts = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(conflicts) == 1, outcomes
    assert not any(isinstance(o, Exception) and o not in conflicts for o in outcomes), outcomes


def test_two_concurrent_rotations_of_a_key_issue_one_successor(
    runtime: Runtime, admin: Principal
) -> None:
    for _ in range(ROUNDS):
        key_id = _issue(runtime, admin)
        with runtime.db.unit_of_work() as session:
            before = len(service.get_all(session))

        def rotate(session: Session, key_id: str = key_id) -> object:
            return service.rotate(
                session, secret=runtime.secret, key_id=key_id, grace_seconds=60, actor=admin
            )

        _one_winner(runtime, rotate)
        with runtime.db.unit_of_work() as session:
            assert len(service.get_all(session)) == before + 1  # no successor nobody points at
            actions = [e.action for e in audit.get_all(session, object_id=key_id)]
        assert actions.count("key.rotated") == 1


def test_two_concurrent_revocations_of_a_key_record_one(runtime: Runtime, admin: Principal) -> None:
    for _ in range(ROUNDS):
        key_id = _issue(runtime, admin)

        def revoke(session: Session, key_id: str = key_id) -> object:
            return service.revoke(session, key_id=key_id, actor=admin)

        _one_winner(runtime, revoke)
        with runtime.db.unit_of_work() as session:
            actions = [e.action for e in audit.get_all(session, object_id=key_id)]
        assert actions.count("key.revoked") == 1
