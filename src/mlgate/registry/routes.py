"""The registry over HTTP: models, versions (multipart upload) and artifact downloads."""

from __future__ import annotations

import itertools
import json
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from mlgate.auth.deps import (
    RuntimeDep,
    SessionDep,
    VersionNumber,
    nul_is_invalid,
    require_scope,
)
from mlgate.auth.schemas import Principal
from mlgate.errors import FieldError, Invalid, PayloadTooLarge, message_of
from mlgate.ids import MAX_NUMBER
from mlgate.registry import service
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

router = APIRouter(prefix="/api/v1/models", tags=["registry"])
Reader = Annotated[Principal, Depends(require_scope("registry:read"))]
Writer = Annotated[Principal, Depends(require_scope("registry:write"))]
Limit = Annotated[int, Query(ge=1, le=service.MAX_PAGE)]
Offset = Annotated[int, Query(ge=0, le=MAX_NUMBER)]
MAX_FILES = 1000
# Metadata as a string part is bounded by Starlette's part size; as a file part it gets the same
# bound. Its nesting is bounded too (MAX_JSON_DEPTH), checked before a model is built from it.
MAX_METADATA_BYTES = 1024 * 1024


class _ArtifactForm(MultiPartParser):
    # Starlette keeps each file part in memory until it passes 1 MiB, so 1,000 small artifacts
    # held about 1 GB until the request ended. Spilled to disk early, a request holds at most
    # MAX_FILES times this.
    spool_max_size = 64 * 1024


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


@router.get(
    "/{name}/versions/{version}/artifacts/{artifact:path}",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The artifact's bytes; X-Content-SHA256 is their digest",
            "content": {"application/octet-stream": {}},
        }
    },
)
def download_artifact(
    name: str,
    version: VersionNumber,
    artifact: str,
    runtime: RuntimeDep,
    session: SessionDep,
    actor: Reader,
) -> StreamingResponse:
    read, chunks = service.open_artifact(
        session, blobs=runtime.blobs, model_name=name, version=version, name=artifact
    )
    # Read ahead: a damaged blob of one chunk is a problem answer, not a 200 cut short.
    first = next(chunks, b"")
    headers = {
        "Content-Length": str(read.size),
        "X-Content-SHA256": read.sha256,
        "Content-Disposition": _attachment(artifact),
    }
    return StreamingResponse(
        itertools.chain([first], chunks), media_type="application/octet-stream", headers=headers
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
    """Upload artifacts as multipart parts named ``artifact`` and optional ``metadata`` JSON."""
    form = await _form(request)
    try:
        version_in = _metadata(await _metadata_text(form.get("metadata")))
        files = [item for item in form.getlist("artifact") if isinstance(item, UploadFile)]
        uploads = [service.ArtifactUpload(name=f.filename or "", stream=f.file) for f in files]

        def register() -> VersionRead:
            with nul_is_invalid(), runtime.db.unit_of_work() as session:
                return service.register_version(
                    session,
                    blobs=runtime.blobs,
                    model_name=name,
                    version_in=version_in,
                    uploads=uploads,
                    max_bytes=runtime.settings.max_upload_bytes,
                    actor=actor,
                )

        return await run_in_threadpool(register)
    finally:
        await form.close()


async def _form(request: Request) -> FormData:
    content_type = request.headers.get("content-type", "")
    if content_type.partition(";")[0].strip().lower() != "multipart/form-data":
        raise Invalid.field("body", "must be multipart/form-data: one `artifact` part per file")
    parser = _ArtifactForm(
        request.headers,
        request.stream(),
        max_files=MAX_FILES,
        max_fields=10,
        max_part_size=MAX_METADATA_BYTES,
    )
    try:
        return await parser.parse()
    except MultiPartException as error:
        raise Invalid.field("body", error.message) from error


async def _metadata_text(part: object) -> str | None:
    """The metadata part's text, whether sent as a string (``-F metadata=…``) or a file
    (``-F metadata=@meta.json``): a file part ignored would skip its artifact_sha256 check."""
    if not isinstance(part, UploadFile):
        return part if isinstance(part, str) else None
    data = await part.read(MAX_METADATA_BYTES + 1)
    if len(data) > MAX_METADATA_BYTES:
        raise PayloadTooLarge(f"the metadata part is larger than {MAX_METADATA_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Invalid.field("metadata", "is not UTF-8 text") from error


def _metadata(raw: str | None) -> VersionCreate:
    deep = f"is nested deeper than {MAX_JSON_DEPTH} levels"
    try:
        metadata = json.loads(raw) if raw and raw.strip() else {}
    except json.JSONDecodeError as error:
        raise Invalid.field("metadata", f"is not valid JSON: {error.msg}") from error
    except RecursionError as error:
        raise Invalid.field("metadata", deep) from error
    if too_deep(metadata):
        raise Invalid.field("metadata", deep)
    try:
        return VersionCreate.model_validate(metadata)
    except ValidationError as error:
        errors = [
            FieldError("metadata." + ".".join(str(p) for p in e["loc"]), message_of(e))
            for e in error.errors()
        ]
        raise Invalid("metadata is not valid", errors=errors) from error
