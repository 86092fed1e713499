"""A registration whose transaction does not commit leaves no blob behind; one that committed,
even when its answer was lost, keeps every blob its version names."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, event, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.ids import new_id
from mlgate.registry import giveback
from mlgate.registry import service as registry
from mlgate.registry.blobstore import CHUNK
from mlgate.registry.models import Model, ModelVersion
from mlgate.registry.schemas import ModelCreate, VersionCreate
from mlgate.runtime import Runtime
from tests.registry.conftest import blob_files, upload

WRITER = Principal(name="w", scopes=frozenset({"registry:write"}))
DATA = b"weights " * 100


@pytest.fixture
def churn(runtime: Runtime) -> None:
    with runtime.db.unit_of_work() as session:
        registry.create_model(session, model_in=ModelCreate(name="churn"), actor=WRITER)


def fail_commits_that_register_a_version(runtime: Runtime) -> None:
    """The database itself refuses, at COMMIT, every transaction that inserts a version: a
    trigger writes a row that breaks a foreign key checked only when the transaction commits."""
    guard = (
        "CREATE TABLE commit_guard (model_id VARCHAR(26)"
        " REFERENCES models (id) DEFERRABLE INITIALLY DEFERRED)"
    )
    with runtime.db.engine.begin() as connection:
        connection.execute(text(guard))
        if connection.dialect.name == "sqlite":
            connection.execute(
                text(
                    "CREATE TRIGGER fail_at_commit AFTER INSERT ON model_versions"
                    " BEGIN INSERT INTO commit_guard VALUES ('no such model'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE FUNCTION guard_commit() RETURNS trigger LANGUAGE plpgsql AS"
                    " $$ BEGIN INSERT INTO commit_guard VALUES ('no such model'); RETURN NEW;"
                    " END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER fail_at_commit AFTER INSERT ON model_versions"
                    " FOR EACH ROW EXECUTE FUNCTION guard_commit()"
                )
            )


def register(session: Session, runtime: Runtime, *files: tuple[str, bytes]) -> None:
    registry.register_version(
        session,
        blobs=runtime.blobs,
        model_name="churn",
        version_in=VersionCreate(),
        uploads=[registry.ArtifactUpload(name, io.BytesIO(data)) for name, data in files],
        max_bytes=16 * CHUNK,
        actor=WRITER,
    )


def versions(runtime: Runtime) -> list[int]:
    with runtime.db.unit_of_work() as session:
        return list(session.scalars(select(ModelVersion.version)))


@pytest.mark.usefixtures("churn")
def test_a_version_whose_commit_the_database_refuses_leaves_no_blob(runtime: Runtime) -> None:
    # The call had returned, so its own clean-up was over: the blob stayed, named by nothing.
    fail_commits_that_register_a_version(runtime)
    with pytest.raises(IntegrityError), runtime.db.unit_of_work() as session:
        register(session, runtime, ("model.bin", DATA), ("vocab.txt", b"a b c"))
    assert versions(runtime) == []
    assert blob_files(runtime) == []


@pytest.mark.usefixtures("churn")
def test_a_version_whose_transaction_fails_later_leaves_no_blob(runtime: Runtime) -> None:
    # A later write in the same unit of work breaks a unique constraint when the commit
    # flushes it: the version goes with it.
    def register_then_add_a_model_named_churn_again(session: Session) -> None:
        register(session, runtime, ("model.bin", DATA))
        now = utcnow()
        again = Model(id=new_id(), name="churn", owner="w", created_by="w", created_at=now)
        again.updated_at = now
        session.add(again)

    with pytest.raises(IntegrityError), runtime.db.unit_of_work() as session:
        register_then_add_a_model_named_churn_again(session)
    assert versions(runtime) == []
    assert blob_files(runtime) == []


@pytest.mark.usefixtures("churn")
def test_an_upload_whose_commit_the_database_refuses_leaves_no_blob(
    client: TestClient, writer: dict[str, str], runtime: Runtime
) -> None:
    fail_commits_that_register_a_version(runtime)
    response = upload(client, writer, "churn", [("model.bin", DATA), ("vocab.txt", b"a b")])
    assert response.status_code == 500, response.text
    assert versions(runtime) == []
    assert blob_files(runtime) == []


@pytest.fixture
def lost_commit_answer(runtime: Runtime) -> Iterator[list[str]]:
    """The next COMMIT reaches the database and lands, but the client is told it failed (the
    connection broke before the answer came back)."""
    lost: list[str] = []

    def commit_then_break(connection: Connection) -> None:
        if lost:
            return
        connection.connection.dbapi_connection.commit()  # type: ignore[union-attr]
        lost.append("committed")
        raise ConnectionResetError("the connection broke before COMMIT's answer came back")

    event.listen(runtime.db.engine, "commit", commit_then_break)
    yield lost
    event.remove(runtime.db.engine, "commit", commit_then_break)


@pytest.mark.usefixtures("churn")
def test_a_commit_that_landed_though_its_answer_was_lost_keeps_its_blobs(
    runtime: Runtime, lost_commit_answer: list[str]
) -> None:
    with pytest.raises(ConnectionResetError), runtime.db.unit_of_work() as session:
        register(session, runtime, ("model.bin", DATA))
    assert lost_commit_answer == ["committed"]
    assert versions(runtime) == [1]  # the version is registered: its blob must stay
    with runtime.db.unit_of_work() as session:
        opened = registry.get_version(session, model_name="churn", version=1)
    assert [artifact.name for artifact in opened.artifacts] == ["model.bin"]
    assert len(blob_files(runtime)) == 1
    assert blob_files(runtime)[0].read_bytes() == DATA


@pytest.mark.usefixtures("churn")
def test_blobs_stay_when_the_database_cannot_say_whether_a_version_names_them(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Another transaction holds the model's row (as a commit still under way would) past the
    wait: an orphan blob is kept rather than an artifact's bytes lost."""
    if runtime.db.dialect != "postgresql":
        pytest.skip("SQLite's writers wait on the database lock for the 30 s busy timeout")
    monkeypatch.setattr(giveback, "GIVE_BACK_LOCK_TIMEOUT", "100ms")
    fail_commits_that_register_a_version(runtime)
    holder = runtime.db.engine.connect()

    def hold_the_row(session: Session) -> None:  # after the rollback, before the give-back
        if not holder.in_transaction():
            holder.execute(select(Model.id).where(Model.name == "churn").with_for_update())

    event.listen(runtime.db.sessions, "after_rollback", hold_the_row)
    try:
        with pytest.raises(IntegrityError), runtime.db.unit_of_work() as session:
            register(session, runtime, ("model.bin", DATA))
    finally:
        event.remove(runtime.db.sessions, "after_rollback", hold_the_row)
        holder.close()
    assert versions(runtime) == []
    assert [path.read_bytes() for path in blob_files(runtime)] == [DATA]
    assert "blobs of a registration that did not commit were kept" in caplog.text


