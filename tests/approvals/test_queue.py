"""A reviewer's queue, a page at a time: oldest request first, each item once, only theirs.

It returned the whole queue in one answer (filtered in Python after loading every pending
request), so a long queue was slow to load and could not be paged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from mlgate.app import create_app
from mlgate.approvals import service
from mlgate.approvals.schemas import PolicyDocument
from mlgate.auth.schemas import Principal
from mlgate.errors import Conflict, Forbidden
from mlgate.runtime import Runtime
from mlgate.web.pages import LIST_PAGE
from tests.approvals.conftest import (
    REQUESTER,
    THREE_STAGES,
    VersionFactory,
    as_key,
    reviewer,
    simple_policy,
)
from tests.conftest import KeyFactory, bearer
from tests.integration.conftest import start_server

T0 = datetime(2030, 1, 1, tzinfo=UTC)
DANA = reviewer("dana", "data", "security")  # the key under test has the same owner and groups
FULL_WIDTH_DANA = "\uff24\uff41\uff4e\uff41 "  # NFKC-folded and trimmed, still dana


@pytest.fixture
def api(runtime: Runtime, make_key: KeyFactory) -> Iterator[httpx.Client]:
    """dana's client of a real server on a loopback port."""
    live, thread = start_server(create_app(runtime=runtime))
    key = make_key("approvals:review", owner="dana", groups=("data", "security"))
    try:
        with httpx.Client(base_url=live.url, headers=bearer(key)) as client:
            yield client
    finally:
        live.server.should_exit = True
        thread.join(timeout=10)


def _request(
    runtime: Runtime,
    ref: tuple[str, int],
    minute: int,
    *,
    requester: Principal = REQUESTER,
    approvers: tuple[Principal, ...] = (),
) -> str:
    """Open a review requested at T0 + ``minute``; each approver then approves the open stage."""
    with runtime.db.unit_of_work() as session:
        request_id = service.request_review(
            session,
            model_name=ref[0],
            version=ref[1],
            requester=requester,
            now=T0 + timedelta(minutes=minute),
        ).id
        for approver in approvers:
            service.approve(session, request_id=request_id, reviewer=approver, comment="ok")
    return request_id


def _pages(api: httpx.Client, limit: int) -> list[dict[str, Any]]:
    pages, offset = [], 0
    for _ in range(100):  # bounded: a queue that never ends fails the test
        answer = api.get("/api/v1/reviews/queue", params={"limit": limit, "offset": offset})
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        offset += limit
        if offset >= pages[-1]["total"]:
            return pages
    raise AssertionError("the queue did not end")


def test_pages_cover_the_queue_once_oldest_request_first(
    runtime: Runtime, make_version: VersionFactory, api: httpx.Client
) -> None:
    # Requested in another order than created; two at the same minute, ordered by id.
    minutes = [5, 1, 3, 3, 0, 4, 2]
    made = [(minute, _request(runtime, make_version(), minute)) for minute in minutes]
    expected = [request_id for _, request_id in sorted(made)]

    pages = _pages(api, limit=3)

    assert [[r["id"] for r in page["items"]] for page in pages] == [
        expected[0:3],
        expected[3:6],
        expected[6:],
    ]
    assert [(p["total"], p["limit"], p["offset"]) for p in pages] == [
        (7, 3, 0),
        (7, 3, 3),
        (7, 3, 6),
    ]
    beyond = api.get("/api/v1/reviews/queue", params={"offset": 7}).json()
    assert (beyond["items"], beyond["total"]) == ([], 7)
    default = api.get("/api/v1/reviews/queue").json()
    assert (default["limit"], default["offset"], len(default["items"])) == (50, 0, 7)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "query.limit"),
        ({"limit": service.MAX_PAGE + 1}, "query.limit"),
        ({"offset": -1}, "query.offset"),
    ],
)
def test_paging_out_of_bounds_is_a_422_naming_the_field(
    api: httpx.Client, params: dict[str, int], field: str
) -> None:
    answer = api.get("/api/v1/reviews/queue", params=params)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == [field]


def test_a_full_page_is_allowed(
    runtime: Runtime, make_version: VersionFactory, api: httpx.Client
) -> None:
    _request(runtime, make_version(), 0)
    answer = api.get("/api/v1/reviews/queue", params={"limit": service.MAX_PAGE})
    assert answer.status_code == 200
    assert answer.json()["total"] == 1


