"""Create and read models and versions; register artifacts into the blob store.

Registering a version writes its blobs first (before any SQL, so the database is not locked
during a long upload), then the rows and the audit entry in the caller's transaction. If
anything fails, blobs this call created are deleted again, so no partial state remains.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

import jsonschema
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.errors import Conflict, FieldError, Invalid, MlgateError, NotFound
from mlgate.ids import new_id
from mlgate.registry.blobstore import CHUNK, BlobStore, StoredBlob
from mlgate.registry.models import Artifact, Model, ModelTag, ModelVersion
from mlgate.registry.naming import check_new_artifact_name
from mlgate.registry.schemas import (
    ArtifactRead,
    ModelCreate,
    ModelRead,
    ModelUpdate,
    Page,
    VersionCreate,
    VersionRead,
)

__all__ = [
    "ArtifactUpload",
    "create_model",
    "get_model",
    "get_version",
    "get_version_row",
    "list_models",
    "list_versions",
    "open_artifact",
    "register_version",
    "update_model",
]

MAX_PAGE = 500
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ArtifactUpload:
    name: str
    stream: BinaryIO


def _model_read(row: Model) -> ModelRead:
    return ModelRead(
        name=row.name,
        description=row.description,
        owner=row.owner,
        tags=[tag.tag for tag in row.tags],
        latest_version=row.latest_version,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
    )


def _version_read(model_name: str, row: ModelVersion) -> VersionRead:
    return VersionRead(
        model=model_name,
        version=row.version,
        status=row.status,
        framework=row.framework,
        description=row.description,
        input_schema=row.input_schema,
        output_schema=row.output_schema,
        git_commit=row.git_commit,
        training_data_version=row.training_data_version,
        trainer=row.trainer,
        created_by=row.created_by,
        created_at=row.created_at,
        artifacts=[ArtifactRead.model_validate(artifact) for artifact in row.artifacts],
    )


def _model_row(session: Session, name: str, *, lock: bool = False) -> Model:
    query = select(Model).where(Model.name == name)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None:
        raise NotFound(
            f"model '{name}' does not exist; create it with `mlgate models create {name}`"
        )
    return row


def create_model(
    session: Session, *, model_in: ModelCreate, actor: Principal, now: datetime | None = None
) -> ModelRead:
    now = now or utcnow()
    if session.scalar(select(Model.id).where(Model.name == model_in.name)) is not None:
        raise Conflict(f"model '{model_in.name}' already exists")
    row = Model(
        id=new_id(),
        name=model_in.name,
        description=model_in.description,
        owner=model_in.owner or actor.name,
        created_at=now,
        created_by=actor.name,
        updated_at=now,
        latest_version=0,
        tags=[ModelTag(tag=tag) for tag in model_in.tags],
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as error:  # a concurrent create of the same name won the race
        raise Conflict(f"model '{model_in.name}' already exists") from error
    audit.record(
        session,
        actor=actor,
        action="model.created",
        object_type="model",
        object_id=row.name,
        change=model_in.model_dump(),
        now=now,
    )
    return _model_read(row)


def update_model(
    session: Session, *, name: str, model_in: ModelUpdate, actor: Principal
) -> ModelRead:
    row = _model_row(session, name, lock=True)
    changes = model_in.model_dump(exclude_none=True)
    if "description" in changes:
        row.description = changes["description"]
    if "owner" in changes:
        row.owner = changes["owner"]
    if model_in.tags is not None:
        row.tags = [ModelTag(tag=tag) for tag in model_in.tags]
    row.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="model.updated",
        object_type="model",
        object_id=name,
        change=changes,
    )
    return _model_read(row)


def get_model(session: Session, *, name: str) -> ModelRead:
    return _model_read(_model_row(session, name))


def list_models(
    session: Session,
    *,
    tag: str | None = None,
    owner: str | None = None,
    query: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[ModelRead]:
    statement = select(Model)
    if tag:
        statement = statement.where(
            Model.id.in_(select(ModelTag.model_id).where(ModelTag.tag == tag))
        )
    if owner:
        statement = statement.where(Model.owner == owner)
    if query:
        statement = statement.where(Model.name.contains(query.lower(), autoescape=True))
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    limit = max(1, min(limit, MAX_PAGE))
    rows = session.scalars(statement.order_by(Model.name).limit(limit).offset(max(offset, 0)))
    return Page[ModelRead](
        items=[_model_read(row) for row in rows], total=total, limit=limit, offset=offset
    )


def _check_schema(schema: dict[str, Any] | None, field: str) -> list[FieldError]:
    if schema is None:
        return []
    dialect = schema.get("$schema")
    if dialect is not None and not isinstance(dialect, str):  # validator_for would TypeError
        return [FieldError(f"{field}.$schema", "must be a string: a JSON Schema dialect URI")]
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as error:
        path = ".".join(str(part) for part in error.absolute_path)
        where = f" at '{path}'" if path else ""
        return [FieldError(field, f"not a valid JSON Schema{where}: {error.message}")]
    return []


def _validate_version(version_in: VersionCreate, uploads: Sequence[ArtifactUpload]) -> None:
    errors = _check_schema(version_in.input_schema, "input_schema")
    errors += _check_schema(version_in.output_schema, "output_schema")
    names: set[str] = set()
    for index, upload in enumerate(uploads):
        field = f"artifacts[{index}]"
        try:
            check_new_artifact_name(upload.name, field=field)
        except Invalid as error:
            errors += error.errors
        if upload.name in names:
            errors.append(FieldError(field, f"artifact name {upload.name!r} is given twice"))
        names.add(upload.name)
    for name in version_in.artifact_sha256:
        if name not in names:
            errors.append(FieldError(f"artifact_sha256.{name}", "names no uploaded artifact"))
    if not uploads:
        errors.append(FieldError("artifacts", "a version needs at least one artifact"))
    if errors:
        details = "; ".join(f"{e.field}: {e.message}" for e in errors)
        raise Invalid(f"the version is not valid: {details}", errors=errors)


def register_version(
    session: Session,
    *,
    blobs: BlobStore,
    model_name: str,
    version_in: VersionCreate,
    uploads: Sequence[ArtifactUpload],
    max_bytes: int,
    actor: Principal,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> VersionRead:
    """Store the artifacts and record version N+1 of ``model_name``."""
    _validate_version(version_in, uploads)
    created: list[StoredBlob] = []
    try:
        stored: list[tuple[str, StoredBlob]] = []
        for index, upload in enumerate(uploads):
            blob = blobs.put(
                upload.stream,
                max_bytes=max_bytes,
                expected_sha256=version_in.artifact_sha256.get(upload.name),
                field=f"artifacts[{index}]",
                progress=progress,
            )
            if blob.created:
                created.append(blob)
            stored.append((upload.name, blob))
        return _insert_version(
            session,
            model_name=model_name,
            version_in=version_in,
            stored=stored,
            actor=actor,
            now=now or utcnow(),
        )
    except BaseException:
        for blob in created:  # a concurrent upload of the same bytes may use it: see release
            blobs.release(blob)
        raise


def _insert_version(
    session: Session,
    *,
    model_name: str,
    version_in: VersionCreate,
    stored: list[tuple[str, StoredBlob]],
    actor: Principal,
    now: datetime,
) -> VersionRead:
    model = _model_row(session, model_name, lock=True)
    number = model.latest_version + 1
    row = ModelVersion(
        id=new_id(),
        model_id=model.id,
        version=number,
        status="registered",
        framework=version_in.framework,
        description=version_in.description,
        input_schema=version_in.input_schema,
        output_schema=version_in.output_schema,
        git_commit=version_in.git_commit,
        training_data_version=version_in.training_data_version,
        trainer=version_in.trainer,
        created_by=actor.name,
        created_at=now,
        artifacts=[
            Artifact(id=new_id(), name=name, sha256=blob.sha256, size=blob.size)
            for name, blob in stored
        ],
    )
    session.add(row)
    model.latest_version = number
    model.updated_at = now
    try:
        session.flush()
    except IntegrityError as error:
        raise Conflict(f"version {number} of '{model_name}' was registered concurrently") from error
    audit.record(
        session,
        actor=actor,
        action="version.registered",
        object_type="model_version",
        object_id=f"{model_name}@{number}",
        change={
            "framework": row.framework,
            "artifacts": {name: blob.sha256 for name, blob in stored},
            "git_commit": row.git_commit,
            "training_data_version": row.training_data_version,
        },
        now=now,
    )
    return _version_read(model_name, row)


def get_version_row(session: Session, *, model_name: str, version: int) -> ModelVersion:
    model = _model_row(session, model_name)
    row = session.scalars(
        select(ModelVersion).where(
            ModelVersion.model_id == model.id, ModelVersion.version == version
        )
    ).one_or_none()
    if row is None:
        raise NotFound(
            f"model '{model_name}' has no version {version}; "
            f"list them with `mlgate models show {model_name}`"
        )
    return row


def get_version(session: Session, *, model_name: str, version: int) -> VersionRead:
    return _version_read(
        model_name, get_version_row(session, model_name=model_name, version=version)
    )


def list_versions(
    session: Session,
    *,
    model_name: str,
    status: str | None = None,
    framework: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[VersionRead]:
    model = _model_row(session, model_name)
    statement = select(ModelVersion).where(ModelVersion.model_id == model.id)
    if status:
        statement = statement.where(ModelVersion.status == status)
    if framework:
        statement = statement.where(ModelVersion.framework == framework)
    if status or framework:
        total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    else:
        total = model.latest_version
    limit = max(1, min(limit, MAX_PAGE))
    rows = session.scalars(
        statement.order_by(ModelVersion.version.desc()).limit(limit).offset(max(offset, 0))
    )
    return Page[VersionRead](
        items=[_version_read(model_name, row) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


def open_artifact(
    session: Session, *, blobs: BlobStore, model_name: str, version: int, name: str
) -> tuple[ArtifactRead, Iterator[bytes]]:
    """The artifact and its bytes, checked against its sha256 as they are read.

    The bytes come in chunks and the last one is held back until all of them hash to the
    registered digest, so a damaged blob is never handed out whole: its iterator raises instead
    (before the first chunk when the blob fits in one, or its size is wrong).
    """
    row = get_version_row(session, model_name=model_name, version=version)
    artifact = next((a for a in row.artifacts if a.name == name), None)
    if artifact is None:
        raise NotFound(f"{model_name}@{version} has no artifact named {name!r}")
    read = ArtifactRead.model_validate(artifact)
    where = f"artifact {name!r} of {model_name}@{version}"
    try:
        stream = blobs.open(read.sha256)
    except NotFound:  # the registry names it, so this is lost data, not a wrong address
        raise _damaged(where, read.sha256, "is missing from the blob store") from None
    if os.fstat(stream.fileno()).st_size != read.size:  # the file opened, not a path again
        stream.close()
        raise _damaged(where, read.sha256, f"is damaged in the blob store (not {read.size} bytes)")
    return read, _checked_chunks(stream, sha256=read.sha256, where=where)


def _checked_chunks(stream: BinaryIO, *, sha256: str, where: str) -> Iterator[bytes]:
    hasher = hashlib.sha256()
    with stream:
        held = stream.read(CHUNK)
        while held:
            hasher.update(held)
            following = stream.read(CHUNK)
            if not following and hasher.hexdigest() != sha256:
                raise _damaged(where, sha256, "is damaged in the blob store (its bytes changed)")
            yield held
            held = following


def _damaged(where: str, sha256: str, what: str) -> MlgateError:
    logger.error("artifact blob lost or damaged", extra={"artifact": where, "sha256": sha256})
    return MlgateError(
        f"{where} {what} (blob {sha256}); registering the original file again, to any model,"
        " repairs it, or restore a backup"
    )
