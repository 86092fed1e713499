"""A TCP relay on loopback in front of a real server, to cut and restore like a restart."""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest


class Relay:
    """Forwards each connection to ``target``; ``cut`` closes them all and refuses new ones.

    ``restore`` listens again on the same port, as a server back from a restart would.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        if self._listener is not None:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
            self._listener.close()
            self._listener = None
        with self._lock:
            for each in self._sockets:
                _close(each)
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # cut
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, server))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:  # the other side is gone, or the relay was cut
            return
        finally:
            _close(source)
            _close(sink)


def _close(each: socket.socket) -> None:
    with contextlib.suppress(OSError):
        each.shutdown(socket.SHUT_RDWR)
    each.close()


def postgres_through_relay(db_url: str) -> tuple[Relay, str]:
    """A relay in front of ``db_url``'s PostgreSQL and the URL that goes through it (a test on
    SQLite, which has no server to cut off, is skipped)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("a TCP relay stands in for a PostgreSQL outage; SQLite has no server")
    relay = Relay(("127.0.0.1", 5432))
    return relay, db_url.replace("127.0.0.1:5432", f"127.0.0.1:{relay.port}")
