"""Webhooks cannot reach internal addresses (SSRF) unless the operator lists them.

Refused when registered (a literal internal address, ``localhost``) and again when each delivery
is sent: the host is resolved once, every address is checked, and the POST goes to a checked
address, so a DNS answer that changes in between (rebinding) cannot redirect it.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.orm import Session

from mlgate.app import create_app
from mlgate.approvals import outbox
from mlgate.approvals.egress import AddressRefused, PinnedTransport
from mlgate.approvals.schemas import WebhookCreate
from mlgate.cli.main import run
from mlgate.config import Settings
from mlgate.errors import Invalid
from mlgate.netaddr import Allowlist, IPAddress
from mlgate.runtime import Runtime
from tests.approvals.conftest import ADMIN
from tests.approvals.receivers import QuietHandler, serving
from tests.conftest import KeyFactory, bearer

SETTING = "MLGATE_WEBHOOK_ALLOWED_HOSTS"
LOOPBACK = Allowlist.parse("127.0.0.1,::1")  # the setting on, for receivers on this machine

INTERNAL_URLS = [
    "http://127.0.0.1:8080/hook",
    "http://127.1/hook",  # 127.0.0.1, written short
    "http://2130706433/hook",  # and as one number
    "http://169.254.169.254/latest/meta-data/",  # the cloud metadata service
    "http://10.0.0.5/hook",
    "http://172.16.3.4/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",  # carrier-grade NAT (tailnets)
    "http://0.0.0.0:8000/hook",
    "http://[::1]:8000/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:169.254.169.254]/hook",
    "http://[64:ff9b::a9fe:a9fe]/hook",  # the metadata service through NAT64
    "http://[fe80::1]/hook",
    "http://[fd00::1]/hook",
    "http://[::]/hook",
    "http://localhost:8000/hook",
    "http://LocalHost./hook",
    "http://admin.localhost/hook",
]


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_internal_hosts_are_refused_when_a_webhook_is_created(url: str) -> None:
    with pytest.raises(Invalid) as refused:
        outbox.create_subscription(
            Session(),  # refused before the store is touched
            server_secret=b"s" * 32,
            webhook_in=WebhookCreate(url=url),
            actor=ADMIN,
        )
    assert [e.field for e in refused.value.errors] == ["url"]
    assert "internal addresses" in refused.value.detail
    assert SETTING in refused.value.detail  # says how to allow it


def test_refusal_over_http_is_a_problem_naming_url_and_keeps_credentials_out(
    client: TestClient, make_key: KeyFactory
) -> None:
    admin = bearer(make_key("admin"))
    for url in (
        "http://bot:pa55word@169.254.169.254/latest/meta-data/?token=t0ken",
        "http://[::1]:8000/hook",
        "http://[::ffff:127.0.0.1]:8000/hook",
    ):
        refused = client.post("/api/v1/webhooks", json={"url": url}, headers=admin)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in refused.json()["errors"]] == ["url"]
        for secret in ("pa55word", "t0ken"):
            assert secret not in refused.text
    assert client.get("/api/v1/webhooks", headers=admin).json() == []
    for url in ("https://hooks.example.com/services/T0", "http://93.184.216.34/h"):
        created = client.post("/api/v1/webhooks", json={"url": url}, headers=admin)
        assert created.status_code == 201, created.text


def test_listed_internal_hosts_may_be_registered_and_nothing_else(
    settings: Settings, make_key: KeyFactory
) -> None:
    allowing = settings.model_copy(update={"webhook_allowed_hosts": "127.0.0.1, hooks.internal"})
    runtime = Runtime.from_settings(allowing)
    admin = bearer(make_key("admin"))
    try:
        with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
            for url in ("http://127.0.0.1:9/hook", "http://hooks.internal/h"):
                created = client.post("/api/v1/webhooks", json={"url": url}, headers=admin)
                assert created.status_code == 201, created.text
            for url in ("http://127.0.0.2:9/hook", "http://169.254.169.254/", "http://localhost/"):
                refused = client.post("/api/v1/webhooks", json={"url": url}, headers=admin)
                assert refused.status_code == 422, refused.text
    finally:
        runtime.close()


def test_cli_refuses_an_internal_url_in_one_line_unless_the_setting_allows_it(
    cli_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["webhooks", "create", "http://169.254.169.254/latest/meta-data/"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: url: webhooks may not reach internal addresses")
    assert len(err.strip().splitlines()) == 1
    monkeypatch.setenv(SETTING, "169.254.169.254")
    assert run(["webhooks", "create", "http://169.254.169.254/latest/meta-data/"]) == 0
    monkeypatch.setenv(SETTING, "10.0.0.5/8")  # host bits after the /: a typo, refused
    assert run(["webhooks", "list"]) == 1
    err = capsys.readouterr().err
    assert "MLGATE_WEBHOOK_ALLOWED_HOSTS" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("value", ["10.0.0.5/8", "*,10.0.0.0/8", "hooks internal", "http://x/"])
def test_a_malformed_allowlist_is_refused_at_start(value: str) -> None:
    with pytest.raises(ValidationError, match="webhook_allowed_hosts"):
        Settings(webhook_allowed_hosts=value)


# --- delivery --------------------------------------------------------------------------------


@dataclass
class Receiver:
    """Answers 204, or 307 to /redirect; keeps each request's path and Host header."""

    url: str = ""
    seen: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                state.seen.append((self.path, self.headers["Host"]))
            if self.path == "/redirect":
                self.send_response(307)
                self.send_header("Location", f"{state.url}/followed")
            else:
                self.send_response(204)
            self.end_headers()

    with serving(Handler) as port:
        state.url = f"http://127.0.0.1:{port}"
        yield state


