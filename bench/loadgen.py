"""Load for the gateway benchmark: an open-loop fixed-rate client and a wrk wrapper.

The fixed-rate client schedules requests on a clock (not after the previous answer), so a slow
server shows up as latency instead of silently lowering the rate (no coordinated omission).
It speaks HTTP/1.1 over raw asyncio streams with keep-alive: cheap enough that at 500 req/s
the client is not what is measured.
"""

from __future__ import annotations

import asyncio
import gc
import re
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        match = re.search(rb"(?i)content-length:\s*(\d+)", head)
        await self.reader.readexactly(int(match.group(1)) if match else 0)
        return status


def _raw_request(url: str, body: bytes, headers: dict[str, str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    lines = [
        f"POST {parts.path} HTTP/1.1",
        f"Host: {parts.hostname}:{parts.port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return (
        parts.hostname or "127.0.0.1",
        parts.port or 80,
        "\r\n".join(lines).encode() + b"\r\n\r\n" + body,
    )


async def fixed_rate(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    rate: float,
    seconds: float,
    connections: int = 64,
) -> tuple[list[float], int]:
    """Latencies (s) of ``rate * seconds`` requests sent on schedule; and the non-200 count.

    Garbage collection is off while it runs: the benchmark's process holds models and
    libraries, and one full collection of it paused this client for ~150 ms, which showed up
    as the server's p99 (found with asyncio's slow-callback log, in this process, not the
    server's).
    """
    gc.collect()
    gc.disable()
    try:
        return await _fixed_rate(
            url, body, headers, rate=rate, seconds=seconds, connections=connections
        )
    finally:
        gc.enable()


async def _fixed_rate(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    rate: float,
    seconds: float,
    connections: int,
) -> tuple[list[float], int]:
    host, port, raw = _raw_request(url, body, headers)
    pool: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(_Connection(*await asyncio.open_connection(host, port)))
    latencies: list[float] = []
    errors = 0
    statuses: dict[int, int] = {}

    async def one(scheduled: float) -> None:
        nonlocal errors
        connection = await pool.get()
        try:
            status = await connection.request(raw)
            latencies.append(time.perf_counter() - scheduled)
            if status != 200:
                errors += 1
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            pool.put_nowait(connection)

    total = int(rate * seconds)
    start = time.perf_counter()
    tasks = []
    for index in range(total):
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait().writer.close()
    if statuses:
        print("non-200 answers:", statuses)
    return latencies, errors


def wrk_throughput(
    url: str, body: bytes, headers: dict[str, str], *, seconds: int = 10, connections: int = 32
) -> float:
    """Requests per second wrk sustains (one thread) against ``url``."""
    header_lines = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
    script = (
        'wrk.method = "POST"\n'
        f"wrk.body = [==[{body.decode()}]==]\n"
        'wrk.headers["Content-Type"] = "application/json"\n' + header_lines
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", handle.name, url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        Path(handle.name).unlink()
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"wrk saw {non2xx.group(1)} errors against {url}:\n{out}")
    match = re.search(r"Requests/sec:\s*([\d.]+)", out)
    assert match, out
    return float(match.group(1))
