"""The error shape is pinned: internal errors carry a request id and no traceback."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mlgate.app import create_app
from mlgate.runtime import Runtime


def test_internal_error_is_a_500_problem_without_internals(runtime: Runtime) -> None:
    app = create_app(runtime=runtime)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret-internal-detail")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    problem = response.json()
    assert problem["type"] == "urn:mlgate:problem:internal"
    assert problem["request_id"] == response.headers["x-request-id"]
    assert problem["request_id"] in problem["detail"]
    assert "secret-internal-detail" not in response.text
    assert "Traceback" not in response.text


def test_readyz_reports_pending_migrations(tmp_path: object) -> None:
    from pathlib import Path

    from mlgate.config import Settings

    settings = Settings(
        database_url=f"sqlite:///{Path(str(tmp_path)) / 'empty.db'}", data_dir=Path(str(tmp_path))
    )
    rt = Runtime.from_settings(settings)
    with TestClient(create_app(runtime=rt)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == "pending"
