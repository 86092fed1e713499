"""Blobs shared by uploads: a failed registration never takes away bytes another one uses."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mlgate.auth.schemas import Principal
from mlgate.errors import Invalid
from mlgate.registry import service as registry
from mlgate.registry.blobstore import LocalBlobStore
from mlgate.registry.downloads import open_artifact
from mlgate.registry.schemas import ModelCreate, VersionCreate
from mlgate.runtime import Runtime

WRITER = Principal(name="w", scopes=frozenset({"registry:write"}))
SHARED = b'{"vocab": ["a", "b"]}'  # a tokenizer two models ship byte for byte


def _register(runtime: Runtime, model: str, *uploads: tuple[str, io.RawIOBase | io.BytesIO],
              version_in: VersionCreate | None = None) -> None:  # fmt: skip
    with runtime.db.unit_of_work() as session:
        registry.register_version(
            session,
            blobs=runtime.blobs,
            model_name=model,
            version_in=version_in or VersionCreate(),
            uploads=[registry.ArtifactUpload(name, stream) for name, stream in uploads],  # type: ignore[arg-type]
            max_bytes=1 << 20,
            actor=WRITER,
        )


def test_a_failed_upload_leaves_a_blob_another_version_registered_meanwhile(
    runtime: Runtime,
) -> None:
    with runtime.db.unit_of_work() as session:
        for name in ("a", "b"):
            registry.create_model(session, model_in=ModelCreate(name=name), actor=WRITER)

    class WhileStreaming(io.RawIOBase):
        """A's second artifact: while it streams, b@1 registers the shared bytes and commits."""

        sent = False

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            if self.sent:
                return 0
            self.sent = True
            _register(runtime, "b", ("tokenizer.json", io.BytesIO(SHARED)))
            buffer[:3] = b"xyz"
            return 3

    wrong = VersionCreate(artifact_sha256={"model.bin": "0" * 64})  # fails after both streams
    with pytest.raises(Invalid, match="sha256"):
        _register(
            runtime,
            "a",
            ("tokenizer.json", io.BytesIO(SHARED)),
            ("model.bin", io.BufferedReader(WhileStreaming())),
            version_in=wrong,
        )
    with runtime.db.unit_of_work() as session:
        opened = open_artifact(
            session, blobs=runtime.blobs, model_name="b", version=1, name="tokenizer.json"
        )
    assert b"".join(opened.whole()) == SHARED  # b@1 keeps its bytes


def test_release_gives_back_only_what_nobody_else_claimed(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    alone = store.put(io.BytesIO(b"only mine"), max_bytes=100)
    store.release(alone)
    assert not store.exists(alone.sha256)  # a failed upload leaves nothing behind

    mine = store.put(io.BytesIO(SHARED), max_bytes=100)
    theirs = store.put(io.BytesIO(SHARED), max_bytes=100)
    assert (mine.created, theirs.created) == (True, False)
    store.release(mine)
    assert store.exists(mine.sha256)  # claimed by the second upload: kept

    again = store.put(io.BytesIO(b"released first"), max_bytes=100)
    store.release(again)
    after = store.put(io.BytesIO(b"released first"), max_bytes=100)
    assert after.created  # a claim that comes after the release stores its own copy
    assert store.exists(after.sha256)
