"""Identifiers: ULIDs for records, and the rule for human names of models and routes."""

from __future__ import annotations

import os
import re
import threading
import time

__all__ = ["MAX_NUMBER", "NAME_PATTERN", "NAME_RULE", "is_valid_name", "new_id", "parse_number"]

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
NAME_RULE = "a name is 1 to 63 lowercase letters, digits and hyphens, not starting with a hyphen"
_NAME_RE = re.compile(NAME_PATTERN)
# The largest version, revision or incident number: the store's INTEGER columns (PostgreSQL's
# integer) hold no more, and SQLite's driver refuses a larger Python int with an OverflowError.
MAX_NUMBER = 2**31 - 1

# ULIDs are made here rather than with python-ulid: the gateway makes two per request, and
# this takes 1.4 µs where python-ulid's ``str(ULID())`` took 3.0 (measured). Same format:
# 48 bits of milliseconds, 80 random bits, Crockford base32 (26 characters), monotonic within
# a millisecond so ids sort in creation order.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = tuple(a + b for a in _CROCKFORD for b in _CROCKFORD)  # 10 bits -> 2 characters
_RANDOM_BITS = 80
_lock = threading.Lock()
_last = [0, 0]  # milliseconds and random part of the newest id


def new_id() -> str:
    """A new ULID as a 26-character string: unique and sortable by creation time."""
    now = time.time_ns() // 1_000_000
    with _lock:
        last_ms, last_random = _last
        if now <= last_ms:  # same millisecond, or the clock stepped back: count up
            now, random = last_ms, last_random + 1
            if random >> _RANDOM_BITS:
                now, random = now + 1, 0
        else:
            random = _os_random.bits80()
        _last[0], _last[1] = now, random
    v = now << _RANDOM_BITS | random
    p = _PAIRS
    return (
        p[v >> 120 & 1023] + p[v >> 110 & 1023] + p[v >> 100 & 1023] + p[v >> 90 & 1023]
        + p[v >> 80 & 1023] + p[v >> 70 & 1023] + p[v >> 60 & 1023] + p[v >> 50 & 1023]
        + p[v >> 40 & 1023] + p[v >> 30 & 1023] + p[v >> 20 & 1023] + p[v >> 10 & 1023]
        + p[v & 1023]
    )  # fmt: skip


class _OsRandom:
    """Random bytes from the OS, read ahead 4 KiB at a time; use it with ``_lock`` held.

    ``os.urandom`` releases the GIL, and on the gateway's event loop, with inference or
    log-writer threads waiting for it, each call cost 78 µs to take it back (profiled); one
    read ahead serves 409 ids.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._data = b""
        self._used = 0

    def forget(self) -> None:
        self._data, self._used = b"", 0

    def bits80(self) -> int:
        if self._used + 10 > len(self._data):
            self._data, self._used = os.urandom(self._size), 0
        start, self._used = self._used, self._used + 10
        return int.from_bytes(self._data[start : self._used], "big")


_os_random = _OsRandom()


def _after_fork_in_child() -> None:
    """A forked child must not repeat its parent's random bytes or count on from its last id."""
    _os_random.forget()
    _last[0] = _last[1] = 0


os.register_at_fork(after_in_child=_after_fork_in_child)


def is_valid_name(name: str) -> bool:
    return bool(_NAME_RE.fullmatch(name))


def parse_number(text: str) -> int | None:
    """``text`` as a number from 0 to MAX_NUMBER written in ASCII digits, else None.

    Not ``str.isdigit`` alone: it holds for "²", which ``int`` refuses, and ``int`` reads other
    scripts' digits too.
    """
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    number = int(text)
    return number if number <= MAX_NUMBER else None
