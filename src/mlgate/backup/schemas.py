"""Backup shapes: the manifest written beside every backup, and what commands report."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AuditHeadRef",
    "BackupRead",
    "DrillRead",
    "EncryptionInfo",
    "Manifest",
    "ManifestFile",
    "PruneFailure",
    "PruneResult",
    "RestoreResult",
    "TableSummary",
    "VerifyReport",
]

Dialect = Literal["sqlite", "postgresql"]


class ManifestFile(BaseModel):
    """One stored file. ``sha256``/``size`` cover the bytes on disk, ``content_*`` the original."""

    path: str = Field(description="Path inside the backup directory.")
    kind: Literal["database", "blob"]
    size: int
    sha256: str
    content_size: int
    content_sha256: str
    codec: Literal["gzip", "none"]
    encrypted: bool


class TableSummary(BaseModel):
    rows: int
    digest: str = Field(description="Order-independent sha256 sum over the table's rows.")


class AuditHeadRef(BaseModel):
    seq: int
    hash: str


class EncryptionInfo(BaseModel):
    algorithm: Literal["AES-256-GCM"] = "AES-256-GCM"
    chunk_bytes: int
    key_id: str = Field(description="Fingerprint of the key; the key itself is never stored.")


class Manifest(BaseModel):
    """Everything needed to check a backup without trusting anything else in it."""

    model_config = ConfigDict(extra="forbid")

    format: Literal[1] = 1
    id: str
    created_at: datetime
    mlgate_version: str
    dialect: Dialect
    schema_revisions: list[str]
    audit_head: AuditHeadRef
    tables: dict[str, TableSummary]
    files: list[ManifestFile]
    encryption: EncryptionInfo | None = None
    duration_seconds: float
    checksum: str = Field(default="", description="sha256 of the manifest without this field.")


class BackupRead(BaseModel):
    id: str
    path: str
    created_at: datetime
    dialect: Dialect
    size_bytes: int
    files: int
    encrypted: bool
    audit_head: AuditHeadRef
    schema_revisions: list[str]


class VerifyReport(BaseModel):
    backup_id: str
    ok: bool
    checked_files: int
    deep: bool = Field(description="False when only checksums could be checked (no key).")
    problems: list[str]
    integrity: str | None = None
    audit_entries: int | None = None


class RestoreResult(BaseModel):
    backup_id: str
    target: str
    blob_dir: str
    dry_run: bool
    actions: list[str]
    moved_aside: list[str]
    verified: bool
    schema_upgraded: bool = Field(
        default=False,
        description="The backup's schema was older than this mlgate's: upgraded once verified.",
    )
    seconds: float
    bytes_restored: int


class PruneFailure(BaseModel):
    name: str = Field(description="The backup id, or the leftover directory's name.")
    error: str


class PruneResult(BaseModel):
    dry_run: bool
    keep: list[str]
    delete: list[str] = Field(
        description="Backups deleted (with dry_run: to be deleted); one that failed is in failed."
    )
    duplicates: list[str] = Field(
        default_factory=list,
        description="Ids found in more than one directory: never deleted, keep one by hand.",
    )
    leftovers: list[str] = Field(
        default_factory=list,
        description="Directories of killed backups and prunes (.partial-*, .deleting-*) untouched"
        " for an hour: removed, or with dry_run to be removed.",
    )
    failed: list[PruneFailure] = Field(
        default_factory=list,
        description="What could not be deleted, and why; everything else was deleted.",
    )


class DrillRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    at: datetime
    backup_id: str
    dialect: str
    rto_seconds: float
    rpo_seconds: float
    ok: bool
    detail: str
    gateway_check: str
