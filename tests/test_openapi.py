"""The OpenAPI document tells a client what the server does: the key, its scope, the errors."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from mlgate.app import create_app
from mlgate.auth.schemas import Scope
from mlgate.runtime import Runtime
from tests.conftest import KeyFactory, bearer

OPEN = {"/healthz", "/readyz"}
PROBLEM = {"$ref": "#/components/schemas/Problem"}


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


def test_every_operation_but_health_needs_the_key_and_names_its_scope(
    client: TestClient,
) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    scopes = {s.value for s in Scope}
    for path, method, operation in operations(spec):
        if path in OPEN:
            assert "security" not in operation, path
            continue
        assert operation["security"] == [{"apiKey": []}], f"{method} {path}"
        assert operation["x-mlgate-scope"] in scopes, f"{method} {path}"
        assert f"`{operation['x-mlgate-scope']}`" in operation["description"]
    named = {(p, m): o["x-mlgate-scope"] for p, m, o in operations(spec) if p not in OPEN}
    assert named[("/api/v1/models", "post")] == "registry:write"
    assert named[("/api/v1/models/{name}/versions/{version}/artifacts/{artifact}", "get")] == (
        "registry:read"
    )
    assert named[("/v1/routes/{route}/predict", "post")] == "gateway:invoke"
    assert named[("/v1/chat/completions", "post")] == "gateway:invoke"


def test_the_scope_an_operation_names_is_the_one_it_accepts(
    client: TestClient, make_key: KeyFactory
) -> None:
    spec = client.get("/openapi.json").json()
    keys: dict[str, str] = {}
    for path, method, operation in operations(spec):
        if path in OPEN or path.startswith("/v1/"):  # the client endpoints: contract test
            continue
        scope = operation["x-mlgate-scope"]
        key = keys.setdefault(scope, make_key(scope))
        url = re.sub(r"\{[^}]+\}", "1", path)
        response = client.request(method.upper(), url, headers=bearer(key))
        assert response.status_code not in (401, 403), f"{method} {path}: {response.text}"


def test_every_operation_documents_its_errors_as_problems(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "request_id"} <= set(problem["required"])
    for path, method, operation in operations(spec):
        responses = operation["responses"]
        documented = ["default"] + (["401", "403"] if path not in OPEN else [])
        for status in documented:
            content = responses[status]["content"]
            assert content == {"application/problem+json": {"schema": PROBLEM}}, (
                f"{method} {path} {status}"
            )
        if "422" in responses:
            assert "application/problem+json" in responses["422"]["content"], f"{method} {path}"
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_a_problem_carries_every_field_the_document_requires(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    required = set(spec["components"]["schemas"]["Problem"]["required"])
    response = client.get("/api/v1/models")
    assert response.status_code == 401
    assert required <= set(response.json())


def test_the_documentation_is_not_served_when_turned_off(runtime: Runtime) -> None:
    settings = runtime.settings.model_copy(update={"api_docs": False})
    with TestClient(create_app(settings=settings, runtime=runtime)) as client:
        for path in ("/openapi.json", "/docs", "/redoc"):
            assert client.get(path).status_code == 404, path
