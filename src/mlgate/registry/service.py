"""Create and read models and versions; register artifacts into the blob store (reading them
back is ``registry.downloads``).

Registering a version writes its blobs first (before any SQL, so the database is not locked
during a long upload), then the rows and the audit entry in the caller's transaction. If
anything fails, blobs this call created are deleted again, so no partial state remains: also
when the caller's transaction fails to commit after the call has returned, or commits after the
savepoint the call ran in rolled back (see ``registry.giveback``). An HTTP upload streams each
artifact into the blob store as it arrives (``registry.uploads``) and then registers the blobs
it wrote (``register_stored_version``), with the same checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
from mlgate.errors import Conflict, FieldError, Invalid, NotFound
from mlgate.ids import new_id
from mlgate.registry.blobstore import BlobStore, StoredBlob, check_digest
from mlgate.registry.giveback import give_back_unless_committed, pending_blobs
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
    "StoredArtifact",
    "create_model",
    "get_model",
    "get_version",
    "get_version_row",
    "list_models",
    "list_versions",
    "register_stored_version",
    "register_version",
    "update_model",
]

MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class ArtifactUpload:
    name: str
    stream: BinaryIO


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    """An artifact whose bytes an upload has already written to the blob store."""

    name: str
    blob: StoredBlob


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


def _validate_version(version_in: VersionCreate, artifact_names: Sequence[str]) -> None:
    errors = _check_schema(version_in.input_schema, "input_schema")
    errors += _check_schema(version_in.output_schema, "output_schema")
    names: set[str] = set()
    for index, name in enumerate(artifact_names):
        field = f"artifacts[{index}]"
        try:
            check_new_artifact_name(name, field=field)
        except Invalid as error:
            errors += error.errors
        if name in names:
            errors.append(FieldError(field, f"artifact name {name!r} is given twice"))
        names.add(name)
    for name in version_in.artifact_sha256:
        if name not in names:
            errors.append(FieldError(f"artifact_sha256.{name}", "names no uploaded artifact"))
    if not artifact_names:
        errors.append(FieldError("artifacts", "a version needs at least one artifact"))
    _raise_if(errors, "the version is not valid")


def _raise_if(errors: list[FieldError], what: str) -> None:
    if errors:
        details = "; ".join(f"{e.field}: {e.message}" for e in errors)
        raise Invalid(f"{what}: {details}", errors=errors)


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
    _validate_version(version_in, [upload.name for upload in uploads])
    created: list[StoredBlob] = []
    # Bytes a registration earlier in this transaction stored are not claimed again: its blob
    # goes with the transaction, and this claim would keep it (see registry.giveback).
    pending = pending_blobs(session)
    try:
        stored: list[tuple[str, StoredBlob]] = []
        for index, upload in enumerate(uploads):
            blob = blobs.put(
                upload.stream,
                max_bytes=max_bytes,
                expected_sha256=version_in.artifact_sha256.get(upload.name),
                field=f"artifacts[{index}]",
                progress=progress,
                earlier=[*pending, *(blob for _, blob in stored)],
            )
            if blob.created:
                created.append(blob)
            stored.append((upload.name, blob))
        version = _insert_version(
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
    give_back_unless_committed(session, blobs=blobs, created=created, model_name=model_name)
    return version


def register_stored_version(
    session: Session,
    *,
    blobs: BlobStore,
    model_name: str,
    version_in: VersionCreate,
    artifacts: Sequence[StoredArtifact],
    actor: Principal,
    now: datetime | None = None,
) -> VersionRead:
    """Record version N+1 of ``model_name`` from blobs an upload has written already, checked as
    ``register_version`` checks its uploads (expected digests included). Whatever happens, the
    blobs are the caller's no longer: if anything fails, those it created are given back."""
    try:
        _validate_version(version_in, [artifact.name for artifact in artifacts])
        mismatches = [
            FieldError(
                f"artifacts[{index}].sha256",
                f"expected sha256 {expected} but the upload hashes to {artifact.blob.sha256}",
            )
            for index, artifact in enumerate(artifacts)
            if (expected := _expected_digest(version_in, artifact.name, index)) is not None
            and expected != artifact.blob.sha256
        ]
        _raise_if(mismatches, "the upload is not what was expected")
        version = _insert_version(
            session,
            model_name=model_name,
            version_in=version_in,
            stored=[(artifact.name, artifact.blob) for artifact in artifacts],
            actor=actor,
            now=now or utcnow(),
        )
    except BaseException:
        for artifact in artifacts:  # a concurrent upload of the same bytes may use it
            blobs.release(artifact.blob)
        raise
    created = [artifact.blob for artifact in artifacts if artifact.blob.created]
    give_back_unless_committed(session, blobs=blobs, created=created, model_name=model_name)
    return version


def _expected_digest(version_in: VersionCreate, name: str, index: int) -> str | None:
    expected = version_in.artifact_sha256.get(name)
    return None if expected is None else check_digest(expected, field=f"artifacts[{index}].sha256")


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
