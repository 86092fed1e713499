"""The registry over HTTP: models, versions (multipart upload) and artifact downloads."""

from __future__ import annotations

import itertools
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from mlgate.auth.deps import (
    RuntimeDep,
    SessionDep,
    VersionNumber,
    nul_is_invalid,
    require_scope,
)
from mlgate.auth.schemas import Principal
from mlgate.errors import FieldError, Invalid, message_of
from mlgate.ids import MAX_NUMBER
from mlgate.jsontext import load_json
from mlgate.problems import PROBLEM_RESPONSE, problem_response
from mlgate.registry import downloads, service
from mlgate.registry.blobstore import CHUNK
from mlgate.registry.ranges import RangeNotSatisfiable, etag, requested_range
from mlgate.registry.schemas import (
    MAX_JSON_DEPTH,
    ModelCreate,
    ModelRead,
    ModelUpdate,
    Page,
    VersionCreate,
    VersionRead,
    too_deep,
)
from mlgate.registry.uploads import receive_version

router = APIRouter(prefix="/api/v1/models", tags=["registry"])
Reader = Annotated[Principal, Depends(require_scope("registry:read"))]
Writer = Annotated[Principal, Depends(require_scope("registry:write"))]
Limit = Annotated[int, Query(ge=1, le=service.MAX_PAGE)]
Offset = Annotated[int, Query(ge=0, le=MAX_NUMBER)]


@router.post("", status_code=201, response_model=ModelRead)
def create_model(model_in: ModelCreate, session: SessionDep, actor: Writer) -> ModelRead:
    return service.create_model(session, model_in=model_in, actor=actor)


