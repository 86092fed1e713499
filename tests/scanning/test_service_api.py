"""Scanning over HTTP, and the gateway refusing a route's artifact whose signature fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlgate.app import create_app
from mlgate.errors import Conflict
from mlgate.runtime import Runtime
from mlgate.scanning.manifest import key_fingerprint
from tests.conftest import KeyFactory, bearer
from tests.scanning.factories import (
    approve_and_deploy,
    make_version,
    malicious_pickle,
    serve,
    sign,
    tamper,
    write_keypair,
)

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
IRIS_SCHEMA = {
    "type": "array",
    "items": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
}


@pytest.fixture(scope="session")
def iris_onnx() -> bytes:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(features, labels)
    converted = to_onnx(model, features[:1].astype("float32"), options={"zipmap": False})
    return converted.SerializeToString()


def test_scans_are_run_with_scan_write_and_read_with_registry_read(
    client: TestClient, runtime: Runtime, make_key: KeyFactory
) -> None:
    name, number = make_version(runtime, {"model.pkl": malicious_pickle()})
    base = f"/api/v1/models/{name}/versions/{number}"
    reader = bearer(make_key("registry:read"))
    assert client.post(f"{base}/scans", headers=reader).status_code == 403
    created = client.post(f"{base}/scans", headers=bearer(make_key("scan:write")))
    assert created.status_code == 201, created.text
    assert created.json()["max_severity"] == "critical"
    listed = client.get(f"{base}/scans", headers=reader)
    assert [s["id"] for s in listed.json()] == [created.json()["id"]]
    assert listed.json()[0]["findings"][0]["file"] == "model.pkl"
    missing = client.get(f"/api/v1/models/{name}/versions/7/scans", headers=reader)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_requirements_audit_and_waivers_over_http(
    client: TestClient, runtime: Runtime, make_key: KeyFactory
) -> None:
    name, number = make_version(runtime)
    base = f"/api/v1/models/{name}/versions/{number}"
    writer = bearer(make_key("scan:write", "registry:read"))
    assert client.get(f"{base}/requirements", headers=writer).status_code == 404
    put = client.put(f"{base}/requirements", json={"text": "requests==2.19.0\n"}, headers=writer)
    assert put.status_code == 200, put.text
    assert put.json()["status"] == "unknown"  # the test runtime has no advisory database
    assert client.get(f"{base}/security-audit", headers=writer).status_code == 404
    report = client.post(f"{base}/security-audit", headers=writer)
    assert report.status_code == 201, report.text
    finding = report.json()["findings"][0]
    assert finding["rule"] == "scan.missing"
    waiver = {"finding_id": finding["id"], "reason": "scanned out of band"}
    refused = client.post(f"{base}/security-audit/waivers", json=waiver, headers=writer)
    assert refused.status_code == 403
    assert refused.json()["type"] == "urn:mlgate:problem:forbidden"
    admin = bearer(make_key("admin"))
    assert (
        client.post(f"{base}/security-audit/waivers", json=waiver, headers=admin).status_code == 201
    )
    latest = client.get(f"{base}/security-audit", headers=writer).json()
    assert latest["findings"][-1]["id"] == finding["id"]
    assert latest["findings"][-1]["waived"]
    assert latest["max_severity"] == "medium"
    assert client.get(f"{base}/signature/verification", headers=writer).json()["verified"] is False


def test_a_tampered_signed_artifact_is_refused_and_the_route_answers_503(
    runtime: Runtime, make_key: KeyFactory, signing_keys: tuple[Path, Path], iris_onnx: bytes
) -> None:
    name, number = make_version(
        runtime, {"model.onnx": iris_onnx}, framework="onnx", input_schema=False
    )
    signed = sign(runtime, name, number, signing_keys[0])
    serve(runtime, name, number, require_signature=True)
    key = bearer(make_key("gateway:invoke"))
    path = f"/v1/routes/{name}/predict"
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        served = client.post(path, json={"inputs": ROWS}, headers=key)
        assert served.status_code == 200, served.text
        assert served.json()["version"] == number
    tamper(runtime, signed.manifest["model.onnx"])
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        refused = client.post(path, json={"inputs": ROWS}, headers=key)
        assert refused.status_code == 503, refused.text
        failed = client.app.state.gateway._pool.failed  # type: ignore[attr-defined]
    assert any("signature" in reason for reason in failed.values()), failed


def test_a_signature_route_refuses_a_signer_that_is_not_trusted(
    runtime: Runtime,
    make_key: KeyFactory,
    signing_keys: tuple[Path, Path],
    iris_onnx: bytes,
    tmp_path: Path,
) -> None:
    name, number = make_version(
        runtime, {"model.onnx": iris_onnx}, framework="onnx", input_schema=False
    )
    # A key of the signer's own: the bytes verify under it.
    sign(runtime, name, number, signing_keys[0])
    serve(runtime, name, number, require_signature=True)
    _, team = write_keypair(tmp_path, "release-team")
    settings = runtime.settings.model_copy(
        update={"trusted_signing_keys": key_fingerprint(team.read_text())}
    )
    strict = Runtime.from_settings(settings)
    key = bearer(make_key("gateway:invoke"))
    try:
        with TestClient(create_app(runtime=strict), raise_server_exceptions=False) as client:
            refused = client.post(f"/v1/routes/{name}/predict", json={"inputs": ROWS}, headers=key)
            assert refused.status_code == 503, refused.text
            failed = client.app.state.gateway._pool.failed  # type: ignore[attr-defined]
    finally:
        strict.close()
    assert any("MLGATE_TRUSTED_SIGNING_KEYS" in reason for reason in failed.values()), failed


def test_a_signature_route_refuses_unsigned_versions_and_names_one_deployed_later(
    runtime: Runtime, make_key: KeyFactory, signing_keys: tuple[Path, Path], iris_onnx: bytes
) -> None:
    name, v1 = make_version(
        runtime, {"model.onnx": iris_onnx}, framework="onnx", input_schema=False
    )
    with pytest.raises(Conflict, match=f"{name}@{v1} is not signed"):
        serve(runtime, name, v1, require_signature=True)  # refused when created, not per call
    sign(runtime, name, v1, signing_keys[0])
    serve(runtime, name, v1, require_signature=True)
    _, v2 = make_version(
        runtime, {"model.onnx": iris_onnx}, model=name, framework="onnx", input_schema=False
    )
    approve_and_deploy(runtime, name, v2)  # production moves to an approved, unsigned version
    key = bearer(make_key("gateway:invoke"))
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        response = client.post(f"/v1/routes/{name}/predict", json={"inputs": ROWS}, headers=key)
        ready = client.get("/readyz").json()
        route = client.app.state.gateway.table.routes[name]  # type: ignore[attr-defined]
    assert response.status_code == 503
    assert route.targets == ()
    (problem,) = ready["route_problems"][name]  # the operator sees why, not only the log
    assert f"{name}@{v2} is not signed" in problem
