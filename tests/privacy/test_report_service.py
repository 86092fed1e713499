"""Records of processing: purposes, detected categories, mode, retention, recipients; escaped."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from mlgate.app import create_app
from mlgate.auth.schemas import Principal
from mlgate.privacy import service
from mlgate.privacy.schemas import PurposeSet
from mlgate.runtime import Runtime
from tests.conftest import KeyFactory, bearer
from tests.privacy.conftest import CliRunner, flush_logs, refresh, serve_upstream_route
from tests.privacy.upstream import EchoUpstream

SCRIPT = "fraud <script>alert(1)</script>"


def _world(runtime: Runtime, echo: EchoUpstream, make_key: KeyFactory) -> str:
    serve_upstream_route(
        runtime, route="scoring", model="score-m", url=echo.url, log_mode="redacted"
    )
    serve_upstream_route(runtime, route="quiet", model="quiet-m", url=echo.url, log_mode="off")
    with runtime.db.unit_of_work() as session:
        service.set_purposes(
            session,
            route="scoring",
            purposes_in=PurposeSet(
                purposes=["fraud <script>alert(1)</script>"], legal_basis="contract"
            ),
            actor=Principal("dpo"),
        )
    key = make_key("gateway:invoke", "privacy:admin")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        refresh(client)
        sent = client.post(
            "/v1/routes/scoring/predict",
            json={"inputs": ["mail me: someone@example.com, card 4111 1111 1111 1111"]},
            headers=bearer(key),
        )
        assert sent.status_code == 200, sent.text
        flush_logs(client)
    return key


def test_report_lists_each_route_with_what_it_processes(
    runtime: Runtime, echo: EchoUpstream, make_key: KeyFactory
) -> None:
    _world(runtime, echo, make_key)
    with runtime.db.unit_of_work() as session:
        report = service.build_report(session, master_key="file:abc")
    records = {r.route: r for r in report.records}
    scoring = records["scoring"]
    assert scoring.purposes == ["fraud <script>alert(1)</script>"]
    assert scoring.legal_basis == "contract"
    assert {"EMAIL_ADDRESS", "CREDIT_CARD"} <= set(scoring.categories)
    assert scoring.log_mode == "redacted"
    assert scoring.retention_days == 30
    assert scoring.recipients == [f"{echo.url} [score-m@production]"]
    assert records["quiet"].categories == []
    assert records["quiet"].purposes == []
    html = report.to_html()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    markdown = report.to_markdown()
    assert "| scoring | score-m | fraud <script>alert(1)</script> | contract |" in markdown
    assert "not declared" in markdown


def test_report_over_http_and_cli(
    runtime: Runtime, echo: EchoUpstream, make_key: KeyFactory, cli: CliRunner, tmp_path: Path
) -> None:
    key = _world(runtime, echo, make_key)
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        html = client.get("/api/v1/privacy/report?format=html", headers=bearer(key))
        assert html.status_code == 200
        assert html.headers["content-type"].startswith("text/html")
        data = client.get("/api/v1/privacy/report", headers=bearer(key)).json()
        assert [r["route"] for r in data["records"]] == ["quiet", "scoring"]
        purposes = client.put(
            "/api/v1/privacy/routes/nope/purposes",
            json={"purposes": ["x"]},
            headers=bearer(key),
        )
        assert purposes.status_code == 404
    assert cli("privacy", "purpose", "quiet", "--purpose", "support").code == 0
    markdown = cli("privacy", "report")
    assert markdown.code == 0, markdown.err
    kept = tmp_path / "kept.md"
    kept.write_text("mine")
    assert cli("privacy", "report", "-o", str(kept)).code == 1  # never written over
    assert kept.read_text() == "mine"
    link, elsewhere = tmp_path / "link.md", tmp_path / "elsewhere.md"
    link.symlink_to(elsewhere)  # dangling: nothing "exists" there, but a write follows it
    assert cli("privacy", "report", "-o", str(link)).code == 1
    assert not elsewhere.exists()
    written = tmp_path / "report.md"
    assert cli("privacy", "report", "-o", str(written)).code == 0
    assert "| quiet | quiet-m | support |" in written.read_text()
    assert "| quiet | quiet-m | support |" in markdown.out
