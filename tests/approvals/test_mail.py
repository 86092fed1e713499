"""Approval events by e-mail, sent to a minimal SMTP sink on loopback."""

from __future__ import annotations

import email
import socketserver
import threading
from collections.abc import Iterator

import pytest

from mlgate.approvals import service
from mlgate.approvals.mail import SmtpNotifier, mail_pending
from mlgate.runtime import Runtime
from tests.approvals.conftest import REQUESTER, VersionFactory, reviewer

MAX_LINES = 10_000


class SmtpSink(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), SmtpHandler)
        self.messages: list[bytes] = []
        self.lock = threading.Lock()


class SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: greet, accept every command, keep each DATA block."""

    def handle(self) -> None:
        server = self.server
        assert isinstance(server, SmtpSink)
        self.wfile.write(b"220 sink\r\n")
        for _ in range(MAX_LINES):
            line = self.rfile.readline()
            if not line:
                return
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb == b"DATA":
                self.wfile.write(b"354 go on\r\n")
                body = []
                for _ in range(MAX_LINES):
                    data = self.rfile.readline()
                    if data in (b".\r\n", b""):
                        break
                    body.append(data)
                with server.lock:
                    server.messages.append(b"".join(body))
                self.wfile.write(b"250 kept\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_each_event_is_mailed_once(
    runtime: Runtime, make_version: VersionFactory, sink: SmtpSink
) -> None:
    name, number = make_version()
    with runtime.db.unit_of_work() as session:
        request_id = service.request_review(
            session, model_name=name, version=number, requester=REQUESTER, comment="please"
        ).id
    notifier = SmtpNotifier(
        host="127.0.0.1",
        port=sink.server_address[1],
        sender="mlgate@example.com",
        recipients=("reviewers@example.com",),
    )
    assert mail_pending(runtime.db, notifier) == 1
    with runtime.db.unit_of_work() as session:
        service.reject(
            session, request_id=request_id, reviewer=reviewer("dana", "data"), comment="no"
        )
    assert mail_pending(runtime.db, notifier) == 1
    assert mail_pending(runtime.db, notifier) == 0  # nothing new
    messages = [email.message_from_bytes(raw) for raw in sink.messages]
    assert [m["Subject"] for m in messages] == [
        f"[mlgate] approval.requested {name}@{number}",
        f"[mlgate] approval.rejected {name}@{number}",
    ]
    assert "by:      dana" in messages[1].get_payload()


def test_a_failed_send_leaves_the_events_for_the_next_call(
    runtime: Runtime, make_version: VersionFactory, sink: SmtpSink
) -> None:
    name, number = make_version()
    with runtime.db.unit_of_work() as session:
        service.request_review(session, model_name=name, version=number, requester=REQUESTER)
    port = sink.server_address[1]
    sink.shutdown()
    sink.server_close()  # nothing listens on the port any more
    down = SmtpNotifier(host="127.0.0.1", port=port, sender="a@example.com", recipients=("b@x",))
    with pytest.raises(OSError):
        mail_pending(runtime.db, down)
    up = SmtpSink()
    thread = threading.Thread(target=up.serve_forever, daemon=True)
    thread.start()
    try:
        notifier = SmtpNotifier(
            host="127.0.0.1", port=up.server_address[1], sender="a@example.com", recipients=("b@x",)
        )
        assert mail_pending(runtime.db, notifier) == 1
        assert len(up.messages) == 1
    finally:
        up.shutdown()
        up.server_close()
        thread.join(timeout=10)
