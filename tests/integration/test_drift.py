"""Drift end to end on both databases: a reference over the API, the gateway counting what it
serves, the report, incidents, and the scopes that guard each."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient
from sklearn.datasets import load_iris
from sqlalchemy import text

from mlgate.readiness.providers import gather_facts
from mlgate.runtime import Runtime
from tests.conftest import KeyFactory, bearer

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
IRIS = load_iris().data
REFERENCE = "/api/v1/models/iris/versions/{version}/drift-reference"
MARK = 5.123457  # an input value that no count, time or id can contain


def set_reference(client: TestClient, key: str, version: int = 1) -> dict[str, object]:
    response = client.put(
        REFERENCE.format(version=version),
        json={"columns": FEATURES, "rows": IRIS.tolist(), "bins": 5},
        headers=bearer(key),
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def serve(client: TestClient, key: str, rows: np.ndarray, batch: int = 10) -> None:
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch].tolist()
        answer = client.post("/v1/routes/iris/predict", json={"inputs": chunk}, headers=bearer(key))
        assert answer.status_code == 200, answer.text
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    client.portal.call(gateway.drift.flush)  # type: ignore[union-attr]


def refresh(client: TestClient) -> None:
    client.portal.call(client.app.state.gateway.refresh)  # type: ignore[union-attr,attr-defined]


def test_a_shifted_input_distribution_is_reported_as_drift(
    gateway_client: TestClient, make_key: KeyFactory, runtime: Runtime
) -> None:
    writer, app_key, reader = (
        make_key("registry:write"),
        make_key("gateway:invoke"),
        make_key("routes:read"),
    )
    three = {"columns": FEATURES[:3], "rows": IRIS[:, :3].tolist(), "bins": 5}
    narrow = gateway_client.put(REFERENCE.format(version=1), json=three, headers=bearer(writer))
    assert narrow.status_code == 422  # the iris inputs are rows of four: nothing could be read
    assert narrow.json()["errors"][0]["field"] == "columns"
    profile = set_reference(gateway_client, writer)
    assert [f["name"] for f in profile["features"]] == FEATURES  # type: ignore[index]
    refresh(gateway_client)
    shifted = IRIS.copy()
    shifted[:, 2:] += [2.5, 1.5]  # longer and wider petals than the model ever saw
    serve(gateway_client, app_key, shifted)

    report = gateway_client.get("/api/v1/routes/iris/drift", headers=bearer(reader))

    assert report.status_code == 200, report.text
    body = report.json()
    assert body["drifted"] is True
    (target,) = body["targets"]
    assert (target["model"], target["version"]) == ("iris", 1)
    assert (target["rows"], target["requests"], target["unreadable"]) == (150, 15, 0)
    assert {f["name"] for f in target["features"] if f["drifted"]} == {
        "petal_length",
        "petal_width",
    }
    assert (target["status"], target["drift_share"]) == ("drift", 0.5)


def test_the_reference_distribution_itself_does_not_drift(
    gateway_client: TestClient, make_key: KeyFactory
) -> None:
    set_reference(gateway_client, make_key("registry:write"))
    refresh(gateway_client)
    serve(gateway_client, make_key("gateway:invoke"), IRIS)

    body = gateway_client.get(
        "/api/v1/routes/iris/drift", headers=bearer(make_key("routes:read"))
    ).json()

    assert body["drifted"] is False
    (target,) = body["targets"]
    assert target["status"] == "no_drift"
    assert all(f["psi"] < 0.01 for f in target["features"])


def test_too_few_rows_are_not_judged_and_stricter_rules_apply_when_asked(
    gateway_client: TestClient, make_key: KeyFactory
) -> None:
    set_reference(gateway_client, make_key("registry:write"))
    refresh(gateway_client)
    shifted = IRIS[:40] + 3.0
    serve(gateway_client, make_key("gateway:invoke"), shifted)
    reader = bearer(make_key("routes:read"))

    default = gateway_client.get("/api/v1/routes/iris/drift", headers=reader).json()
    judged = gateway_client.get(
        "/api/v1/routes/iris/drift", params={"min_rows": 20}, headers=reader
    ).json()
    refused = gateway_client.get(
        "/api/v1/routes/iris/drift", params={"threshold": 0}, headers=reader
    )

    assert default["targets"][0]["status"] == "not_enough_data"
    assert default["drifted"] is False
    assert judged["targets"][0]["status"] == "drift"
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "query.threshold"


def test_counts_hold_no_input_value(
    gateway_client: TestClient, make_key: KeyFactory, runtime: Runtime
) -> None:
    set_reference(gateway_client, make_key("registry:write"))
    refresh(gateway_client)
    rows = IRIS[:20].copy()
    rows[:, 0] = MARK
    serve(gateway_client, make_key("gateway:invoke"), rows)

    with runtime.db.engine.connect() as connection:
        stored = connection.execute(text("SELECT * FROM drift_counts")).mappings().all()
    assert len(stored) == 1
    assert str(MARK) not in " ".join(str(value) for value in stored[0].values())


def test_counts_of_a_replaced_reference_are_not_compared_with_the_new_one(
    gateway_client: TestClient, make_key: KeyFactory
) -> None:
    writer, app_key = make_key("registry:write"), make_key("gateway:invoke")
    set_reference(gateway_client, writer)
    refresh(gateway_client)
    serve(gateway_client, app_key, IRIS)
    set_reference(gateway_client, writer)  # replaced: new bins

    body = gateway_client.get(
        "/api/v1/routes/iris/drift", headers=bearer(make_key("routes:read"))
    ).json()

    (target,) = body["targets"]
    assert target["status"] == "no_reference"
    assert target["requests"] == 15


def test_drift_opens_one_incident_per_cause(
    gateway_client: TestClient, make_key: KeyFactory
) -> None:
    set_reference(gateway_client, make_key("registry:write"))
    refresh(gateway_client)
    serve(gateway_client, make_key("gateway:invoke"), IRIS + 3.0)
    responder = bearer(make_key("incidents:write"))
    path = "/api/v1/routes/iris/drift/incidents"

    assert gateway_client.post(path, headers=bearer(make_key("routes:read"))).status_code == 403
    first = gateway_client.post(path, headers=responder)
    again = gateway_client.post(path, headers=responder)

    assert first.status_code == 200, first.text
    (incident,) = first.json()
    assert incident["title"] == "Data drift on route iris (iris@1)"
    assert incident["affected_routes"] == ["iris"]
    assert [i["id"] for i in again.json()] == [incident["id"]]


def test_reference_and_report_need_their_scopes(
    gateway_client: TestClient, make_key: KeyFactory
) -> None:
    body = {"columns": FEATURES, "rows": IRIS.tolist()}
    reference = REFERENCE.format(version=1)
    assert gateway_client.put(reference, json=body).status_code == 401
    reader = bearer(make_key("registry:read"))
    assert gateway_client.put(reference, json=body, headers=reader).status_code == 403
    assert gateway_client.get(reference, headers=reader).status_code == 404
    for path in ("/api/v1/routes/iris/drift", "/api/v1/routes/iris/drift.html"):
        assert gateway_client.get(path).status_code == 401
        assert gateway_client.get(path, headers=reader).status_code == 403


def test_a_bad_reference_names_the_field_and_keeps_the_old_one(
    gateway_client: TestClient, make_key: KeyFactory
) -> None:
    writer = bearer(make_key("registry:write"))
    set_reference(gateway_client, make_key("registry:write"))
    reference = REFERENCE.format(version=1)

    short = gateway_client.put(
        reference, json={"columns": FEATURES, "rows": IRIS[:5].tolist()}, headers=writer
    )
    ragged = gateway_client.put(
        reference, json={"columns": FEATURES, "rows": [[1.0, 2.0]] * 200}, headers=writer
    )
    unknown = gateway_client.put(
        REFERENCE.format(version=9),
        json={"columns": FEATURES, "rows": IRIS.tolist()},
        headers=writer,
    )

    assert short.status_code == 422
    assert short.json()["errors"][0]["field"] == "rows"
    assert ragged.status_code == 422
    assert ragged.json()["errors"][0]["field"] == "rows[0]"
    assert unknown.status_code == 404
    kept = gateway_client.get(reference, headers=writer).json()
    assert kept["rows"] == 150


def test_drift_page_is_html_with_charts(gateway_client: TestClient, make_key: KeyFactory) -> None:
    set_reference(gateway_client, make_key("registry:write"))
    refresh(gateway_client)
    serve(gateway_client, make_key("gateway:invoke"), IRIS + 3.0)

    page = gateway_client.get(
        "/api/v1/routes/iris/drift.html", headers=bearer(make_key("routes:read"))
    )

    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "<svg" in page.text
    assert "petal_length" in page.text
    assert "<script" not in page.text


def test_readiness_sees_the_drift_monitor(
    gateway_client: TestClient, make_key: KeyFactory, runtime: Runtime
) -> None:
    def monitoring() -> tuple[bool | None, bool | None]:
        with runtime.db.unit_of_work() as session:
            facts = gather_facts(session, model="iris", version=1).monitoring
        return facts.drift_monitor, facts.metrics_exported

    assert monitoring() == (False, True)  # route "iris" serves it: its metrics are exported
    set_reference(gateway_client, make_key("registry:write"))
    assert monitoring() == (True, True)
