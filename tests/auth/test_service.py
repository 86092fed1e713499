"""API keys on both databases: issue, refuse, revoke, expire, rotate with a grace period."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from mlgate.auth import service
from mlgate.auth.schemas import ApiKeyCreate, Principal, Scope
from mlgate.clock import utcnow
from mlgate.errors import Conflict, Forbidden, Invalid, Unauthorized
from mlgate.runtime import Runtime


def issue(runtime: Runtime, admin: Principal, **fields: object) -> tuple[str, str]:
    key_in = ApiKeyCreate(
        name="ci",
        owner="bob",
        scopes=[Scope.REGISTRY_READ],
        **fields,  # type: ignore[arg-type]
    )
    with runtime.db.unit_of_work() as session:
        issued = service.create(session, secret=runtime.secret, key_in=key_in, actor=admin)
    return issued.id, issued.key.get_secret_value()


def authenticate(runtime: Runtime, key: str | None, **kw: object) -> Principal:
    with runtime.db.unit_of_work() as session:
        return service.authenticate(
            session,
            secret=runtime.secret,
            presented=key,
            **kw,  # type: ignore[arg-type]
        )


def test_issued_key_authenticates_as_its_owner_with_its_scopes(
    runtime: Runtime, admin: Principal
) -> None:
    key_id, key = issue(runtime, admin)
    principal = authenticate(runtime, key)
    assert principal.name == "bob"
    assert principal.key_id == key_id
    assert principal.has("registry:read")
    assert not principal.has("registry:write")


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda k: None, "required"),
        (lambda k: "", "required"),
        (lambda k: k[:-1] + ("x" if k[-1] != "x" else "y"), "checksum"),
        (lambda k: "sk-" + k, "malformed"),
    ],
)
def test_missing_or_malformed_keys_are_refused(
    runtime: Runtime, admin: Principal, mangle: object, reason: str
) -> None:
    _, key = issue(runtime, admin)
    with pytest.raises(Unauthorized, match=reason):
        authenticate(runtime, mangle(key))  # type: ignore[operator]


def test_unknown_well_formed_key_is_refused(runtime: Runtime) -> None:
    from mlgate.auth.keys import generate_key

    with pytest.raises(Unauthorized, match="not known"):
        authenticate(runtime, generate_key().value)


def test_revoked_key_is_refused(runtime: Runtime, admin: Principal) -> None:
    key_id, key = issue(runtime, admin)
    with runtime.db.unit_of_work() as session:
        service.revoke(session, key_id=key_id, actor=admin)
    with pytest.raises(Unauthorized, match="revoked"):
        authenticate(runtime, key)


def test_expired_key_is_refused(runtime: Runtime, admin: Principal) -> None:
    expires = utcnow() + timedelta(hours=1)
    _, key = issue(runtime, admin, expires_at=expires)
    assert authenticate(runtime, key, now=expires - timedelta(seconds=1)).name == "bob"
    with pytest.raises(Unauthorized, match="expired"):
        authenticate(runtime, key, now=expires)


def test_expiry_in_the_past_is_invalid(runtime: Runtime, admin: Principal) -> None:
    with pytest.raises(Invalid, match="expires_at"):
        issue(runtime, admin, expires_at=utcnow() - timedelta(seconds=1))


def test_rotated_key_works_through_the_grace_period_and_then_stops(
    runtime: Runtime, admin: Principal
) -> None:
    key_id, old_key = issue(runtime, admin)
    now = utcnow()
    with runtime.db.unit_of_work() as session:
        new = service.rotate(
            session, secret=runtime.secret, key_id=key_id, grace_seconds=600, actor=admin, now=now
        )
    new_key = new.key.get_secret_value()
    assert new_key != old_key
    inside = now + timedelta(seconds=599)
    after = now + timedelta(seconds=600)
    assert authenticate(runtime, old_key, now=inside).name == "bob"
    assert authenticate(runtime, new_key, now=inside).scopes == frozenset({"registry:read"})
    with pytest.raises(Unauthorized, match="expired"):
        authenticate(runtime, old_key, now=after)
    assert authenticate(runtime, new_key, now=after + timedelta(days=30)).name == "bob"


def test_an_expired_key_is_not_rotated_into_a_successor_born_expired(
    runtime: Runtime, admin: Principal
) -> None:
    expires = utcnow() + timedelta(hours=1)
    key_id, _ = issue(runtime, admin, expires_at=expires)
    refusal = pytest.raises(Conflict, match=r"expired.*`mlgate keys create`")
    with runtime.db.unit_of_work() as session, refusal:
        service.rotate(
            session,
            secret=runtime.secret,
            key_id=key_id,
            grace_seconds=600,
            actor=admin,
            now=expires,
        )
    with runtime.db.unit_of_work() as session:
        keys = service.get_all(session)
    assert [(k.id, k.successor_id) for k in keys] == [(key_id, None)]


def test_non_admin_cannot_grant_scopes_it_does_not_hold(runtime: Runtime) -> None:
    holder = Principal(name="carol", scopes=frozenset({"registry:read"}))
    key_in = ApiKeyCreate(name="x", owner="carol", scopes=[Scope.ADMIN])
    with runtime.db.unit_of_work() as session, pytest.raises(Forbidden):
        service.create(session, secret=runtime.secret, key_in=key_in, actor=holder)


def test_database_holds_no_usable_key_material(runtime: Runtime, admin: Principal) -> None:
    keys = [issue(runtime, admin)[1] for _ in range(3)]
    with runtime.db.engine.connect() as connection:
        dump = " ".join(
            str(value)
            for table in ("api_keys", "audit_entries")
            for row in connection.execute(text(f"SELECT * FROM {table}"))
            for value in row
        )
    for key in keys:
        body = key.removeprefix("mlg_").rsplit("_", 1)[0]
        assert key not in dump
        assert body[8:] not in dump  # only the public 8-character lookup prefix is stored


def test_last_used_at_is_recorded(runtime: Runtime, admin: Principal) -> None:
    key_id, key = issue(runtime, admin)
    authenticate(runtime, key)
    with runtime.db.unit_of_work() as session:
        assert service.get(session, key_id=key_id).last_used_at is not None


def test_use_reported_by_the_gateway_is_kept_to_a_minutes_resolution(
    runtime: Runtime, admin: Principal
) -> None:
    key_id, _ = issue(runtime, admin)
    first = utcnow()
    with runtime.db.unit_of_work() as session:
        service.mark_used(session, key_ids=[key_id], now=first)
    with runtime.db.unit_of_work() as session:  # within the minute: not rewritten
        service.mark_used(session, key_ids=[key_id], now=first + timedelta(seconds=30))
    with runtime.db.unit_of_work() as session:
        assert service.get(session, key_id=key_id).last_used_at == first
    later = first + service.LAST_USED_RESOLUTION
    with runtime.db.unit_of_work() as session:
        service.mark_used(session, key_ids=[key_id, "no-such-key"], now=later)
    with runtime.db.unit_of_work() as session:
        assert service.get(session, key_id=key_id).last_used_at == later
