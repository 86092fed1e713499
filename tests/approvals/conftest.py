"""Approval fixtures: versions registered in one call, reviewers with groups, simple policies."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlgate.approvals import policy
from mlgate.approvals.schemas import PolicyDocument
from mlgate.auth.schemas import Principal
from mlgate.cli.main import run
from mlgate.config import Settings
from mlgate.registry import service as registry
from mlgate.registry.schemas import ModelCreate, VersionCreate
from mlgate.runtime import Runtime

SCHEMA = {"type": "object", "properties": {"x": {"type": "number"}}}
VersionFactory = Callable[..., tuple[str, int]]


def reviewer(name: str, *groups: str, scopes: tuple[str, ...] = ("approvals:review",)) -> Principal:
    return Principal(name=name, scopes=frozenset(scopes), groups=frozenset(groups))


REQUESTER = Principal(name="rita", scopes=frozenset({"approvals:request", "registry:write"}))
ADMIN = Principal(name="root", scopes=frozenset({"admin"}))


def simple_policy(
    *stages: tuple[str, list[str], list[Any]], allow_same: bool = False
) -> PolicyDocument:
    """A policy from (name, groups, gates) triples."""
    return PolicyDocument.model_validate(
        {
            "stages": [
                {"name": name, "reviewer_groups": groups, "gates": gates}
                for name, groups, gates in stages
            ],
            "allow_same_reviewer_across_stages": allow_same,
        }
    )


THREE_STAGES = simple_policy(
    ("data-review", ["data"], ["input_schema_declared"]),
    ("security-review", ["security"], []),
    ("final-approval", [], []),
)


@pytest.fixture
def make_version(runtime: Runtime) -> VersionFactory:
    """Register a new version (of a new model unless ``model`` is given); returns (name, N)."""

    def make(
        model: str | None = None,
        *,
        input_schema: bool = True,
        policy_doc: PolicyDocument | None = THREE_STAGES,
    ) -> tuple[str, int]:
        name = model or f"m-{uuid.uuid4().hex[:10]}"
        with runtime.db.unit_of_work() as session:
            if model is None:
                registry.create_model(session, model_in=ModelCreate(name=name), actor=REQUESTER)
                if policy_doc is not None:
                    policy.set_policy(session, subject=name, document=policy_doc, actor=ADMIN)
            version = registry.register_version(
                session,
                blobs=runtime.blobs,
                model_name=name,
                version_in=VersionCreate(input_schema=SCHEMA if input_schema else None),
                uploads=[
                    registry.ArtifactUpload(name="model.bin", stream=io.BytesIO(uuid.uuid4().bytes))
                ],
                max_bytes=1024 * 1024,
                actor=REQUESTER,
            )
        return name, version.version

    return make


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLGATE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("MLGATE_DATA_DIR", str(settings.data_dir))
    assert settings.secret_key is not None
    monkeypatch.setenv("MLGATE_SECRET_KEY", settings.secret_key.get_secret_value())


def as_key(monkeypatch: pytest.MonkeyPatch, key: str, *argv: str) -> int:
    monkeypatch.setenv("MLGATE_API_KEY", key)
    return run(list(argv))
