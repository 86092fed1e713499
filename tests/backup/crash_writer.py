"""A writer for the crash test: forks writers on request; each registers versions forever.

The parent imports everything and registers one version (warming SQLAlchemy's statement cache,
which the children inherit), then reads commands on stdin: ``fork`` starts a writer
child (printed as ``pid N``), which registers a version of model ``crash`` in a loop and prints
``ack N VERSION SHA256`` only after the transaction committed. The test SIGKILLs children at
random moments. Every line is one ``os.write`` of less than PIPE_BUF, so lines never interleave.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
from pathlib import Path

from pydantic import SecretStr

from mlgate.auth.schemas import Principal
from mlgate.config import Settings
from mlgate.registry import service as registry
from mlgate.registry.schemas import VersionCreate
from mlgate.runtime import Runtime

MAX_WRITES = 10_000


def say(line: str) -> None:
    os.write(1, (line + "\n").encode())


def register_one(runtime: Runtime, actor: Principal) -> None:
    data = os.urandom(512)
    with runtime.db.unit_of_work() as session:
        version = registry.register_version(
            session,
            blobs=runtime.blobs,
            model_name="crash",
            version_in=VersionCreate(),
            uploads=[registry.ArtifactUpload(name="w.bin", stream=io.BytesIO(data))],
            max_bytes=1024 * 1024,
            actor=actor,
        )
    say(f"ack {os.getpid()} {version.version} {hashlib.sha256(data).hexdigest()}")


def writer(runtime: Runtime, actor: Principal) -> None:
    # The parent's pooled connections belong to the parent: forget them without closing them.
    runtime.db.engine.dispose(close=False)
    for _ in range(MAX_WRITES):
        register_one(runtime, actor)
    os._exit(0)


def main() -> None:
    url, data_dir, secret = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    settings = Settings(database_url=url, data_dir=data_dir, secret_key=SecretStr(secret))
    runtime = Runtime.from_settings(settings)
    actor = Principal(name="crash-writer", scopes=frozenset({"admin"}))
    register_one(runtime, actor)  # warms the statement cache the children inherit
    say("ready")
    for command in sys.stdin:
        while True:  # reap killed children
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        if command.strip() != "fork":
            break
        pid = os.fork()
        if pid == 0:
            try:
                writer(runtime, actor)
            finally:
                os._exit(1)
        say(f"pid {pid}")


if __name__ == "__main__":
    main()