def test_every_page_holds_only_what_the_reviewer_may_decide(
    runtime: Runtime, make_version: VersionFactory, api: httpx.Client
) -> None:
    dan, sam = reviewer("dan", "data"), reviewer("sam", "security")
    same_reviewer_ok = simple_policy(
        ("data", ["data"], []), ("sec", ["security"], []), allow_same=True
    )
    fairness_only = simple_policy(("fairness", ["fairness"], []))
    deploy_scope = PolicyDocument.model_validate(
        {"stages": [{"name": "ops", "reviewer_scope": "deploy"}]}
    )
    anyone = simple_policy(("any", [], []))

    def version(doc: PolicyDocument = THREE_STAGES) -> tuple[str, int]:
        return make_version(policy_doc=doc)

    mine = [
        _request(runtime, version(), 0),  # data review: dana's group
        _request(runtime, version(), 3, approvers=(dan,)),  # security review, data by dan
        _request(runtime, version(), 5, approvers=(dan, sam)),  # final approval, any reviewer
        _request(runtime, version(same_reviewer_ok), 7, approvers=(DANA,)),  # policy allows it
        _request(runtime, version(), 9),
    ]
    not_mine = [
        _request(runtime, version(), 1, approvers=(DANA,)),  # she approved the data review
        _request(runtime, version(), 2, approvers=(reviewer("DANA", "data"),)),  # so did she
        _request(runtime, version(), 4, approvers=(DANA, sam)),  # final: one stage was hers
        _request(runtime, version(), 6, requester=reviewer(FULL_WIDTH_DANA)),  # hers
        _request(runtime, version(fairness_only), 8),  # not her group
        _request(runtime, version(deploy_scope), 10),  # not her scope
        _request(runtime, version(anyone), 11, approvers=(dan,)),  # approved: nothing to decide
    ]
    changes = _request(runtime, version(), 12)
    with runtime.db.unit_of_work() as session:
        service.request_changes(session, request_id=changes, reviewer=dan, comment="fix")
    not_mine.append(changes)

    for limit in (1, 2, 3):
        pages = _pages(api, limit)
        assert [p["total"] for p in pages] == [len(mine)] * len(pages)
        assert [len(p["items"]) for p in pages][:-1] == [limit] * (len(pages) - 1)  # none short
        assert [r["id"] for p in pages for r in p["items"]] == mine
    with runtime.db.unit_of_work() as session:
        for request_id in not_mine:  # the rules the decisions enforce agree with the queue
            with pytest.raises((Forbidden, Conflict)):
                service.approve(session, request_id=request_id, reviewer=DANA, comment="x")


def test_cli_queue_pages_and_says_in_the_title_when_more_remain(
    cli_env: None,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    make_key: KeyFactory,
    make_version: VersionFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    refs = [make_version() for _ in range(3)]
    for minute, ref in enumerate(refs):
        _request(runtime, ref, minute)
    dana = make_key("approvals:review", owner="dana", groups=("data",))
    capsys.readouterr()

    def queue(*options: str) -> tuple[list[str], str]:
        assert as_key(monkeypatch, dana, "review", "queue", *options) == 0
        out = " ".join(capsys.readouterr().out.split())
        return re.findall(r"(m-[0-9a-f]{10}@\d+)", out), out

    shown, out = queue("--limit", "2")
    assert shown == [f"{n}@{v}" for n, v in refs[:2]]
    assert "review queue of dana (3; more with --offset 2)" in out
    shown, out = queue("--limit", "2", "--offset", "2")
    assert shown == [f"{n}@{v}" for n, v in refs[2:]]
    assert "review queue of dana (3)" in out
    assert as_key(monkeypatch, dana, "review", "queue", "--limit", "1", "--json") == 0
    page = json.loads(capsys.readouterr().out)
    assert (page["total"], page["limit"], len(page["items"])) == (3, 1, 1)
    for bad in ("0", str(service.MAX_PAGE + 1)):
        assert as_key(monkeypatch, dana, "review", "queue", "--limit", bad) == 2
        assert "--limit" in capsys.readouterr().err


def test_the_web_page_shows_the_oldest_of_a_long_queue_and_says_more_exist(
    runtime: Runtime, make_key: KeyFactory, make_version: VersionFactory
) -> None:
    name, _ = make_version()
    first = _request(runtime, (name, 1), 0)
    for minute in range(1, LIST_PAGE + 1):
        _request(runtime, make_version(name), minute)
    live, thread = start_server(create_app(runtime=runtime))
    key = make_key("approvals:review", owner="dana", groups=("data",))
    try:
        with httpx.Client(base_url=live.url) as browser:
            signed_in = browser.post("/ui/login", data={"key": key, "next": ""})
            assert signed_in.status_code == 303, signed_in.text
            page = browser.get("/ui/reviews").text
    finally:
        live.server.should_exit = True
        thread.join(timeout=10)
    queue = page.split('<ul class="queue">')[1].split("</ul>")[0]
    assert queue.count("<li>") == LIST_PAGE
    assert f"/ui/reviews/{first}" in queue
    assert f"The oldest {LIST_PAGE} of {LIST_PAGE + 1}" in page
    assert f"mlgate review queue --offset {LIST_PAGE}" in page
