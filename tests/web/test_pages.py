"""The web UI: sign-in with a key, a session cookie, scoped read-only pages, escaped content.

Sessions in the store (sign-out, copies of a cookie, purging) are pinned in test_sessions.py.
"""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from mlgate.approvals import policy
from mlgate.approvals import service as approvals
from mlgate.approvals.schemas import PolicyDocument, StagePolicy
from mlgate.audit import service as audit
from mlgate.auth import service as auth
from mlgate.auth.schemas import Principal
from mlgate.cards import service as cards
from mlgate.cards.schemas import ModelCard
from mlgate.clock import utcnow
from mlgate.errors import Unauthorized
from mlgate.gateway import service as routes
from mlgate.gateway.schemas import RouteCreate
from mlgate.incidents.opening import open_incident
from mlgate.incidents.schemas import IncidentCreate, Severity
from mlgate.monitoring import service as monitoring
from mlgate.monitoring.schemas import DriftReferenceCreate
from mlgate.registry import service as registry
from mlgate.registry.schemas import ModelCreate, VersionCreate
from mlgate.runtime import Runtime
from mlgate.web.session import COOKIE, SessionCookie, SessionSigner
from tests.conftest import KeyFactory

ADMIN = Principal(name="alice", scopes=frozenset({"admin"}))
REVIEWER = Principal(name="rita", scopes=frozenset({"approvals:review"}))
HOSTILE = '<script>alert("x")</script>'
PAGES = {  # page -> the scope it needs
    "/ui/models": "registry:read",
    "/ui/models/churn": "registry:read",
    "/ui/models/churn/1/card": "registry:read",
    "/ui/models/churn/1/readiness": "readiness:read",
    "/ui/reviews": "approvals:request",
    "/ui/routes": "routes:read",
    "/ui/routes/churn-api/traffic": "routes:read",
    "/ui/routes/churn-api/drift": "routes:read",
    "/ui/incidents": "incidents:read",
    "/ui/incidents/1": "incidents:read",
    "/ui/incidents/1/postmortem": "incidents:read",
    "/ui/audit": "audit:read",
}


@pytest.fixture
def seeded(runtime: Runtime) -> str:
    """churn (a hostile description): version 1 approved, carded, with a drift reference, and
    routed through an upstream whose URL holds a password, version 2 under review; an incident.
    Returns the review's id."""
    with runtime.db.unit_of_work() as session:
        registry.create_model(
            session, model_in=ModelCreate(name="churn", description=HOSTILE), actor=ADMIN
        )
        policy.set_policy(
            session,
            subject="churn",
            actor=ADMIN,
            document=PolicyDocument(stages=[StagePolicy(name="review")]),
        )
        for version in (1, 2):
            registry.register_version(
                session,
                blobs=runtime.blobs,
                model_name="churn",
                actor=ADMIN,
                version_in=VersionCreate(framework="http", git_commit="abc123def4567890"),
                uploads=[
                    registry.ArtifactUpload(name="m.bin", stream=io.BytesIO(b"w%d" % version))
                ],
                max_bytes=1 << 20,
            )
        first = approvals.request_review(session, model_name="churn", version=1, requester=ADMIN)
        approvals.approve(session, request_id=first.id, reviewer=REVIEWER, comment="fine")
        card = ModelCard.model_validate({"model_details": {"name": "churn " + HOSTILE}})
        cards.set_card(session, model_name="churn", version=1, card=card, actor=ADMIN)
        upstream = {"url": "http://models.internal:9000/x?token=s3cret-pass"}
        route = {
            "name": "churn-api",
            "model": "churn",
            "primary": {"model": "churn", "version": 1, "upstream": upstream},
        }
        routes.create_route(session, actor=ADMIN, route_in=RouteCreate.model_validate(route))
        reference = DriftReferenceCreate(columns=[HOSTILE], rows=[[i % 10] for i in range(200)])
        monitoring.set_reference(
            session, model_name="churn", version=1, reference_in=reference, actor=ADMIN
        )
        second = approvals.request_review(session, model_name="churn", version=2, requester=ADMIN)
        open_incident(
            session,
            incident_in=IncidentCreate(title="Latency " + HOSTILE, severity=Severity.SEV2),
            actor=ADMIN,
            threshold_minutes=60,
        )
    return second.id


