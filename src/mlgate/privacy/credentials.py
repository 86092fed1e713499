"""Shapes of credentials: mlgate keys, ``sk-`` keys, AWS keys, bearer tokens, PEM private keys.

The same shapes feed the ``CREDENTIAL`` recognizer and the log scrubber, so anything the
detector calls a credential is also kept out of logs.

What must stay true: finding credentials takes time linear in the text. The scrubber sees
request paths and payloads before any authentication, so one quadratic pattern lets anyone
stall a worker (``"-----BEGIN PRIVATE KEY-----" * 14000`` took 48 s with a lazy ``.*?``
between the PEM markers). ``tests/privacy/test_credentials.py`` pins this on such inputs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mlgate.privacy.pii import Finding

__all__ = [
    "CREDENTIAL_MARKERS",
    "MAX_PEM_BODY",
    "CredentialRecognizer",
    "has_credential",
    "iter_credentials",
    "may_hold_credential",
]

# Each named group spans the part to hide: for "Bearer <token>" only the token. A shape glued
# to a longer word ("xsk-...", "nonbearer") is not one, and the lookbehind refuses it before it
# can consume text: this keeps each scan linear, as a start inside a run of key characters
# ("sk-sk-sk-...é") would otherwise rescan the rest of the run, and a refused "nonbearer"
# no longer swallows a real key after it.
_TOKEN_SHAPES = (
    r"(?P<mlg>mlg_[0-9A-Za-z]{16,}(?:_[0-9A-Za-z]{6})?)(?![\w-])",
    r"(?P<sk>sk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_\-]{20,})(?![\w-])",
    r"(?P<aws>(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16})(?![A-Za-z0-9])",
    r"[Bb]earer[ \t]+(?P<bearer>[A-Za-z0-9\-._~+/]{8,}=*)",
)
_TOKEN_PATTERN = re.compile(r"(?<![\w-])(?:" + "|".join(_TOKEN_SHAPES) + ")")

# A PEM block is found in Python, not by one regex: "BEGIN.*?END" retries the lazy scan from
# every BEGIN marker, which is quadratic when no END follows. Header and footer have no "-"
# inside, so each matches in time linear in its own length.
_PEM_HEADER = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_PEM_FOOTER = re.compile(r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----")
MAX_PEM_BODY = 64 * 1024
"""Characters allowed between a PEM header and its footer; an RSA-16384 key holds ~13,000."""

# Every shape above starts with one of these. Looking for them with ``in`` took 0.9 µs on a
# 124-character log line, searching with the pattern 5.5 µs (measured): most text holds none.
CREDENTIAL_MARKERS = ("-----BEGIN", "mlg_", "sk-", "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "earer")


def may_hold_credential(text: str) -> bool:
    """False when ``text`` cannot hold any credential shape (it has none of their markers)."""
    return any(marker in text for marker in CREDENTIAL_MARKERS)


def _glued(text: str, start: int) -> bool:
    return start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_-")


def _pem_blocks(text: str) -> Iterator[tuple[int, int]]:
    """Yield the spans of PEM private-key blocks, leftmost first, without overlaps.

    A header pairs with the first footer after it, as ``.*?`` would, if that footer is at most
    ``MAX_PEM_BODY`` away. The footer found is kept for the following headers: a later header
    can only pair with it or with one further on, so the text is scanned for footers once.
    """
    if "-----BEGIN" not in text:
        return
    footer: re.Match[str] | None = None
    position = 0
    while (header := _PEM_HEADER.search(text, position)) is not None:
        if _glued(text, header.start()):
            position = header.start() + 1
            continue
        if footer is None or footer.start() < header.end():
            footer = _PEM_FOOTER.search(text, header.end())
            if footer is None:
                return  # no footer after this header, so none after any later one either
        if footer.start() - header.end() <= MAX_PEM_BODY:
            yield header.start(), footer.end()
            position = footer.end()
        else:
            position = header.start() + 1


def iter_credentials(text: str) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(match_start, match_end, secret_start, secret_end)`` for each credential.

    PEM blocks come first: a token shape is looked for only between them, so a key's body is
    one credential and a bearer token cannot run into the block after it.
    """
    if not may_hold_credential(text):
        return
    position = 0
    for block_start, block_end in _pem_blocks(text):
        yield from _tokens(text, position, block_start)
        yield block_start, block_end, block_start, block_end
        position = block_end
    yield from _tokens(text, position, len(text))


def _tokens(text: str, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    for match in _TOKEN_PATTERN.finditer(text, start, end):
        group = match.lastgroup
        if group is not None:
            yield match.start(), match.end(), match.start(group), match.end(group)


def has_credential(text: str) -> bool:
    """True when ``text`` holds anything shaped like a credential."""
    return next(iter_credentials(text), None) is not None


class CredentialRecognizer:
    """Finds credential-shaped strings; they have no checksum, so the shape is the evidence."""

    entities = ("CREDENTIAL",)
    trigger = r"-----BEGIN|mlg_|sk-|AKIA|ASIA|AGPA|AIDA|AROA|[Bb]earer"

    def find(self, text: str) -> Iterator[Finding]:
        for _, _, start, end in iter_credentials(text):
            yield Finding("CREDENTIAL", start, end, 0.95)
