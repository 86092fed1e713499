"""A real model server on 127.0.0.1 for privacy tests: echoes inputs, or fails echoing headers.

``/predict`` answers ``{"outputs": <inputs>}`` in mode "ok"; in mode "fail" it answers 500 with
every request header in the body — the worst upstream for a secret, so a leak test can show
the gateway never passes such a body on. Every request's headers are recorded.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class EchoUpstream:
    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.seen_headers: list[dict[str, str]] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body: Any = json.loads(self.rfile.read(length) or b"{}")
                headers = dict(self.headers.items())
                upstream.seen_headers.append(headers)
                if upstream.fail:
                    self._answer(500, {"error": "boom", "headers": headers})
                else:
                    self._answer(200, {"outputs": body.get("inputs")})

            def _answer(self, status: int, value: Any) -> None:
                data = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: the test reads our logs, not the fake server's

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> EchoUpstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
