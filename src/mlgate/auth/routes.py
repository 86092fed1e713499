"""API keys over HTTP: admins issue, list, revoke and rotate them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from mlgate.auth import service
from mlgate.auth.deps import RuntimeDep, SessionDep, require_scope
from mlgate.auth.schemas import ApiKeyCreate, ApiKeyIssued, ApiKeyRead, ApiKeyRotate, Principal

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])
Admin = Annotated[Principal, Depends(require_scope("admin"))]


class IssuedKeyResponse(ApiKeyRead):
    key: str


def _reveal(issued: ApiKeyIssued) -> IssuedKeyResponse:
    # The one response that carries a key's value: the caller asked for it to be issued.
    return IssuedKeyResponse(
        **issued.model_dump(exclude={"key"}), key=issued.key.get_secret_value()
    )


@router.post("", status_code=201, response_model=IssuedKeyResponse)
def create_key(
    key_in: ApiKeyCreate, session: SessionDep, runtime: RuntimeDep, actor: Admin
) -> IssuedKeyResponse:
    return _reveal(service.create(session, secret=runtime.secret, key_in=key_in, actor=actor))


@router.get("", response_model=list[ApiKeyRead])
def list_keys(session: SessionDep, actor: Admin, owner: str | None = None) -> list[ApiKeyRead]:
    return service.get_all(session, owner=owner)


@router.get("/{key_id}", response_model=ApiKeyRead)
def show_key(key_id: str, session: SessionDep, actor: Admin) -> ApiKeyRead:
    return service.get(session, key_id=key_id)


@router.post("/{key_id}/revoke", response_model=ApiKeyRead)
def revoke_key(key_id: str, session: SessionDep, actor: Admin) -> ApiKeyRead:
    return service.revoke(session, key_id=key_id, actor=actor)


@router.post("/{key_id}/rotate", status_code=201, response_model=IssuedKeyResponse)
def rotate_key(
    key_id: str, body: ApiKeyRotate, session: SessionDep, runtime: RuntimeDep, actor: Admin
) -> IssuedKeyResponse:
    grace = body.grace_seconds
    if grace is None:
        grace = runtime.settings.key_grace_seconds
    issued = service.rotate(
        session, secret=runtime.secret, key_id=key_id, grace_seconds=grace, actor=actor
    )
    return _reveal(issued)
