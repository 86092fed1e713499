"""Blobs shared by uploads: a failed registration never takes away bytes another one uses."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from mlgate.auth.schemas import Principal
from mlgate.errors import Invalid, NotFound
from mlgate.registry import service as registry
from mlgate.registry.blobstore import LocalBlobStore, StoredBlob
from mlgate.registry.downloads import open_artifact
from mlgate.registry.schemas import ModelCreate, VersionCreate
from mlgate.runtime import Runtime
from tests.registry.conftest import blob_files

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


def test_the_same_bytes_twice_in_a_failed_upload_leave_no_blob(runtime: Runtime) -> None:
    # The second file claimed the blob the first had just created, so giving the upload back
    # kept it as another upload's: five refused uploads of 2 x 4 MB left 20 MB behind.
    with pytest.raises(NotFound):
        _register(runtime, "nope", ("a.json", io.BytesIO(SHARED)), ("b.json", io.BytesIO(SHARED)))
    assert blob_files(runtime) == []


def test_an_uploads_own_blob_is_given_back_unless_another_upload_claimed_it(
    tmp_path: Path,
) -> None:
    store = LocalBlobStore(tmp_path)
    mine = store.put(io.BytesIO(SHARED), max_bytes=100)
    again = store.put(io.BytesIO(SHARED), max_bytes=100, earlier=[mine])
    store.release(mine)
    store.release(again)
    assert not store.exists(mine.sha256)

    mine = store.put(io.BytesIO(SHARED), max_bytes=100)
    theirs = store.put(io.BytesIO(SHARED), max_bytes=100)  # another upload, between the two
    again = store.put(io.BytesIO(SHARED), max_bytes=100, earlier=[mine])
    store.release(mine)
    store.release(again)
    assert theirs.created is False
    assert store.path(mine.sha256).read_bytes() == SHARED


def test_two_uploads_of_the_same_bytes_at_once_do_not_both_create_the_blob(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both find no blob. A stores it, then B: B's copy replaced A's, so B's failed
    registration deleted the blob A's version names."""
    store = LocalBlobStore(tmp_path)
    final = store.path(hashlib.sha256(SHARED).hexdigest())
    neither_found_it = threading.Barrier(2, timeout=10)
    a_stored = threading.Event()

    def in_turn(real: Callable[..., None]) -> Callable[..., None]:
        def place(src: object, dst: object, *args: object, **kwargs: object) -> None:
            if Path(str(dst)) != final:
                return real(src, dst, *args, **kwargs)
            neither_found_it.wait()
            me = threading.current_thread().name
            if me == "B":
                assert a_stored.wait(timeout=10)
            try:
                return real(src, dst, *args, **kwargs)
            finally:
                if me == "A":
                    a_stored.set()

        return place

    monkeypatch.setattr(os, "link", in_turn(os.link))
    monkeypatch.setattr(os, "replace", in_turn(os.replace))
    stored: dict[str, StoredBlob] = {}

    def upload() -> None:
        stored[threading.current_thread().name] = store.put(io.BytesIO(SHARED), max_bytes=100)

    threads = [threading.Thread(target=upload, name=name) for name in "AB"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    monkeypatch.undo()
    assert sorted(stored) == ["A", "B"]
    assert [stored[name].created for name in "AB"] == [True, False]
    store.release(stored["B"])  # B's registration fails; A's version names the blob
    assert final.read_bytes() == SHARED


@pytest.mark.parametrize("third_fails", ["after", "before its copy is claimed"])
def test_a_claim_carries_over_to_a_copy_stored_while_the_blob_was_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, third_fails: str
) -> None:
    """Upload 1 created the blob and upload 2 claimed it (its version is registered). Upload 1
    fails: its release moves the blob aside and, seeing the claim, puts it back; but upload 3
    stored its own copy in between, and then fails too. Upload 2's claim was lost with the
    put-back, so upload 3's release deleted the blob upload 2's version names."""
    store = LocalBlobStore(tmp_path)
    first = store.put(io.BytesIO(SHARED), max_bytes=100)
    second = store.put(io.BytesIO(SHARED), max_bytes=100)
    assert (first.created, second.created) == (True, False)
    real_link = os.link
    third: list[StoredBlob] = []

    def link(src: object, dst: object, *args: object, **kwargs: object) -> None:
        if ".released-" not in str(src) or third:
            return real_link(src, dst, *args, **kwargs)  # type: ignore[arg-type]
        third.append(store.put(io.BytesIO(SHARED), max_bytes=100))  # upload 3, in the gap
        try:
            return real_link(src, dst, *args, **kwargs)  # type: ignore[arg-type]
        finally:
            if third_fails != "after":
                store.release(third[0])

    monkeypatch.setattr(os, "link", link)
    store.release(first)
    monkeypatch.undo()
    assert third[0].created
    if third_fails == "after":
        store.release(third[0])
    assert store.path(first.sha256).read_bytes() == SHARED
