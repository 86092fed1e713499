"""SIGKILL a writer at random moments: the store stays intact and every acknowledged write stays.

A writer process registers versions (blob, rows and audit entry in one transaction) and prints
each version only after its commit. The test kills it with SIGKILL after a random number of
acknowledgements (often mid-transaction), then checks the store's integrity, the audit chain,
and that every acknowledged version is there with its artifact. 50 kills on each database.
"""

from __future__ import annotations

import hashlib
import os
import random
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.registry import service as registry
from mlgate.runtime import Runtime
from tests.backup.conftest import create_model
from tests.conftest import TEST_SECRET

KILLS = 50
DEADLINE_SECONDS = 60.0
WRITER = Path(__file__).with_name("crash_writer.py")


class Lines:
    """Lines from a pipe, waited for with a deadline (never a sleep)."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        self.fd = process.stdout.fileno()
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.fd, selectors.EVENT_READ)
        self.buffer = b""

    def next(self, deadline: float) -> str:
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.selector.select(remaining):
                raise TimeoutError("the writer went quiet")
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise EOFError("the writer exited")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()


def check_store(runtime: Runtime, acked: dict[int, str]) -> None:
    if runtime.db.dialect == "sqlite":
        with runtime.db.engine.connect() as connection:
            assert connection.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    with runtime.db.unit_of_work() as session:
        chain = audit.verify(session)
        assert chain.ok, chain
        page = registry.list_versions(session, model_name="crash", limit=500)
        present = {v.version: v.artifacts[0].sha256 for v in page.items}
    for version, digest in acked.items():
        assert present.get(version) == digest, f"acknowledged version {version} is lost"
    for digest in present.values():
        with runtime.blobs.open(digest) as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == digest


def test_sigkilled_writer_loses_no_acknowledged_write(
    runtime: Runtime, admin: Principal, db_url: str, tmp_path: Path
) -> None:
    create_model(runtime, admin, "crash")
    rng = random.Random(0xC0FFEE)
    process = subprocess.Popen(
        [sys.executable, str(WRITER), db_url, str(runtime.settings.data_dir), TEST_SECRET],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdin is not None
    lines = Lines(process)
    deadline = time.monotonic() + DEADLINE_SECONDS
    acked: dict[int, str] = {}
    kills = 0

    def read(kind: str) -> list[str]:
        """The next line of ``kind``; every ack met on the way is recorded (a killed child's
        last ack can still be in the pipe: it was committed, so it counts)."""
        for _ in range(100_000):
            parts = lines.next(deadline).split()
            if parts[0] == "ack":
                acked[int(parts[2])] = parts[3]
            if parts[0] == kind:
                return parts
        raise AssertionError("the writer talks too much")

    try:
        read("ready")  # after the parent's own acknowledged warm-up write
        while kills < KILLS:
            assert time.monotonic() < deadline, f"only {kills} kills within the deadline"
            process.stdin.write(b"fork\n")
            process.stdin.flush()
            pid = int(read("pid")[1])
            wanted = rng.randint(0, 3)  # 0: kill while it connects or writes its first version
            seen = 0
            while seen < wanted:
                if int(read("ack")[1]) == pid:
                    seen += 1
            os.kill(pid, signal.SIGKILL)
            kills += 1
            check_store(runtime, acked)
        process.stdin.close()  # the parent exits; read what is left, then check once more
        for _ in range(100_000):
            try:
                read("end")
            except EOFError:
                break
        check_store(runtime, acked)
    finally:
        if not process.stdin.closed:
            process.stdin.close()
        process.kill()
        process.wait(timeout=10)
        lines.selector.close()
        assert process.stdout is not None
        process.stdout.close()
    with runtime.db.unit_of_work() as session:
        final = registry.list_versions(session, model_name="crash", limit=1)
    assert kills == KILLS
    assert len(acked) >= KILLS  # the test did write under fire, not just kill idle processes
    assert final.total >= len(acked)
