"""The floor of an artifact upload and download over HTTP here: a bare ASGI file server.

POST /NAME writes the raw body (no multipart, no hashing, no database) to DIR/NAME and fsyncs
it; GET /NAME streams the file back in 1 MiB chunks, from the offset of a ``Range: bytes=A-``.
It runs with `mlgate serve`'s uvicorn settings and writes on the event loop (one client at a
time): whatever the registry does beyond this costs throughput. It reads each chunk in a worker
thread, as Starlette's StreamingResponse takes the registry's chunks: that hop lets the loop
turn between sends. Without it every send of the response joined one write (mlgate's server
sends what a turn wrote at its end), the whole file at once, with no flow control.

    python bench/sink.py PORT DIR
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import uvicorn

from mlgate.server import server_config

CHUNK = 1024 * 1024


def sink(root: Path) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = root / Path(scope["path"]).name  # the benchmark's own names: no directories
        if scope["method"] == "POST":
            with path.open("wb") as out:
                more = True
                while more:
                    message = await receive()
                    out.write(message.get("body", b""))
                    more = message.get("more_body", False)
                out.flush()
                os.fsync(out.fileno())
            await send({"type": "http.response.start", "status": 201, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        if not path.is_file():
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = dict(scope["headers"])
        start = int(headers.get(b"range", b"bytes=0-")[6:].rstrip(b"-"))
        size = path.stat().st_size
        length = str(size - start).encode()
        status = 206 if b"range" in headers else 200
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-length", length)],
            }
        )
        with path.open("rb") as source:
            source.seek(start)
            while chunk := await asyncio.to_thread(source.read, CHUNK):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


if __name__ == "__main__":
    config = server_config(
        sink(Path(sys.argv[2])),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        lifespan="off",
    )
    uvicorn.Server(config).run()