@router.get("", response_model=Page[ModelRead])
def list_models(
    session: SessionDep,
    actor: Reader,
    tag: str | None = None,
    owner: str | None = None,
    q: Annotated[str | None, Query(description="Substring of the model name.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ModelRead]:
    return service.list_models(session, tag=tag, owner=owner, query=q, limit=limit, offset=offset)


@router.get("/{name}", response_model=ModelRead)
def show_model(name: str, session: SessionDep, actor: Reader) -> ModelRead:
    return service.get_model(session, name=name)


@router.patch("/{name}", response_model=ModelRead)
def update_model(name: str, model_in: ModelUpdate, session: SessionDep, actor: Writer) -> ModelRead:
    return service.update_model(session, name=name, model_in=model_in, actor=actor)


@router.get("/{name}/versions", response_model=Page[VersionRead])
def list_versions(
    name: str,
    session: SessionDep,
    actor: Reader,
    status: str | None = None,
    framework: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[VersionRead]:
    return service.list_versions(
        session, model_name=name, status=status, framework=framework, limit=limit, offset=offset
    )


@router.get("/{name}/versions/{version}", response_model=VersionRead)
def show_version(
    name: str, version: VersionNumber, session: SessionDep, actor: Reader
) -> VersionRead:
    return service.get_version(session, model_name=name, version=version)


ARTIFACT = "/{name}/versions/{version}/artifacts/{artifact:path}"
RangeHeader = Annotated[
    str | None,
    Header(alias="Range", description="One byte range: bytes=A-B, bytes=A- or bytes=-N."),
]
IfRange = Annotated[str | None, Header(description="The ETag a partial download began with.")]


@router.get(
    ARTIFACT,
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The artifact's bytes; X-Content-SHA256 (and the ETag) is their digest",
            "content": {"application/octet-stream": {}},
        },
        206: {
            "description": "The one byte range asked for with Range (Content-Range says which); "
            "several ranges are answered whole, with a 200",
            "content": {"application/octet-stream": {}},
        },
        416: {
            **PROBLEM_RESPONSE,
            "description": "The range starts past the end; Content-Range: bytes */SIZE",
        },
    },
)
def download_artifact(
    name: str,
    version: VersionNumber,
    artifact: str,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Reader,
    range_: RangeHeader = None,
    if_range: IfRange = None,
) -> Response:
    opened = downloads.open_artifact(
        session, blobs=runtime.blobs, model_name=name, version=version, name=artifact
    )
    return _answer(opened, request=request, range_=range_, if_range=if_range, with_bytes=True)


@router.head(
    ARTIFACT,
    responses={
        200: {"description": "The headers a GET sends (Content-Length, ETag, X-Content-SHA256)"},
        206: {"description": "The headers a GET with this Range sends"},
        416: {"description": "The range starts past the end; Content-Range: bytes */SIZE"},
    },
)
def artifact_headers(
    name: str,
    version: VersionNumber,
    artifact: str,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Reader,
    range_: RangeHeader = None,
    if_range: IfRange = None,
) -> Response:
    """The status and headers a GET sends, without the bytes. A GET checks the sha256 of a
    blob of one chunk before it answers (a damaged one is a 500), so HEAD reads and checks
    those too; of a larger one, GET has sent its 200 before it can tell, so HEAD reads none of
    it (a blob missing or of the wrong size is still a 500): the size and sha256 of a large
    artifact come cheap."""
    opened = downloads.open_artifact(
        session, blobs=runtime.blobs, model_name=name, version=version, name=artifact
    )
    return _answer(opened, request=request, range_=range_, if_range=if_range, with_bytes=False)


def _answer(
    opened: downloads.OpenedArtifact,
    *,
    request: Request,
    range_: str | None,
    if_range: str | None,
    with_bytes: bool,
) -> Response:
    """A GET's answer (``with_bytes``) or a HEAD's: the same status and headers."""
    read = opened.artifact
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag(read.sha256),
        "X-Content-SHA256": read.sha256,
        "Content-Disposition": _attachment(read.name),
    }
    try:
        span = requested_range(range_, size=read.size, sha256=read.sha256, if_range=if_range)
        if with_bytes or read.size <= CHUNK:
            chunks = opened.whole() if span is None else opened.span(span.start, span.end)
            # Read ahead: a damaged blob of one chunk is a problem answer, not a 200 cut short.
            first = next(chunks, b"")
        if not with_bytes:
            opened.close()
    except RangeNotSatisfiable as error:
        opened.close()
        answer = problem_response(error, instance=request.url.path)
        answer.headers["Content-Range"] = f"bytes */{error.size}"
        return answer
    except BaseException:
        opened.close()
        raise
    if span is not None:
        headers["Content-Range"] = span.content_range(read.size)
    headers["Content-Length"] = str(read.size if span is None else span.length)
    status = 200 if span is None else 206
    if not with_bytes:
        return Response(status_code=status, media_type="application/octet-stream", headers=headers)
    return StreamingResponse(
        itertools.chain([first], chunks),
        status_code=status,
        media_type="application/octet-stream",
        headers=headers,
    )


def _attachment(name: str) -> str:
    """RFC 6266 with the file's own name: an ASCII fallback that nothing can end early, and the
    exact name as RFC 8187 ``filename*`` for clients that read it."""
    filename = name.rsplit("/", 1)[-1]
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.post(
    "/{name}/versions",
    status_code=201,
    response_model=VersionRead,
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["artifact"],
                        "properties": {
                            "metadata": {
                                "type": "string",
                                "description": (
                                    "JSON of VersionCreate (framework, schemas, …), "
                                    "as a text or a file part."
                                ),
                            },
                            "artifact": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                                "description": "One part per file; its filename is the name.",
                            },
                        },
                    }
                }
            }
        }
    },
)
async def register_version(
    name: str, request: Request, runtime: RuntimeDep, actor: Writer
) -> VersionRead:
    """Upload artifacts as multipart parts named ``artifact`` and optional ``metadata`` JSON.

    Each artifact streams into the blob store as it arrives; the version is registered once
    the body has ended, with every check a registration makes."""
    received = await receive_version(
        request.headers.get("content-type", ""),
        request.stream(),
        blobs=runtime.blobs,
        max_bytes=runtime.settings.max_upload_bytes,
    )
    handed_over = False

    def register() -> VersionRead:
        nonlocal handed_over
        handed_over = True
        try:
            version_in = _metadata(received.metadata)
        except BaseException:
            received.release(runtime.blobs)
            raise
        with nul_is_invalid(), runtime.db.unit_of_work() as session:
            return service.register_stored_version(
                session,
                blobs=runtime.blobs,
                model_name=name,
                version_in=version_in,
                artifacts=received.artifacts,
                actor=actor,
            )

    try:
        return await run_in_threadpool(register)
    except BaseException:
        if not handed_over:  # cancelled before it ran: the blobs are still ours to give back
            received.release(runtime.blobs)
        raise


def _metadata(raw: str | None) -> VersionCreate:
    metadata = load_json(raw, "metadata") if raw and raw.strip() else {}
    if too_deep(metadata):
        raise Invalid.field("metadata", f"is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return VersionCreate.model_validate(metadata)
    except ValidationError as error:
        errors = [
            FieldError("metadata." + ".".join(str(p) for p in e["loc"]), message_of(e))
            for e in error.errors()
        ]
        raise Invalid("metadata is not valid", errors=errors) from error
