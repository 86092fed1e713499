"""Thin HTTP routes of the privacy admin (/api/v1/privacy) and the secret store (/api/v1/secrets).

Every route needs the ``privacy:admin`` scope (``admin`` implies it). Subjects travel in
request bodies, never in URLs, so they do not land in access logs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from mlgate.auth.deps import RuntimeDep, SessionDep, require_scope
from mlgate.auth.schemas import Principal
from mlgate.privacy import service
from mlgate.privacy.keys import PrivacyKeys
from mlgate.privacy.schemas import (
    ErasureResult,
    HoldCreate,
    HoldRead,
    PurgeResult,
    PurposeSet,
    SecretRead,
    SecretSet,
    SubjectErase,
    SubjectExport,
    SubjectRequest,
)

__all__ = ["privacy_router", "secrets_router"]

privacy_router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])
secrets_router = APIRouter(prefix="/api/v1/secrets", tags=["secrets"])
Admin = Annotated[Principal, Depends(require_scope("privacy:admin"))]


def get_keys(request: Request) -> PrivacyKeys:
    keys: PrivacyKeys = request.app.state.privacy
    return keys


KeysDep = Annotated[PrivacyKeys, Depends(get_keys)]


@secrets_router.get("", response_model=list[SecretRead])
def list_secrets(session: SessionDep, actor: Admin) -> list[SecretRead]:
    return service.list_secrets(session)


@secrets_router.get("/{name}", response_model=SecretRead)
def show_secret(name: str, session: SessionDep, actor: Admin) -> SecretRead:
    return service.get_secret(session, name=name)


@secrets_router.put("/{name}", response_model=SecretRead)
def set_secret(
    name: str, secret_in: SecretSet, session: SessionDep, keys: KeysDep, actor: Admin
) -> SecretRead:
    return service.set_secret(
        session, cipher=keys.cipher, name=name, secret_in=secret_in, actor=actor
    )


@secrets_router.delete("/{name}", response_model=SecretRead)
def delete_secret(name: str, session: SessionDep, actor: Admin) -> SecretRead:
    return service.delete_secret(session, name=name, actor=actor)


@privacy_router.post("/purge", response_model=PurgeResult)
def purge(runtime: RuntimeDep, actor: Admin, dry_run: bool = False) -> PurgeResult:
    return service.purge_job(runtime, dry_run=dry_run, actor=actor)


@privacy_router.get("/holds", response_model=list[HoldRead])
def list_holds(session: SessionDep, actor: Admin) -> list[HoldRead]:
    return service.list_holds(session)


@privacy_router.post("/holds", status_code=201, response_model=HoldRead)
def add_hold(
    hold_in: HoldCreate, session: SessionDep, runtime: RuntimeDep, actor: Admin
) -> HoldRead:
    return service.add_hold(session, secret=runtime.secret, hold_in=hold_in, actor=actor)


@privacy_router.delete("/holds/{hold_id}", response_model=HoldRead)
def remove_hold(hold_id: str, session: SessionDep, actor: Admin) -> HoldRead:
    return service.remove_hold(session, hold_id=hold_id, actor=actor)


@privacy_router.post("/subjects/export", response_model=SubjectExport)
def export_subject(
    request_in: SubjectRequest, runtime: RuntimeDep, keys: KeysDep, actor: Admin
) -> SubjectExport:
    return service.export_job(runtime, keys, subject=request_in.subject, actor=actor)


@privacy_router.post("/subjects/erase", response_model=ErasureResult)
def erase_subject(
    request_in: SubjectErase, runtime: RuntimeDep, keys: KeysDep, actor: Admin
) -> ErasureResult:
    return service.erase_job(
        runtime, keys, subject=request_in.subject, actor=actor, dry_run=request_in.dry_run
    )


@privacy_router.put("/routes/{route}/purposes", response_model=PurposeSet)
def set_purposes(
    route: str, purposes_in: PurposeSet, session: SessionDep, actor: Admin
) -> PurposeSet:
    return service.set_purposes(session, route=route, purposes_in=purposes_in, actor=actor)


@privacy_router.get(
    "/report",
    response_model=None,
    responses={200: {"content": {"application/json": {}, "text/html": {}, "text/markdown": {}}}},
)
def report(
    session: SessionDep,
    keys: KeysDep,
    actor: Admin,
    format: Literal["json", "html", "markdown"] = "json",
) -> Response:
    built = service.build_report(session, master_key=keys.master.key_id)
    if format == "html":
        return HTMLResponse(built.to_html())
    if format == "markdown":
        return PlainTextResponse(built.to_markdown(), media_type="text/markdown")
    return Response(built.model_dump_json(), media_type="application/json")