def _port(receiver: Receiver) -> int:
    return int(receiver.url.rsplit(":", 1)[1])


def _subscribe(runtime: Runtime, url: str, allowed: Allowlist) -> str:
    with runtime.db.unit_of_work() as session:
        created = outbox.create_subscription(
            session,
            server_secret=runtime.secret,
            webhook_in=WebhookCreate(url=url),
            actor=ADMIN,
            allowed=allowed,
        )
        outbox.emit(session, event_type="alias.deployed", subject="m:production", payload={})
    return created.id


def _only_delivery(runtime: Runtime, subscription_id: str) -> outbox.DeliveryRead:
    with runtime.db.unit_of_work() as session:
        (delivery,) = outbox.list_deliveries(session, subscription_id=subscription_id)
    return delivery


def test_a_name_resolving_to_loopback_is_refused_at_delivery_unless_allowed(
    runtime: Runtime, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """Registered while it was allowed, then the setting was turned off: each delivery checks
    again, and a refusal is final (dead at once, not retried), with a reason and no secrets."""
    url = f"http://bot:s3cret@localhost:{_port(receiver)}/hook?token=t0ken"
    subscription_id = _subscribe(runtime, url, Allowlist.parse("localhost"))
    now = datetime.now(UTC)

    report = outbox.deliver_due(runtime.db, server_secret=runtime.secret, now=now)
    assert (report.attempted, report.dead) == (1, 1)
    refused = _only_delivery(runtime, subscription_id)
    assert (refused.state, refused.attempts, refused.next_attempt_at) == ("dead", 1, None)
    assert refused.last_error is not None
    assert "localhost resolves to" in refused.last_error
    assert "loopback" in refused.last_error
    assert SETTING in refused.last_error
    logged = " ".join(str(vars(record)) for record in caplog.records)
    for secret in ("s3cret", "t0ken"):
        assert secret not in refused.last_error
        assert secret not in logged
    assert receiver.seen == []
    later = now + timedelta(days=1)
    assert outbox.deliver_due(runtime.db, server_secret=runtime.secret, now=later).attempted == 0

    with runtime.db.unit_of_work() as session:
        outbox.retry_delivery(session, delivery_id=refused.id, actor=ADMIN, now=later)
    report = outbox.deliver_due(
        runtime.db, server_secret=runtime.secret, now=later, allowed=LOOPBACK
    )
    assert report.delivered == 1
    assert _only_delivery(runtime, subscription_id).state == "delivered"
    assert receiver.seen == [("/hook?token=t0ken", f"localhost:{_port(receiver)}")]


def test_delivery_connects_to_the_address_it_checked_not_a_second_dns_answer(
    runtime: Runtime, receiver: Receiver
) -> None:
    """DNS rebinding: the first answer passes the check, every later one is the metadata
    service. The POST must reach the first; the name alone is never resolved by anyone else
    (rebind.test exists in no DNS), and the receiver still sees it in the Host header."""
    answers: list[str] = []

    def rebinding_dns(host: str, port: int) -> list[IPAddress]:
        answers.append(host)
        first = len(answers) == 1
        return [ipaddress.ip_address("127.0.0.1" if first else "169.254.169.254")]

    url = f"http://rebind.test:{_port(receiver)}/hook"
    subscription_id = _subscribe(runtime, url, Allowlist())  # names are checked at delivery
    transport = PinnedTransport(Allowlist.parse("127.0.0.1"), resolver=rebinding_dns)
    with httpx.Client(transport=transport) as client:
        report = outbox.deliver_due(runtime.db, server_secret=runtime.secret, client=client)
    assert report.delivered == 1, _only_delivery(runtime, subscription_id).last_error
    assert answers == ["rebind.test"]
    assert receiver.seen == [("/hook", f"rebind.test:{_port(receiver)}")]


@pytest.mark.parametrize(
    "answer",
    [
        ["127.0.0.1"],
        ["::1"],
        ["::ffff:127.0.0.1"],
        ["169.254.169.254"],
        ["93.184.216.34", "10.1.2.3"],  # one public address does not excuse the other
    ],
)
def test_every_resolved_address_is_checked_before_connecting(answer: list[str]) -> None:
    def dns(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address(a) for a in answer]

    with (
        httpx.Client(transport=PinnedTransport(Allowlist(), resolver=dns)) as client,
        pytest.raises(
            AddressRefused, match=re.escape(f"resolves to {ipaddress.ip_address(answer[-1])},")
        ),
    ):
        client.post("https://hooks.example.com/hook", content=b"{}")


def test_redirects_are_not_followed(runtime: Runtime, receiver: Receiver) -> None:
    subscription_id = _subscribe(runtime, f"{receiver.url}/redirect", LOOPBACK)
    report = outbox.deliver_due(runtime.db, server_secret=runtime.secret, allowed=LOOPBACK)
    assert report.failed == 1
    delivery = _only_delivery(runtime, subscription_id)
    assert (delivery.state, delivery.last_status) == ("pending", 307)
    assert delivery.last_error == "receiver answered 307"
    assert [path for path, _ in receiver.seen] == ["/redirect"]


# --- TLS: the pinned connection still verifies the certificate against the URL's name ---------


def _self_signed(tmp_path: Path, name: str) -> tuple[Path, Path, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_file, key_file = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_file.write_bytes(pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file, pem.decode()


@pytest.mark.parametrize(("served", "accepted"), [("receiver.test", True), ("other.test", False)])
def test_tls_to_the_pinned_address_checks_the_certificate_for_the_urls_name(
    tmp_path: Path, served: str, accepted: bool
) -> None:
    cert_file, key_file, pem = _self_signed(tmp_path, served)
    server_names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)  # type: ignore[assignment,misc]

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

    with serving(Handler, tls=context) as port:
        trust = ssl.create_default_context(cadata=pem)
        transport = PinnedTransport(
            Allowlist.parse("127.0.0.1"),
            resolver=lambda host, port: [ipaddress.ip_address("127.0.0.1")],
            verify=trust,
        )
        url = f"https://receiver.test:{port}/hook"
        with httpx.Client(transport=transport) as client:
            if accepted:
                assert client.post(url, content=b"{}").status_code == 204
            else:
                with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                    client.post(url, content=b"{}")
        assert server_names == ["receiver.test"]
