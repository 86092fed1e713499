"""The web UI: read-only pages for people (models, readiness, reviews, routes, incidents, audit).

Mounted at ``/ui`` by the control plane. Sign-in takes an API key once and starts a session in
the store, named by a signed cookie (``session``); sign-out ends it there. Each page needs the
scope its API route needs, checked against the session's and the key's rows on every load.
Pages are rendered server-side by Jinja2 with autoescaping (names, descriptions and comments
come from users) and carry no scripts; the Content-Security-Policy forbids them anyway.
Changes stay with the CLI and the API, where each one is a reviewed, audited call; these pages
show state and who decided it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from mlgate import __version__
from mlgate.approvals import deployments, readmodel
from mlgate.approvals.schemas import RequestState
from mlgate.audit import service as audit
from mlgate.auth import service as auth
from mlgate.auth.deps import nul_is_invalid
from mlgate.auth.schemas import Principal, Scope
from mlgate.cards import service as cards
from mlgate.cards.revisions import RenderFormat
from mlgate.clock import utcnow
from mlgate.errors import MlgateError, NotFound, Unauthorized
from mlgate.gateway import service as routes
from mlgate.ids import MAX_NUMBER, parse_number
from mlgate.incidents import postmortem
from mlgate.incidents import service as incidents
from mlgate.monitoring import drift_page
from mlgate.monitoring.service import build_drift_report, reference_sizes
from mlgate.monitoring.traffic import build_traffic_report, parse_window
from mlgate.netaddr import host_and_port
from mlgate.problems import request_id
from mlgate.readiness.service import assess as assess_readiness
from mlgate.registry import service as registry
from mlgate.runtime import Runtime
from mlgate.web.session import (
    COOKIE,
    SESSION_SECONDS,
    SessionSigner,
    end_session,
    session_key,
    start_session,
)

__all__ = ["create_web_app"]

logger = logging.getLogger(__name__)

PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# Cards, traffic and drift reports are self-contained documents: inline styles and SVG, no
# script; no form or <base> either, so text that slipped past escaping cannot phish for a key.
DOCUMENT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
REVIEW_SCOPES = (Scope.APPROVALS_REQUEST, Scope.APPROVALS_REVIEW)
AUDIT_PAGE = 50
LIST_PAGE = 200
# What the navigation offers, and the scope each page needs.
SECTIONS = (
    ("Models", "/ui/models", Scope.REGISTRY_READ),
    ("Reviews", "/ui/reviews", Scope.APPROVALS_REQUEST),
    ("Routes", "/ui/routes", Scope.ROUTES_READ),
    ("Incidents", "/ui/incidents", Scope.INCIDENTS_READ),
    ("Audit log", "/ui/audit", Scope.AUDIT_READ),
)


@dataclass(frozen=True, slots=True)
class _Shown:
    """What a page handler returns: a template and its values, or a whole document."""

    template: str = ""
    values: dict[str, Any] | None = None
    document: str | None = None


Handler = Callable[[Request, Session, Principal], _Shown]


def create_web_app(runtime: Runtime) -> Starlette:
    signer = SessionSigner(runtime.secret)

    def page(*scopes: str) -> Callable[[Handler], Callable[[Request], Response]]:
        """A page for a signed-in principal holding any one of ``scopes`` (none: any key)."""

        def wrap(handler: Handler) -> Callable[[Request], Response]:
            def endpoint(request: Request) -> Response:
                now = utcnow()
                token = signer.token(request.cookies.get(COOKIE), now=now)
                if token is None:  # none, forged, expired, or of the first format: forget it
                    return _to_sign_in(request, forget=COOKIE in request.cookies)
                principal: Principal | None = None
                try:
                    # The session and its key are checked together, and the key's last use
                    # touched, in their own short unit of work. The page only reads, and never
                    # holds the write lock however long it reads.
                    with runtime.db.unit_of_work() as session:
                        key_id = session_key(session, token=token, now=now)
                        principal = auth.principal_of_key(session, key_id=key_id, now=now)
                    if scopes and not any(principal.has(s) for s in scopes):
                        needed = " or ".join(f"'{s}'" for s in scopes)
                        return _error(403, f"This page needs the {needed} scope.", principal)
                    with nul_is_invalid(), runtime.db.read_only() as session:
                        shown = handler(request, session, principal)
                except Unauthorized:
                    return _to_sign_in(request, forget=True)
                except MlgateError as error:
                    return _error(error.status, error.detail, principal)
                except Exception as error:  # a page, not Starlette's bare text, and one log line
                    logger.error("internal error", exc_info=error, extra={"path": request.url.path})
                    rid = request_id.get()
                    detail = (
                        f"Something went wrong on our side; quote request id {rid} to report it."
                    )
                    return _error(500, detail, principal)
                if shown.document is not None:
                    return _html(shown.document, csp=DOCUMENT_CSP)
                values = {"principal": principal, "sections": _sections(principal)}
                return _html(_render(shown.template, **values, **(shown.values or {})))

            return endpoint

        return wrap

    def sign_in_form(request: Request) -> Response:
        next_page = _safe_next(request.query_params.get("next"))
        return _html(_render("login.html", next=next_page, problem=None))

    async def sign_in(request: Request) -> Response:
        if not _same_origin(request):
            return _error(403, "Sign-in must come from this site's own form.", None)
        form = await request.form()
        key, target = form.get("key"), _safe_next(str(form.get("next") or ""))

        # A session this browser already had ends with the new one: a copy of its cookie
        # must not outlive the sign-in that replaced it.
        previous = signer.token(request.cookies.get(COOKIE))

        def start() -> str:
            """Authenticate the key and start its session: one transaction."""
            with runtime.db.unit_of_work() as session:
                presented = key.strip() if isinstance(key, str) else None
                principal = auth.authenticate(session, secret=runtime.secret, presented=presented)
                assert principal.key_id is not None  # a principal from a key has its id
                if previous is not None:
                    end_session(session, token=previous)
                return signer.issue(start_session(session, key_id=principal.key_id))

        try:
            cookie = await run_in_threadpool(start)
        except Unauthorized as error:  # the reason, never the key
            return _html(_render("login.html", next=target, problem=error.detail), status=401)
        except Exception as error:  # the store is down or locked: a page, not a bare 500
            logger.error("sign-in failed", exc_info=error, extra={"path": request.url.path})
            problem = "Signing in is not possible right now; try again in a moment."
            return _html(_render("login.html", next=target, problem=problem), status=503)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=SESSION_SECONDS,
            path="/ui",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response

    def sign_out(request: Request) -> Response:
        if not _same_origin(request):
            return _error(403, "Sign-out must come from this site's own form.", None)
        # Ended in the store, so the cookie's value stops working wherever it was copied.
        token = signer.token(request.cookies.get(COOKIE))
        if token is not None:
            try:
                with runtime.db.unit_of_work() as session:
                    end_session(session, token=token)
            except Exception as error:  # the browser forgets the cookie all the same
                logger.error("sign-out could not end the session", exc_info=error)
                response = _error(503, "The session could not be ended; sign out again.", None)
                response.delete_cookie(COOKIE, path="/ui")
                return response
        return _to_sign_in(request, forget=True, next_page=False)

    @page()
    def home(request: Request, session: Session, principal: Principal) -> _Shown:
        counts: dict[str, int] = {}
        if principal.has(Scope.REGISTRY_READ):
            counts["models"] = registry.list_models(session, limit=1).total
        if any(principal.has(s) for s in REVIEW_SCOPES):
            pending = readmodel.count_requests(session, state=RequestState.PENDING)
            counts["pending reviews"] = pending
        if principal.has(Scope.ROUTES_READ):
            counts["routes"] = len(routes.get_all(session))
        if principal.has(Scope.INCIDENTS_READ):
            counts["open incidents"] = incidents.count_open(session)
        if principal.has(Scope.AUDIT_READ):
            counts["audit entries"] = audit.head(session)[0]
        return _Shown("home.html", {"counts": counts})

    @page(Scope.REGISTRY_READ)
    def models(request: Request, session: Session, principal: Principal) -> _Shown:
        query = request.query_params.get("q") or None
        offset = _number(request, "offset", default=0)
        found = registry.list_models(session, query=query, limit=LIST_PAGE, offset=offset)
        return _Shown(
            "models.html",
            {"page": found, "query": query or "", "pages": _pages(offset, found.total)},
        )

    @page(Scope.REGISTRY_READ)
    def model(request: Request, session: Session, principal: Principal) -> _Shown:
        name = request.path_params["name"]
        found = registry.get_model(session, name=name)
        versions = registry.list_versions(session, model_name=name, limit=200).items
        return _Shown(
            "model.html",
            {
                "model": found,
                "aliases": deployments.list_aliases(session, model_name=name),
                "versions": versions,
                "carded": _carded(session, name, [v.version for v in versions]),
                "references": reference_sizes(session, model_name=name),
                "readiness": principal.has(Scope.READINESS_READ),
            },
        )

    @page(Scope.REGISTRY_READ)
    def card(request: Request, session: Session, principal: Principal) -> _Shown:
        name, version = request.path_params["name"], _version(request)
        html = cards.render_card(
            session, model_name=name, version=version, format=RenderFormat.HTML
        )
        return _Shown(document=html)

    @page(Scope.READINESS_READ)
    def readiness(request: Request, session: Session, principal: Principal) -> _Shown:
        name, version = request.path_params["name"], _version(request)
        report = assess_readiness(
            session, model=name, version=version, actor=principal, record=False
        )
        return _Shown(document=report.to_html())

    @page(*REVIEW_SCOPES)
    def reviews(request: Request, session: Session, principal: Principal) -> _Shown:
        state = request.query_params.get("state") or RequestState.PENDING.value
        if state not in {s.value for s in RequestState}:
            raise NotFound(f"no review state '{state}'")
        offset = _number(request, "offset", default=0)
        found = readmodel.list_requests(
            session, state=RequestState(state), limit=LIST_PAGE, offset=offset
        )
        total = readmodel.count_requests(session, state=RequestState(state))
        mine = readmodel.queue(session, reviewer=principal, limit=LIST_PAGE)  # the oldest
        return _Shown(
            "reviews.html",
            {
                "requests": found,
                "state": state,
                "states": list(RequestState),
                "mine": mine,
                "pages": _pages(offset, total),
            },
        )

    @page(*REVIEW_SCOPES)
    def review(request: Request, session: Session, principal: Principal) -> _Shown:
        found = readmodel.get(session, request_id=request.path_params["request_id"])
        return _Shown("review.html", {"request": found})

    @page(Scope.ROUTES_READ)
    def route_list(request: Request, session: Session, principal: Principal) -> _Shown:
        return _Shown("routes.html", {"routes": routes.get_all(session)})

    @page(Scope.ROUTES_READ)
    def traffic(request: Request, session: Session, principal: Principal) -> _Shown:
        name = request.path_params["name"]
        routes.get_route(session, name=name)  # 404 for an unknown route
        since, until = parse_window(request.query_params.get("since"), None, now=utcnow())
        report = build_traffic_report(session, route=name, since=since, until=until, buckets=60)
        return _Shown(document=report.to_html())

    @page(Scope.ROUTES_READ)
    def drift(request: Request, session: Session, principal: Principal) -> _Shown:
        name = request.path_params["name"]
        since, until = parse_window(request.query_params.get("since", "24h"), None, now=utcnow())
        report = build_drift_report(session, route=name, since=since, until=until)
        return _Shown(document=drift_page.render(report))

    @page(Scope.INCIDENTS_READ)
    def incident_list(request: Request, session: Session, principal: Principal) -> _Shown:
        found = incidents.get_all(
            session, limit=200, threshold_minutes=runtime.settings.incident_postmortem_minutes
        )
        return _Shown("incidents.html", {"incidents": found})

    def incident_of(request: Request) -> dict[str, Any]:
        """Which incident a page shows, and when it needs a postmortem (the server's rule)."""
        return {
            "ref": str(request.path_params["number"]),
            "threshold_minutes": runtime.settings.incident_postmortem_minutes,
        }

    @page(Scope.INCIDENTS_READ)
    def incident(request: Request, session: Session, principal: Principal) -> _Shown:
        found = incidents.get(session, **incident_of(request))
        return _Shown("incident.html", {"incident": found})

    @page(Scope.INCIDENTS_READ)
    def incident_postmortem(request: Request, session: Session, principal: Principal) -> _Shown:
        draft = postmortem.get_postmortem(session, **incident_of(request))
        return _Shown(document=postmortem.render_html(draft))

    @page(Scope.AUDIT_READ)
    def audit_log(request: Request, session: Session, principal: Principal) -> _Shown:
        last = audit.head(session)[0]
        # A page holds the entries before ``before`` (newest first); none given: the newest.
        top = min(last, _number(request, "before", default=last + 1) - 1)
        after = max(0, top - AUDIT_PAGE)
        entries = audit.get_all(session, after_seq=after, limit=max(1, top - after))
        # The whole chain is walked only when asked: it reads every entry.
        checked = audit.verify(session) if request.query_params.get("verify") else None
        return _Shown(
            "audit.html",
            {
                "entries": [e for e in reversed(entries) if e.seq <= top],
                "total": last,
                "checked": checked,
                "older": after + 1 if after > 0 else None,
                # None: this is the newest page; 0: the next newer one is the newest.
                "newer": None if top >= last else _newer_page(top, last),
            },
        )

    def stylesheet(request: Request) -> Response:
        css = resources.files("mlgate.web").joinpath("static/style.css").read_text()
        return Response(
            css,
            media_type="text/css",
            headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    return Starlette(
        routes=[
            Route("/", home),
            Route("/login", sign_in_form, methods=["GET"]),
            Route("/login", sign_in, methods=["POST"]),
            Route("/logout", sign_out, methods=["POST"]),
            Route("/style.css", stylesheet),
            Route("/models", models),
            Route("/models/{name}", model),
            Route("/models/{name}/{version:int}/card", card),
            Route("/models/{name}/{version:int}/readiness", readiness),
            Route("/reviews", reviews),
            Route("/reviews/{request_id}", review),
            Route("/routes", route_list),
            Route("/routes/{name}/traffic", traffic),
            Route("/routes/{name}/drift", drift),
            Route("/incidents", incident_list),
            Route("/incidents/{number:int}", incident),
            Route("/incidents/{number:int}/postmortem", incident_postmortem),
            Route("/audit", audit_log),
        ],
        exception_handlers={404: _no_such_page, 405: _no_such_page},
    )


def _carded(session: Session, name: str, versions: list[int]) -> set[int]:
    """Which of these versions of ``name`` have a card."""
    shown: set[int] = set()
    for version in versions:
        row = registry.get_version_row(session, model_name=name, version=version)
        if cards.current_card(session, version_id=row.id) is not None:
            shown.add(version)
    return shown


def _sections(principal: Principal) -> list[tuple[str, str]]:
    def allowed(scope: str) -> bool:
        if scope == Scope.APPROVALS_REQUEST:
            return any(principal.has(s) for s in REVIEW_SCOPES)
        return principal.has(scope)

    return [(title, href) for title, href, scope in SECTIONS if allowed(scope)]


def _safe_next(value: str | None) -> str:
    """Where to go after signing in: a page of this UI, never another site."""
    if not value:
        return "/ui/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/ui/") or "\\" in value:
        return "/ui/"
    return value


def _same_origin(request: Request) -> bool:
    """A form post from this site's pages: the browser says so in Sec-Fetch-Site, or (older
    browsers) its Origin, else Referer, names this host.

    A client that sends none of them is no browser, so no other site can be acting through it.
    Pages must not send ``Referrer-Policy: no-referrer``: browsers then send ``Origin: null``
    on the pages' own form posts, and an origin check refuses every sign-in.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site == "same-origin"
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed is None:
        return True
    return urlsplit(claimed).netloc == request.headers.get("host", "")


def _to_sign_in(request: Request, *, forget: bool = False, next_page: bool = True) -> Response:
    target = "/ui/login"
    if next_page:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target += "?next=" + quote(here, safe="")
    response = RedirectResponse(target, status_code=303)
    if forget:
        response.delete_cookie(COOKIE, path="/ui")
    return response


def _newer_page(top: int, last: int) -> int:
    """``before`` of the audit page after the one ending at ``top``; 0: the newest page."""
    return top + AUDIT_PAGE + 1 if top + AUDIT_PAGE < last else 0


def _number(request: Request, name: str, *, default: int) -> int:
    """A paging number from the query: 0 to what the store holds, else the page is a 404."""
    value = request.query_params.get(name)
    if value is None:
        return default
    number = parse_number(value)
    if number is None:
        raise NotFound(f"no page at {name}={value}")
    return number


def _pages(offset: int, total: int) -> dict[str, int | None]:
    """Offsets of the previous and next page of a list of ``total`` shown LIST_PAGE at a time."""
    return {
        "previous": max(0, offset - LIST_PAGE) if offset > 0 else None,
        "next": offset + LIST_PAGE if offset + LIST_PAGE < total else None,
        "first": offset + 1 if total else 0,
        "last": min(total, offset + LIST_PAGE),
    }


def _version(request: Request) -> int:
    """The path's version number; past what the store holds, no such version (not a 500)."""
    version: int = request.path_params["version"]
    if version > MAX_NUMBER:
        raise NotFound(f"version {version} does not exist")
    return version


async def _no_such_page(request: Request, error: Exception) -> Response:
    """An address no page answers (or a method it does not take), as a page, not plain text."""
    status = getattr(error, "status_code", 404)
    detail = "There is no page here." if status == 404 else "This page is not used that way."
    response = _error(status, detail, None)
    response.headers.update(getattr(error, "headers", None) or {})  # 405's Allow
    return response


def _error(status: int, detail: str, principal: Principal | None) -> Response:
    sections = _sections(principal) if principal is not None else []
    body = _render(
        "error.html", status=status, detail=detail, principal=principal, sections=sections
    )
    return _html(body, status=status)


def _html(body: str, *, status: int = 200, csp: str = PAGE_CSP) -> HTMLResponse:
    return HTMLResponse(
        body,
        status_code=status,
        headers={
            "Content-Security-Policy": csp,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",  # not no-referrer: see _same_origin
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
        },
    )


def _render(template: str, **values: Any) -> str:
    return _environment().get_template(template).render(version=__version__, **values)


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("mlgate.web", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["upstream_host"] = host_and_port  # never a user:password in the URL
    return environment
