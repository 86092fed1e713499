"""The UI's two forms (sign in, sign out) as browsers post them, and refuse them from elsewhere.

Browsers describe a form post's origin in ``Sec-Fetch-Site`` and ``Origin``; the page's own
``Referrer-Policy`` decides whether that Origin is the site or ``null`` (no-referrer: null).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mlgate.web.session import COOKIE
from tests.conftest import KeyFactory

SAME_ORIGIN_POST = {"Sec-Fetch-Site": "same-origin", "Origin": "null"}


@pytest.mark.parametrize("page", ["/ui/login", "/ui/"])
def test_pages_let_browsers_name_this_site_as_the_origin_of_their_form_posts(
    client: TestClient, make_key: KeyFactory, page: str
) -> None:
    client.post("/ui/login", data={"key": make_key("admin")})
    # With "no-referrer", browsers send "Origin: null" on the page's own form posts.
    assert client.get(page).headers["referrer-policy"] == "same-origin"


def test_a_browser_signs_in_and_out_through_the_pages_own_forms(
    client: TestClient, make_key: KeyFactory
) -> None:
    key = make_key("admin")
    signed_in = client.post(
        "/ui/login",
        data={"key": key, "next": "/ui/models"},
        headers=SAME_ORIGIN_POST,
        follow_redirects=False,
    )
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"] == "/ui/models"
    assert client.get("/ui/", follow_redirects=False).status_code == 200

    signed_out = client.post("/ui/logout", headers=SAME_ORIGIN_POST, follow_redirects=False)
    assert signed_out.status_code == 303
    assert COOKIE not in client.cookies
    assert client.get("/ui/", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://testserver:8080"},
        # A page that claims this host but the browser knows is another site.
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"},
        # A sandboxed frame (or an old browser on a no-referrer page): an opaque origin.
        {"Origin": "null"},
    ],
    ids=["cross-site", "same-site-other-port", "cross-site-claiming-this-host", "opaque"],
)
def test_a_form_post_from_another_site_is_refused(
    client: TestClient, make_key: KeyFactory, headers: dict[str, str]
) -> None:
    answer = client.post(
        "/ui/login", data={"key": make_key("admin")}, headers=headers, follow_redirects=False
    )
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers
    client.post("/ui/login", data={"key": make_key("admin")})
    assert client.post("/ui/logout", headers=headers, follow_redirects=False).status_code == 403
    assert client.get("/ui/", follow_redirects=False).status_code == 200
