"""Web UI sessions live in the store: sign-out ends one there, for every copy of its cookie.

A cookie value is replayed the way a stolen one would be: cleared from the client's jar and set
again by hand, with no help from the browser that signed out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from mlgate.auth import service as auth
from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.errors import Unauthorized
from mlgate.runtime import Runtime
from mlgate.store.metadata import load_metadata
from mlgate.web.models import WebSession
from mlgate.web.session import (
    COOKIE,
    SESSION_SECONDS,
    SessionCookie,
    SessionSigner,
    end_session,
    purge_expired,
    session_key,
    start_session,
)
from tests.conftest import KeyFactory
from tests.web.test_pages import key_id_of

ADMIN = Principal(name="alice", scopes=frozenset({"admin"}))
PAGE = "/ui/models"


def sign_in(client: TestClient, key: str) -> str:
    """Sign in as a fresh browser would; the session's cookie value (the jar keeps it too)."""
    client.cookies.clear()
    answer = client.post("/ui/login", data={"key": key}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return client.cookies[COOKIE]


def page_with(client: TestClient, cookie: str) -> int:
    """The status of a page requested with exactly this cookie value."""
    client.cookies.clear()
    client.cookies.set(COOKIE, cookie)
    return client.get(PAGE, follow_redirects=False).status_code


def sign_out_with(client: TestClient, cookie: str) -> None:
    client.cookies.clear()
    client.cookies.set(COOKIE, cookie)
    answer = client.post("/ui/logout", follow_redirects=False)
    assert answer.status_code == 303
    assert f'{COOKIE}=""' in answer.headers["set-cookie"]  # and the browser forgets it


def stored_sessions(runtime: Runtime) -> int:
    with runtime.db.read_only() as session:
        return int(session.scalar(select(func.count()).select_from(WebSession)) or 0)


def test_a_cookie_copied_before_sign_out_is_refused_after_it(
    client: TestClient, make_key: KeyFactory
) -> None:
    copied = sign_in(client, make_key("registry:read"))
    assert page_with(client, copied) == 200
    sign_out_with(client, copied)
    client.cookies.set(COOKIE, copied)
    answer = client.get(PAGE, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login?next=%2Fui%2Fmodels"
    assert f'{COOKIE}=""' in answer.headers["set-cookie"]  # the refused copy is forgotten


def test_sign_out_from_another_site_ends_nothing(client: TestClient, make_key: KeyFactory) -> None:
    cookie = sign_in(client, make_key("registry:read"))
    forged = client.post(
        "/ui/logout", headers={"Sec-Fetch-Site": "cross-site"}, follow_redirects=False
    )
    assert forged.status_code == 403
    assert page_with(client, cookie) == 200


def test_two_sessions_of_one_key_are_independent(
    client: TestClient, make_key: KeyFactory, runtime: Runtime
) -> None:
    key = make_key("registry:read")
    laptop, phone = sign_in(client, key), sign_in(client, key)
    assert laptop != phone
    assert stored_sessions(runtime) == 2
    sign_out_with(client, laptop)
    assert page_with(client, laptop) == 303
    assert page_with(client, phone) == 200
    sign_out_with(client, laptop)  # again: nothing left to end, and no error
    assert page_with(client, phone) == 200
    assert stored_sessions(runtime) == 1


def test_revoking_the_key_ends_every_one_of_its_sessions(
    client: TestClient, make_key: KeyFactory, runtime: Runtime
) -> None:
    key, other = make_key("registry:read"), make_key("registry:read")
    first, second = sign_in(client, key), sign_in(client, key)
    bystander = sign_in(client, other)
    with runtime.db.unit_of_work() as session:
        auth.revoke(session, key_id=key_id_of(runtime, key), actor=ADMIN)
    assert page_with(client, first) == 303
    assert page_with(client, second) == 303
    assert page_with(client, bystander) == 200


def test_an_altered_or_forged_cookie_is_refused(
    client: TestClient, make_key: KeyFactory, runtime: Runtime
) -> None:
    genuine = sign_in(client, make_key("admin"))
    token, expires, signature = genuine.split(".")
    altered = ("B" if token[0] == "A" else "A") + token[1:]
    later = SessionCookie(token=token, expires_at=utcnow() + timedelta(hours=1))
    refused = {
        "altered token": f"{altered}.{expires}.{signature}",
        "extended": f"{token}.{int(expires) + 3600}.{signature}",
        "altered signature": f"{token}.{expires}.{signature[::-1]}",
        "another server's signature": SessionSigner(b"another secret").issue(later),
        # Signed with this server's secret (as after a secret leak) but never started.
        "no such session": SessionSigner(runtime.secret).issue(
            SessionCookie(token="A" * 43, expires_at=later.expires_at)
        ),
        "token only": token,
        "empty": "",
    }
    for name, cookie in refused.items():
        assert page_with(client, cookie) == 303, name
    client.cookies.clear()
    not_ascii = f"{COOKIE}={token}.{expires}.\xe9".encode("latin-1")  # compare_digest raised
    answer = client.get("/ui/models", headers={"cookie": not_ascii}, follow_redirects=False)
    assert answer.status_code == 303
    assert page_with(client, genuine) == 200


def test_a_cookie_of_the_first_format_sends_its_holder_to_sign_in(
    client: TestClient, make_key: KeyFactory, runtime: Runtime
) -> None:
    """``key_id.expiry.signature`` under purpose v1, as the UI issued it before sessions."""
    key_id = key_id_of(runtime, make_key("admin"))
    v1_key = hmac.new(runtime.secret, b"mlgate web ui session v1", hashlib.sha256).digest()
    payload = f"{key_id}.{int(utcnow().timestamp()) + SESSION_SECONDS}"
    digest = hmac.new(v1_key, payload.encode(), hashlib.sha256).digest()
    old = f"{payload}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"
    client.cookies.set(COOKIE, old)
    answer = client.get(PAGE, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login?next=%2Fui%2Fmodels"
    assert f'{COOKIE}=""' in answer.headers["set-cookie"]
    sign_out_with(client, old)  # signing out with one is no error either


def test_the_store_keeps_a_hash_of_the_token_never_the_token(
    client: TestClient, make_key: KeyFactory, runtime: Runtime
) -> None:
    key = make_key("registry:read")
    token = sign_in(client, key).split(".")[0]
    with runtime.db.read_only() as session:
        row = session.scalars(select(WebSession)).one()
    assert row.id == hashlib.sha256(token.encode()).hexdigest()
    assert row.key_id == key_id_of(runtime, key)
    assert token not in repr(row)
    assert row.expires_at - row.created_at <= timedelta(seconds=SESSION_SECONDS)


def test_a_session_ends_when_its_time_is_up_in_the_store_too(
    make_key: KeyFactory, runtime: Runtime
) -> None:
    key_id = key_id_of(runtime, make_key("registry:read"))
    now = utcnow()
    with runtime.db.unit_of_work() as session:
        cookie = start_session(session, key_id=key_id, now=now)
    signer = SessionSigner(runtime.secret)
    value = signer.issue(cookie)
    ends = now + timedelta(seconds=SESSION_SECONDS)
    assert signer.token(value, now=ends - timedelta(seconds=2)) == cookie.token
    assert signer.token(value, now=ends + timedelta(seconds=1)) is None
    with runtime.db.unit_of_work() as session:
        before = ends - timedelta(seconds=2)
        assert session_key(session, token=cookie.token, now=before) == key_id
        with pytest.raises(Unauthorized, match="sign in again"):
            session_key(session, token=cookie.token, now=ends + timedelta(seconds=1))
        assert end_session(session, token=cookie.token)
        assert not end_session(session, token=cookie.token)
        with pytest.raises(Unauthorized, match="sign in again"):
            session_key(session, token=cookie.token, now=before)


def test_purge_removes_expired_sessions_and_only_them(
    make_key: KeyFactory, runtime: Runtime
) -> None:
    key_id = key_id_of(runtime, make_key("registry:read"))
    now = utcnow()
    with runtime.db.unit_of_work() as session:
        # Newest first: each start purges what had expired at its own ``now``.
        live = start_session(session, key_id=key_id, now=now - timedelta(hours=7))
        stale = [
            start_session(session, key_id=key_id, now=now - timedelta(hours=hours))
            for hours in (9, 30, 24 * 40)
        ]
    assert stored_sessions(runtime) == 4
    with runtime.db.unit_of_work() as session:
        assert purge_expired(session, now=now) == 3
        assert purge_expired(session, now=now) == 0
        assert session_key(session, token=live.token, now=now) == key_id
        for cookie in stale:
            with pytest.raises(Unauthorized):
                session_key(session, token=cookie.token, now=now - timedelta(days=50))
    assert stored_sessions(runtime) == 1


def test_signing_in_purges_every_expired_session(
    client: TestClient, make_key: KeyFactory, runtime: Runtime
) -> None:
    retired = key_id_of(runtime, make_key("registry:read"))  # never signs in again
    with runtime.db.unit_of_work() as session:
        start_session(session, key_id=retired, now=utcnow() - timedelta(hours=9))
        start_session(session, key_id=retired, now=utcnow() - timedelta(days=3))  # older
    assert stored_sessions(runtime) == 2
    sign_in(client, make_key("registry:read"))
    assert stored_sessions(runtime) == 1  # the new one


def test_the_migration_creates_web_sessions_as_the_model_declares(runtime: Runtime) -> None:
    with runtime.db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, load_metadata())
    assert [d for d in differences if "web_sessions" in repr(d)] == []


def test_a_signed_cookie_carries_the_sessions_end_to_the_second() -> None:
    signer = SessionSigner(b"s" * 32)
    ends = datetime(2031, 5, 1, 12, 0, 0, tzinfo=UTC)
    value = signer.issue(SessionCookie(token="t" * 43, expires_at=ends))
    assert value.split(".")[1] == str(int(ends.timestamp()))
    assert signer.token(value, now=ends - timedelta(seconds=1)) == "t" * 43
    assert signer.token(value, now=ends) is None
    assert "t" * 43 not in repr(SessionCookie(token="t" * 43, expires_at=ends))


def test_signing_in_again_ends_the_session_the_browser_had(
    client: TestClient, make_key: KeyFactory
) -> None:
    first = sign_in(client, make_key("admin"))
    client.cookies.set(COOKIE, first)  # the browser still sends it as it signs in again
    second = client.post("/ui/login", data={"key": make_key("admin")}, follow_redirects=False)
    assert second.status_code == 303
    assert page_with(client, first) == 303  # a copy of the old cookie opens nothing
    assert page_with(client, second.cookies[COOKIE]) == 200


def test_a_sign_out_the_store_cannot_record_still_forgets_the_cookie(
    client: TestClient, make_key: KeyFactory, runtime: Runtime
) -> None:
    cookie = sign_in(client, make_key("admin"))
    with runtime.db.unit_of_work() as session:
        session.execute(text("DROP TABLE web_sessions"))  # the store fails the sign-out
    client.cookies.set(COOKIE, cookie)
    answer = client.post("/ui/logout", follow_redirects=False)
    assert answer.status_code == 503
    assert "text/html" in answer.headers["content-type"]
    assert f'{COOKIE}=""' in answer.headers["set-cookie"]


def test_a_nul_in_a_page_address_is_no_server_error(
    client: TestClient, make_key: KeyFactory
) -> None:
    sign_in(client, make_key("admin"))
    answer = client.get("/ui/models/a%00b")  # PostgreSQL cannot compare text holding NUL
    assert answer.status_code in (404, 422)  # 404 on SQLite, which can
    assert "text/html" in answer.headers["content-type"]
