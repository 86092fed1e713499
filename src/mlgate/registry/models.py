"""Registry tables: models, their tags, numbered versions and artifacts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mlgate.store.base import Base, JSONType, UTCDateTime

__all__ = ["Artifact", "Model", "ModelTag", "ModelVersion"]


class Model(Base):
    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    latest_version: Mapped[int] = mapped_column(Integer, default=0)

    tags: Mapped[list[ModelTag]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ModelTag.tag"
    )


class ModelTag(Base):
    __tablename__ = "model_tags"

    model_id: Mapped[str] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(63), primary_key=True, index=True)


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
        Index("ix_model_versions_created_at", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="RESTRICT"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="registered", index=True)
    framework: Mapped[str] = mapped_column(String(50), default="", index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    input_schema: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    output_schema: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    git_commit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    training_data_version: Mapped[str | None] = mapped_column(String(200), nullable=True)
    trainer: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    artifacts: Mapped[list[Artifact]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="Artifact.name"
    )


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("version_id", "name", name="uq_artifacts_version_name"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
