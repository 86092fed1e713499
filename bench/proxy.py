"""The ceiling of any Python gateway here: a bare ASGI proxy on one uvicorn worker, no logic.

It forwards each POST body to the upstream with mlgate's own HTTP/1.1 client and returns the
answer, served with `mlgate serve`'s uvicorn settings (its coalesced writes included): no keys,
limits, validation, resilience, metrics or logs. Whatever mlgate does beyond
this costs throughput; what this itself reaches is the most one Python worker can.

    python bench/proxy.py PORT UPSTREAM_URL
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

from mlgate.gateway.backends.wire import Http1Client, Origin, request_head
from mlgate.server import server_config

HEADERS = [(b"content-type", b"application/json")]


def proxy(upstream: str) -> Any:
    origin, path = Origin.of(upstream)
    head = request_head(origin, path, {"Content-Type": "application/json"})
    client = Http1Client()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        answer = await client.post(origin, head, body)
        headers = [*HEADERS, (b"content-length", str(len(answer.body)).encode())]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    return app


if __name__ == "__main__":
    config = server_config(
        proxy(sys.argv[2]),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        lifespan="off",
    )
    uvicorn.Server(config).run()
