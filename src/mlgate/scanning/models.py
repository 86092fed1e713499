"""Scanning tables: artifact scans, signatures, dependency audits, security audits, waivers.

Every row belongs to one model version and is only ever added (the latest row is the current
answer), so a history of scans and audits stays readable and no result is edited in place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlgate.store.base import Base, JSONType, UTCDateTime

__all__ = ["ArtifactScan", "ArtifactSignature", "DependencyAudit", "SecurityAudit", "Waiver"]

_VERSION_FK = "model_versions.id"


class ArtifactScan(Base):
    __tablename__ = "artifact_scans"
    __table_args__ = (Index("ix_artifact_scans_version_at", "version_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey(_VERSION_FK, ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100))
    scanner_version: Mapped[str] = mapped_column(String(50))
    max_severity: Mapped[str | None] = mapped_column(String(20), nullable=True)
    counts: Mapped[dict[str, int]] = mapped_column(JSONType)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)


class ArtifactSignature(Base):
    __tablename__ = "artifact_signatures"
    __table_args__ = (Index("ix_artifact_signatures_version_at", "version_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey(_VERSION_FK, ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100))
    manifest: Mapped[dict[str, str]] = mapped_column(JSONType)  # artifact name -> sha256
    bundle: Mapped[str] = mapped_column(Text)  # the model-signing (Sigstore) bundle, JSON
    public_key: Mapped[str] = mapped_column(Text)  # PEM of the signer's EC P-256 public key
    key_fingerprint: Mapped[str] = mapped_column(String(64))


class DependencyAudit(Base):
    __tablename__ = "dependency_audits"
    __table_args__ = (Index("ix_dependency_audits_version_at", "version_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey(_VERSION_FK, ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(255))
    requirements: Mapped[str] = mapped_column(Text)
    advisories: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    counts: Mapped[dict[str, int]] = mapped_column(JSONType)
    dependencies: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)


class SecurityAudit(Base):
    __tablename__ = "security_audits"
    __table_args__ = (Index("ix_security_audits_version_at", "version_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey(_VERSION_FK, ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100))
    max_severity: Mapped[str | None] = mapped_column(String(20), nullable=True)
    counts: Mapped[dict[str, int]] = mapped_column(JSONType)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    sections: Mapped[dict[str, Any]] = mapped_column(JSONType)


class Waiver(Base):
    __tablename__ = "security_waivers"
    __table_args__ = (
        UniqueConstraint("version_id", "finding_id", name="uq_security_waivers_version_finding"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey(_VERSION_FK, ondelete="CASCADE"))
    finding_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100))