@pytest.mark.usefixtures("churn")
def test_a_registration_whose_savepoint_rolls_back_leaves_no_blob_though_the_rest_commits(
    runtime: Runtime,
) -> None:
    # Only the end of the whole transaction was watched: it committed, so the blob stayed.
    with runtime.db.unit_of_work() as session:
        register(session, runtime, ("kept.bin", b"kept"))
        savepoint = session.begin_nested()
        register(session, runtime, ("model.bin", DATA))
        savepoint.rollback()
    assert versions(runtime) == [1]
    assert [path.read_bytes() for path in blob_files(runtime)] == [b"kept"]


@pytest.mark.usefixtures("churn")
def test_a_registration_whose_savepoint_is_released_keeps_its_blob(runtime: Runtime) -> None:
    with runtime.db.unit_of_work() as session:
        outer = session.begin_nested()
        inner = session.begin_nested()
        register(session, runtime, ("model.bin", DATA))
        inner.commit()
        outer.commit()
    assert versions(runtime) == [1]
    assert [path.read_bytes() for path in blob_files(runtime)] == [DATA]


@pytest.mark.usefixtures("churn")
def test_bytes_of_a_rolled_back_savepoint_registered_again_keep_their_blob(
    runtime: Runtime,
) -> None:
    # The second registration finds the first's blob and names it: the commit keeps it.
    with runtime.db.unit_of_work() as session:
        savepoint = session.begin_nested()
        register(session, runtime, ("model.bin", DATA))
        savepoint.rollback()
        register(session, runtime, ("again.bin", DATA))
    assert versions(runtime) == [1]
    with runtime.db.unit_of_work() as session:
        opened = registry.get_version(session, model_name="churn", version=1)
    assert [artifact.name for artifact in opened.artifacts] == ["again.bin"]
    assert [path.read_bytes() for path in blob_files(runtime)] == [DATA]


@pytest.mark.usefixtures("churn")
def test_the_same_bytes_registered_twice_in_a_transaction_that_fails_leave_no_blob(
    runtime: Runtime,
) -> None:
    # The second registration claimed the first's blob, and the claim kept it forever.
    fail_commits_that_register_a_version(runtime)

    def register_the_same_bytes_twice(session: Session) -> None:
        register(session, runtime, ("model.bin", DATA))
        register(session, runtime, ("copy.bin", DATA), ("vocab.txt", b"a b"))

    with pytest.raises(IntegrityError), runtime.db.unit_of_work() as session:
        register_the_same_bytes_twice(session)
    assert versions(runtime) == []
    assert blob_files(runtime) == []


@pytest.mark.usefixtures("churn")
def test_a_session_holds_one_pair_of_give_back_listeners_however_much_it_registers(
    runtime: Runtime,
) -> None:
    # Each registration added two listeners that stayed: 400 in one session made 800, and
    # every commit and transaction end called them all.
    session = runtime.db.sessions()
    try:
        before = len(session.dispatch.after_transaction_end)
        for number in range(5):
            register(session, runtime, ("model.bin", b"%d" % number))
            register(session, runtime, ("vocab.txt", b"v%d" % number))
            session.commit()
        assert len(session.dispatch.after_transaction_end) == before + 1
        assert len(session.dispatch.after_commit) == before + 1
        assert giveback.pending_blobs(session) == []
    finally:
        session.close()
    assert sorted(versions(runtime)) == list(range(1, 11))
    assert len(blob_files(runtime)) == 10