def sign_in(client: TestClient, key: str, next_page: str = "") -> None:
    answer = client.post("/ui/login", data={"key": key, "next": next_page}, follow_redirects=False)
    assert answer.status_code == 303, answer.text


def key_id_of(runtime: Runtime, key: str) -> str:
    with runtime.db.unit_of_work() as session:
        key_id = auth.authenticate(session, secret=runtime.secret, presented=key).key_id
    assert key_id is not None
    return key_id


def test_every_page_sends_a_visitor_without_a_session_to_sign_in(client: TestClient) -> None:
    for page in ["/ui/", *PAGES]:
        answer = client.get(page, follow_redirects=False)
        assert answer.status_code == 303, page
        assert answer.headers["location"].startswith("/ui/login?next=%2Fui%2F"), page
    assert client.get("/", follow_redirects=False).headers["location"] == "/ui/"


def test_sign_in_keeps_a_signed_cookie_that_neither_holds_nor_names_the_key(
    client: TestClient, make_key: KeyFactory, runtime: Runtime
) -> None:
    key = make_key("registry:read", owner="bob")
    answer = client.post(
        "/ui/login", data={"key": key, "next": "/ui/models"}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/models"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    for flag in ("HttpOnly", "Path=/ui", "SameSite=strict", "Max-Age=28800"):
        assert flag.lower() in cookie.lower(), flag
    value = client.cookies[COOKIE]
    assert key not in value
    assert key.split("_")[1] not in value
    assert key_id_of(runtime, key) not in value
    page = client.get("/ui/")
    assert page.status_code == 200
    assert "bob" in page.text
    assert "registry:read" in page.text


def test_a_wrong_key_is_refused_with_the_reason_and_no_cookie(
    client: TestClient, make_key: KeyFactory
) -> None:
    key = make_key("registry:read")
    typo = key[:-1] + ("A" if key[-1] != "A" else "B")
    answer = client.post("/ui/login", data={"key": typo}, follow_redirects=False)
    assert answer.status_code == 401
    assert "checksum" in answer.text
    assert typo not in answer.text
    assert "set-cookie" not in answer.headers


def test_a_forged_or_expired_cookie_is_no_session(
    client: TestClient, make_key: KeyFactory, runtime: Runtime
) -> None:
    sign_in(client, make_key("admin"))
    genuine = client.cookies[COOKIE]
    token, expires, signature = genuine.split(".")
    in_1970 = SessionCookie(token=token, expires_at=datetime.fromtimestamp(3600, UTC))

    def page_with(cookie: str) -> int:
        client.cookies.clear()
        client.cookies.set(COOKIE, cookie)
        return client.get("/ui/models", follow_redirects=False).status_code

    assert page_with(genuine) == 200
    assert page_with(f"{token}.{int(expires) + 3600}.{signature}") == 303  # extended
    assert page_with(SessionSigner(runtime.secret).issue(in_1970)) == 303
    in_an_hour = SessionCookie(token=token, expires_at=utcnow() + timedelta(hours=1))
    assert page_with(SessionSigner(b"another server's secret").issue(in_an_hour)) == 303
    assert page_with(token) == 303
    assert page_with(genuine) == 200  # none of these ended the genuine session


def test_revoking_or_expiring_the_key_ends_its_session(
    client: TestClient, make_key: KeyFactory, runtime: Runtime
) -> None:
    key = make_key("registry:read")
    sign_in(client, key)
    assert client.get("/ui/models").status_code == 200
    key_id = key_id_of(runtime, key)
    with runtime.db.unit_of_work() as session:
        auth.revoke(session, key_id=key_id, actor=ADMIN)
    answer = client.get("/ui/models", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/ui/login")
    assert f'{COOKIE}=""' in answer.headers["set-cookie"]  # forgotten

    soon = utcnow() + timedelta(seconds=1)
    client.cookies.clear()
    expiring = make_key("registry:read", expires_at=soon)
    sign_in(client, expiring)
    key_id = key_id_of(runtime, expiring)
    with runtime.db.unit_of_work() as session:
        expired_at = soon + timedelta(seconds=1)
        with pytest.raises(Unauthorized, match="expired"):
            auth.principal_of_key(session, key_id=key_id, now=expired_at)


def test_each_page_needs_its_scope(client: TestClient, make_key: KeyFactory, seeded: str) -> None:
    sign_in(client, make_key("gateway:invoke"))
    home = client.get("/ui/")
    assert home.status_code == 200
    assert "no page here" in home.text
    for page, scope in PAGES.items():
        answer = client.get(page)
        assert answer.status_code == 403, page
        assert scope in answer.text, page
    client.cookies.clear()
    for page, scope in PAGES.items():
        client.cookies.clear()
        sign_in(client, make_key(scope))
        assert client.get(page).status_code == 200, page


def test_pages_show_what_the_store_holds_escaped(
    client: TestClient, make_key: KeyFactory, seeded: str
) -> None:
    sign_in(client, make_key("admin"))
    pages = {page: client.get(page) for page in PAGES}
    pages["review"] = client.get(f"/ui/reviews/{seeded}")
    for page, answer in pages.items():
        assert answer.status_code == 200, page
        assert HOSTILE not in answer.text, page  # escaped wherever it appears
    assert "&lt;script&gt;" in pages["/ui/models/churn"].text
    assert "&lt;script&gt;" in pages["/ui/models/churn/1/card"].text
    assert "&lt;script&gt;" in pages["/ui/incidents"].text
    assert "ML Test Score" in pages["/ui/models/churn/1/readiness"].text
    model = pages["/ui/models/churn"].text
    for shown in ("in_review", "approved", "abc123def456", "/ui/models/churn/1/card"):
        assert shown in model
    assert "approved" in model
    assert "200 rows" in model  # version 1's drift reference
    assert "Not judged" in pages["/ui/routes/churn-api/drift"].text  # nothing served yet
    assert "churn@2" in pages["/ui/reviews"].text
    review = pages["review"].text
    for shown in ("alice", "Review", "pending"):
        assert shown in review
    decided = client.get("/ui/reviews?state=approved").text
    assert "churn@1" in decided
    assert "churn-api" in pages["/ui/routes"].text
    assert "models.internal:9000" in pages["/ui/routes"].text
    assert "s3cret-pass" not in pages["/ui/routes"].text  # a token in an upstream's query
    assert "model.created" in pages["/ui/audit"].text or "registry" in pages["/ui/audit"].text
    assert client.get("/ui/models/nope").status_code == 404


def test_an_incident_shows_its_timeline_and_postmortem_draft(
    client: TestClient, make_key: KeyFactory, seeded: str
) -> None:
    sign_in(client, make_key("incidents:read"))
    listed = client.get("/ui/incidents").text
    assert 'href="/ui/incidents/1"' in listed
    page = client.get("/ui/incidents/1").text
    assert "SEV2" in page
    assert "alice" in page  # who opened it, on the timeline
    assert "/ui/incidents/1/postmortem" in page
    draft = client.get("/ui/incidents/1/postmortem")
    assert draft.status_code == 200
    assert "&lt;script&gt;" in draft.text
    assert client.get("/ui/incidents/99").status_code == 404


def test_the_audit_page_checks_the_chain_on_request_and_names_a_break(
    client: TestClient, make_key: KeyFactory, runtime: Runtime, seeded: str
) -> None:
    sign_in(client, make_key("audit:read"))
    assert "The chain holds" not in client.get("/ui/audit").text  # not walked unless asked
    held = client.get("/ui/audit?verify=1").text
    assert "The chain holds" in held
    head = re.search(r"--head (\d+):([0-9a-f]{64})", held)  # ready to copy into the CLI
    assert head is not None
    with runtime.db.unit_of_work() as session:
        assert audit.head(session) == (int(head[1]), head[2])
    with runtime.db.engine.begin() as connection:
        connection.execute(text("UPDATE audit_entries SET actor = 'mallory' WHERE seq = 2"))
    broken = client.get("/ui/audit?verify=1").text
    assert "The chain is broken at entry #2" in broken


def test_a_reviewer_sees_what_waits_for_their_decision(
    client: TestClient, make_key: KeyFactory, seeded: str
) -> None:
    sign_in(client, make_key("approvals:review", owner="rita"))
    page = client.get("/ui/reviews").text
    assert "Waiting for your decision" in page
    assert f"/ui/reviews/{seeded}" in page
    client.cookies.clear()
    sign_in(client, make_key("approvals:request", owner="alice"))  # the requester: not theirs
    assert "Waiting for your decision" not in client.get("/ui/reviews").text


def test_pages_forbid_scripts_framing_caching_and_sniffing(
    client: TestClient, make_key: KeyFactory
) -> None:
    sign_in(client, make_key("admin"))
    for page in ("/ui/", "/ui/login", "/ui/models"):
        headers = client.get(page).headers
        assert "script-src" not in headers["content-security-policy"]
        assert "default-src 'none'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"
    assert client.get("/ui/style.css").headers["content-type"].startswith("text/css")


def test_sign_in_from_another_site_or_to_another_site_is_refused(
    client: TestClient, make_key: KeyFactory
) -> None:
    key = make_key("admin")
    forged = client.post(
        "/ui/login",
        data={"key": key},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert "set-cookie" not in forged.headers
    for target in ("https://evil.example/ui/", "//evil.example/ui/", "/api/v1/models", "/\\x"):
        answer = client.post(
            "/ui/login",
            data={"key": key, "next": target},
            headers={"Origin": "http://testserver"},
            follow_redirects=False,
        )
        assert answer.headers["location"] == "/ui/", target


def test_sign_out_forgets_the_session(client: TestClient, make_key: KeyFactory) -> None:
    sign_in(client, make_key("admin"))
    answer = client.post("/ui/logout", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login"
    assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_the_login_form_posts_the_key_and_where_to_go(client: TestClient) -> None:
    form = client.get("/ui/login?next=%2Fui%2Faudit").text
    assert re.search(r'<form method="post" action="/ui/login"', form)
    assert 'name="key" type="password"' in form
    assert 'value="/ui/audit"' in form


def test_a_missing_or_impossible_version_or_incident_is_a_404_page(
    client: TestClient, make_key: KeyFactory
) -> None:
    sign_in(client, make_key("admin"))
    huge = "9" * 25  # past any integer column: it was a 500 (SQLite's OverflowError)
    for page in (
        f"/ui/models/churn/{huge}/card",
        f"/ui/models/churn/{huge}/readiness",
        "/ui/models/churn/7/card",
        f"/ui/incidents/{huge}",
    ):
        answer = client.get(page)
        assert answer.status_code == 404, page
        assert "text/html" in answer.headers["content-type"], page


def test_a_fault_behind_a_page_is_a_500_page_naming_the_request_id(
    client: TestClient, make_key: KeyFactory, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    sign_in(client, make_key("registry:read"))
    with runtime.db.engine.begin() as connection:  # a real fault: the table is gone
        connection.execute(text("ALTER TABLE models RENAME TO models_gone"))
    answer = client.get("/ui/models")
    assert answer.status_code == 500
    assert "text/html" in answer.headers["content-type"]  # our page, not Starlette's bare text
    assert answer.headers["x-request-id"] in answer.text
    assert "Traceback" not in answer.text
    assert "models_gone" not in answer.text
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    # Logged once, with the request's path (the gateway's route table refresh may also fail
    # meanwhile, on its own thread: the table it reads is gone too).
    assert errors.count("internal error") == 1


def test_a_route_whose_upstream_port_is_out_of_range_still_shows_on_the_routes_page(
    client: TestClient, make_key: KeyFactory, runtime: Runtime, seeded: str
) -> None:
    """A route stored before ports were checked: one port past 65535 made the page a 500."""
    with runtime.db.unit_of_work() as session:
        upstream = {"url": "http://models.internal:9999/x?token=s3cret-pass"}
        route = {"name": "odd-port", "model": "churn", "primary": {"model": "churn",
                 "version": 1, "upstream": upstream}}  # fmt: skip
        routes.create_route(session, actor=ADMIN, route_in=RouteCreate.model_validate(route))
    with runtime.db.engine.begin() as connection:  # as an older mlgate stored it
        spec = connection.execute(text("SELECT spec FROM routes WHERE name = 'odd-port'")).scalar()
        spec = json.loads(spec) if isinstance(spec, str) else spec
        spec["primary"]["upstream"]["url"] = "http://models.internal:99999/x?token=s3cret-pass"
        connection.execute(
            text("UPDATE routes SET spec = :spec WHERE name = 'odd-port'"),
            {"spec": json.dumps(spec)},
        )
    sign_in(client, make_key("routes:read"))
    page = client.get("/ui/routes")
    assert page.status_code == 200
    assert "models.internal:99999" in page.text
    assert "s3cret-pass" not in page.text


def test_documents_shown_in_the_ui_may_hold_no_form_or_base(
    client: TestClient, make_key: KeyFactory, seeded: str
) -> None:
    sign_in(client, make_key("admin"))
    for page in ("/ui/models/churn/1/card", "/ui/routes/churn-api/traffic"):
        policy = client.get(page).headers["content-security-policy"]
        assert "form-action 'none'" in policy, page
        assert "base-uri 'none'" in policy, page
        assert "script-src" not in policy, page


def test_the_audit_page_pages_back_to_the_first_entry(
    client: TestClient, make_key: KeyFactory, runtime: Runtime
) -> None:
    with runtime.db.unit_of_work() as session:
        for index in range(120):
            registry.create_model(session, model_in=ModelCreate(name=f"m{index}"), actor=ADMIN)
    sign_in(client, make_key("audit:read", "registry:read"))
    page, seen = client.get("/ui/audit").text, []
    for _ in range(10):  # bounded: 120 entries and the key's own are three pages
        seen += [int(seq) for seq in re.findall(r"<tr><td>(\d+)</td>", page)]
        older = re.search(r'href="(/ui/audit\?before=\d+)">older', page)
        if older is None:
            break
        page = client.get(older.group(1)).text
        assert "newer" in page
    assert seen == list(range(seen[0], 0, -1))  # every entry once, newest first, down to #1
    page, tops = client.get("/ui/audit?before=52").text, []
    for _ in range(10):  # and forward again, a page at a time, up to the newest
        tops.append(int(re.findall(r"<tr><td>(\d+)</td>", page)[0]))
        newer = re.search(r'href="(/ui/audit[^"]*)">← newer', page)
        if newer is None:
            break
        page = client.get(newer.group(1)).text
    assert tops == [51, 101, seen[0]]
    for bad in ("-1", "²", "9" * 5000):  # 5,000 digits: more than int() reads
        assert client.get(f"/ui/audit?before={bad}").status_code == 404
        assert client.get(f"/ui/models?offset={bad}").status_code == 404


def test_the_models_page_pages_past_its_first_two_hundred(
    client: TestClient, make_key: KeyFactory, runtime: Runtime
) -> None:
    with runtime.db.unit_of_work() as session:
        for index in range(201):
            registry.create_model(session, model_in=ModelCreate(name=f"m{index:03}"), actor=ADMIN)
    sign_in(client, make_key("registry:read"))
    first = client.get("/ui/models").text
    assert "/ui/models/m199" in first
    assert "/ui/models/m200" not in first
    following = re.search(r'href="([^"]+)">next', first)
    assert following is not None
    second = client.get(following.group(1).replace("&amp;", "&")).text
    assert "/ui/models/m200" in second
    assert "/ui/models/m000" not in second
    assert '">next' not in second


def test_the_overview_counts_what_waits_exactly(
    client: TestClient, make_key: KeyFactory, seeded: str
) -> None:
    sign_in(client, make_key("admin"))
    home = client.get("/ui/").text
    assert '<span class="count">1</span> pending reviews' in home  # churn@2; churn@1 decided
    assert '<span class="count">1</span> open incidents' in home


def test_an_address_no_page_answers_is_a_page_too(client: TestClient) -> None:
    for method, address, status in (
        ("GET", "/ui/nope", 404),
        ("GET", "/ui/incidents/abc", 404),
        ("POST", "/ui/audit", 405),
        ("GET", "/ui/logout", 405),
    ):
        answer = client.request(method, address)
        assert answer.status_code == status, address
        assert "text/html" in answer.headers["content-type"], address
        assert "default-src 'none'" in answer.headers["content-security-policy"], address
    allowed = client.post("/ui/audit").headers["allow"]
    assert set(allowed.split(", ")) == {"GET", "HEAD"}
    assert "There is no page here." in client.get("/ui/nope").text
