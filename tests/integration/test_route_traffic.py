"""GET /api/v1/routes/{name}/traffic(.html): the route traffic report over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mlgate.runtime import Runtime
from tests.conftest import KeyFactory, bearer
from tests.monitoring.conftest import Logged, insert_logs

BASE = "/api/v1/routes/churn"
START = datetime(2026, 6, 1, 11, 0, tzinfo=UTC)
WINDOW = {"since": "2026-06-01T11:00:00Z", "until": "2026-06-01T12:00:00Z"}
MINUTE = timedelta(minutes=1)
HOSTILE = '<script>alert("x")</script>'


@pytest.fixture
def reader(make_key: KeyFactory) -> dict[str, str]:
    return bearer(make_key("routes:read"))


@pytest.fixture
def logs(runtime: Runtime) -> list[Logged]:
    rows = [
        Logged(at=START + i * MINUTE, latency_ms=float(5 + 3 * i), target="churn@1")
        for i in range(30)
    ]
    rows += [
        Logged(at=START + (30 + i) * MINUTE, latency_ms=float(100 + i), target=HOSTILE)
        for i in range(10)
    ]
    rows += [
        Logged(
            at=START + 45 * MINUTE, latency_ms=900.0, outcome="unavailable", status=503, target=None
        ),
        Logged(at=START + 50 * MINUTE, latency_ms=2.0, outcome="degraded_static", target=None),
        Logged(at=START + 55 * MINUTE, latency_ms=40.0, outcome="client_closed"),
        Logged(at=START + 60 * MINUTE, latency_ms=1.0),  # at until: outside the window
    ]
    insert_logs(runtime, rows)
    return rows[:-1]


@pytest.mark.parametrize("path", [f"{BASE}/traffic", f"{BASE}/traffic.html"])
def test_traffic_needs_a_key_with_routes_read(
    client: TestClient, make_key: KeyFactory, path: str
) -> None:
    missing = client.get(path)
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    refused = client.get(path, headers=bearer(make_key("registry:read", "metrics:read")))
    assert refused.status_code == 403
    assert refused.json()["type"] == "urn:mlgate:problem:forbidden"


def test_json_report_has_the_windows_numbers(
    client: TestClient, reader: dict[str, str], logs: list[Logged]
) -> None:
    response = client.get(f"{BASE}/traffic", params={**WINDOW, "buckets": 4}, headers=reader)

    assert response.status_code == 200, response.text
    report = response.json()
    latencies = [log.latency_ms for log in logs]
    assert report["requests"] == 43
    assert report["bucket_seconds"] == 900.0
    for q in (50, 90, 99):
        expected = float(np.percentile(latencies, q))
        assert report["latency_ms"][f"p{q}"] == pytest.approx(expected, abs=5e-4)
    assert report["latency_ms"]["max"] == 900.0
    assert (report["errors"], report["degraded"], report["client_closed"]) == (1, 1, 1)
    assert report["error_share"] == pytest.approx(1 / 43)
    assert report["statuses"] == {"200": 42, "503": 1}
    assert [b["requests"] for b in report["timeline"]] == [15, 15, 10, 3]
    assert report["timeline"][1]["start"] == "2026-06-01T11:15:00Z"
    targets = {t["target"]: t for t in report["targets"]}
    assert targets["churn@1"]["requests"] == 31
    assert targets["-"]["requests"] == 2
    assert targets[HOSTILE]["p50"] == pytest.approx(104.5)


def test_html_page_draws_three_charts_and_escapes_target_names(
    client: TestClient, reader: dict[str, str], logs: list[Logged]
) -> None:
    page = client.get(f"{BASE}/traffic.html", params=WINDOW, headers=reader)

    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert html.count("<svg ") == 3
    assert '<rect class="error"' in html
    assert '<polyline class="p99"' in html
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_since_may_be_relative_to_now(
    client: TestClient, reader: dict[str, str], runtime: Runtime
) -> None:
    now = datetime.now(UTC)
    insert_logs(
        runtime,
        [
            Logged(at=now - 30 * MINUTE, latency_ms=1.0),
            Logged(at=now - 90 * MINUTE, latency_ms=1.0),
        ],
    )

    hour = client.get(f"{BASE}/traffic", params={"since": "1h"}, headers=reader)
    default = client.get(f"{BASE}/traffic", headers=reader)
    two_hours = client.get(f"{BASE}/traffic", params={"since": "2h"}, headers=reader)

    assert hour.status_code == 200, hour.text
    assert hour.json()["requests"] == 1
    assert default.json()["requests"] == 1
    assert two_hours.json()["requests"] == 2


def test_an_unencoded_plus_in_a_timestamp_still_parses(
    client: TestClient, reader: dict[str, str], logs: list[Logged]
) -> None:
    query = "since=2026-06-01T13:00:00+02:00&until=2026-06-01T14:00:00+02:00"
    response = client.get(f"{BASE}/traffic?{query}", headers=reader)

    assert response.status_code == 200, response.text
    assert response.json()["requests"] == 43


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "soon"}, "until"),
        ({"since": "2026-06-01T12:00:00Z", "until": "2026-06-01T11:00:00Z"}, "since"),
        ({"buckets": 0}, "buckets"),
        ({"buckets": 501}, "buckets"),
    ],
)
def test_bad_windows_are_422_naming_the_field(
    client: TestClient,
    reader: dict[str, str],
    logs: list[Logged],
    params: dict[str, object],
    field: str,
) -> None:
    for path in (f"{BASE}/traffic", f"{BASE}/traffic.html"):
        response = client.get(path, params=params, headers=reader)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"] == "urn:mlgate:problem:invalid"
        assert [e["field"] for e in problem["errors"]] == [field]


def test_an_unknown_route_is_404(client: TestClient, reader: dict[str, str]) -> None:
    response = client.get("/api/v1/routes/nope/traffic", headers=reader)

    assert response.status_code == 404
    assert response.json()["type"] == "urn:mlgate:problem:not-found"
