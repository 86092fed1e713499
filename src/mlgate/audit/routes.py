"""The audit log over HTTP: list, verify and export (JSON Lines).

Verify and export read the whole chain: they run in a read-only unit of work, which never holds
the store's write lock, so however often they are asked for, writes go on beside them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from mlgate.audit import service
from mlgate.audit.schemas import AuditEntryRead, AuditVerification
from mlgate.auth.deps import ReadOnlySessionDep, RuntimeDep, SessionDep, require_scope
from mlgate.auth.schemas import Principal
from mlgate.errors import Invalid
from mlgate.ids import MAX_NUMBER

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
Reader = Annotated[Principal, Depends(require_scope("audit:read"))]


@router.get("", response_model=list[AuditEntryRead])
def list_entries(
    session: SessionDep,
    actor: Reader,
    object_type: str | None = None,
    object_id: str | None = None,
    by: Annotated[str | None, Query(alias="actor")] = None,
    after_seq: Annotated[int, Query(ge=0, le=MAX_NUMBER)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntryRead]:
    return service.get_all(
        session,
        object_type=object_type,
        object_id=object_id,
        actor=by,
        limit=limit,
        after_seq=after_seq,
    )


@router.get("/verify", response_model=AuditVerification)
def verify(
    session: ReadOnlySessionDep,
    actor: Reader,
    seq: Annotated[int | None, Query(ge=1, le=MAX_NUMBER)] = None,
    hash: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")] = None,
) -> AuditVerification:
    """Walk the whole chain. With ``seq`` and ``hash``, a head recorded earlier (by a verify,
    an export or a backup), the chain must also still hold that entry: entries cut off its end
    and the head row rewound are otherwise invisible."""
    if (seq is None) != (hash is None):
        raise Invalid("give both 'seq' and 'hash' of the head recorded earlier, or neither")
    known = (seq, hash) if seq is not None and hash is not None else None
    return service.verify(session, known_head=known)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"description": "One entry per line", "content": {"application/x-ndjson": {}}}},
)
def export(runtime: RuntimeDep, actor: Reader) -> StreamingResponse:
    def lines() -> Iterator[str]:
        with runtime.db.read_only() as session:
            for entry in service.iter_entries(session):
                yield entry.model_dump_json() + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")
