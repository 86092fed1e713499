"""Fixtures every test can use: a migrated store on SQLite *and* PostgreSQL, runtimes, keys.

Each database test runs twice (``db_url`` is parametrized). A template is migrated once per
session; every test gets its own copy (a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on
PostgreSQL), so tests are isolated and may run in parallel processes.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import hypothesis
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine, text

from mlgate.app import create_app
from mlgate.auth import service as auth
from mlgate.auth.schemas import ApiKeyCreate, Principal, Scope
from mlgate.config import Settings
from mlgate.privacy.keys import PrivacyKeys
from mlgate.runtime import Runtime
from mlgate.store.database import Database
from mlgate.store.migrate import upgrade

# Wall-clock deadlines per example make property tests flaky on a busy 2-core machine; the
# properties are about behaviour, not speed (speed is measured in bench/).
hypothesis.settings.register_profile(
    "mlgate", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("mlgate")

PG_ADMIN_URL = "postgresql+psycopg://127.0.0.1:5432/test"
TEST_SECRET = "test-secret-" + "x" * 40


def _pg_url(name: str) -> str:
    return f"postgresql+psycopg://127.0.0.1:5432/{name}"


def _pg_admin(statement: str) -> None:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db.engine)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = f"mlgate_tpl_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    db = Database(_pg_url(name))
    upgrade(db.engine)
    db.dispose()
    yield name
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty store; the test runs once per database."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "mlgate.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    template_name: str = request.getfixturevalue("pg_template")
    name = f"mlgate_t_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    yield _pg_url(name)
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        secret_key=SecretStr(TEST_SECRET),
        max_upload_bytes=1024 * 1024,
    )


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.from_settings(settings)
    yield rt
    rt.close()


@pytest.fixture
def db(runtime: Runtime) -> Database:
    return runtime.db


@pytest.fixture
def admin() -> Principal:
    return Principal(name="alice", scopes=frozenset({"admin"}))


KeyFactory = Callable[..., str]


@pytest.fixture
def make_key(runtime: Runtime, admin: Principal) -> KeyFactory:
    """Issue a key and return its value: ``make_key("registry:read", owner="bob")``."""

    def issue(
        *scopes: str, owner: str = "alice", groups: tuple[str, ...] = (), **extra: object
    ) -> str:
        key_in = ApiKeyCreate(
            name=f"test-{uuid.uuid4().hex[:6]}",
            owner=owner,
            scopes=[Scope(s) for s in scopes],
            groups=list(groups),
            **extra,  # type: ignore[arg-type]
        )
        with runtime.db.unit_of_work() as session:
            issued = auth.create(session, secret=runtime.secret, key_in=key_in, actor=admin)
        return issued.key.get_secret_value()

    return issue


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as test_client:
        yield test_client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def control(settings: Settings) -> Iterator[tuple[Runtime, PrivacyKeys]]:
    """The control plane (or ``mlgate privacy erase``): another process's handles on the stores."""
    runtime = Runtime.from_settings(settings)
    keys = PrivacyKeys(runtime)
    yield runtime, keys
    keys.close()
    runtime.close()
