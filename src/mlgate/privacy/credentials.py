"""Shapes of credentials: mlgate keys, ``sk-`` and Stripe keys, AWS keys, bearer and basic-auth
tokens, PEM private keys.

The same shapes feed the ``CREDENTIAL`` recognizer and the log scrubber, so anything the
detector calls a credential is also kept out of logs.

What must stay true: finding credentials takes time linear in the text. The scrubber sees
request paths and payloads before any authentication, so one quadratic pattern lets anyone
stall a worker (``"-----BEGIN PRIVATE KEY-----" * 14000`` took 48 s with a lazy ``.*?``
between the PEM markers). ``tests/privacy/test_credentials.py`` pins this on such inputs.
"""

from __future__ import annotations

import base64
import binascii
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
    # Stripe's secret and restricted keys; its publishable keys (pk_) are meant to be public.
    r"(?P<stripe>[rs]k_(?:live|test)_[0-9A-Za-z]{16,})(?![\w-])",
    r"(?P<aws>(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16})(?![A-Za-z0-9])",
    r"[Bb]earer[ \t]+(?P<bearer>[A-Za-z0-9\-._~+/]{8,}=*)",
    r"[Bb]asic[ \t]+(?P<basic>[A-Za-z0-9+/]{4,}={0,2})(?![\w+/=-])",
)
_TOKEN_PATTERN = re.compile(r"(?<![\w-])(?:" + "|".join(_TOKEN_SHAPES) + ")")

# "Basic" is an English word, so a basic-auth token (RFC 7617: base64 of "user-id:password") is one
# only when it decodes to "user:" and maybe a password itself, or when it is no plain word and
# follows the name of a header or key that holds one. The cue is that name and what separates it
# from its value in the shapes headers are logged in: "Authorization: Basic …", a JSON or dict entry
# such as "auth", "authHeader" or "proxyAuthorization", a curl -H, Go's http.Header as JSON
# ({"Authorization":["Bearer …"]}), an ASGI scope's tuple of bytes ((b'authorization', b'Bearer
# …')), a HAR entry ({"name":"Authorization","value":"…"}), a subscript (headers["Authorization"] =
# "…"), or the header's full name and a blank ("Authorization Bearer …"; not "authentication Bearer
# …", which is prose). Quotes may be escaped, as in headers logged as JSON inside a JSON string
# ("{\"Authorization\": \"Basic …"); a comma separates only after a quote (a tuple of strings), so
# "authorization, Basic information" is prose. Spaces and tabs only: a newline ends a header, as it
# ends a log record's field (scrub.py relies on that). Every repeat is possessive, so no try
# backtracks into blanks (the cue is looked for only within ``_CUE_REACH`` characters before each
# "Basic" or "Bearer": linear in all).
_QUOTE = r"(?:\\*+[\"'])"  # maybe escaped
_AUTHORIZATION_CUE = re.compile(
    r"(?i:auth(?:orization|entication)?(?:[ _-]?(?:header|value|token))?)"
    rf"(?:{_QUOTE}?+\]?+[ \t]*+[:=][ \t]*+\[?+"  # "name": value, name=, "name": [, ["name"] =
    rf"|{_QUOTE}[ \t]*+,[ \t]*+(?:{_QUOTE}(?i:value){_QUOTE}[ \t]*+:[ \t]*+)?+"  # tuple, HAR
    r"|(?<=(?i:authorization))(?=[ \t]))"  # the header's name, then blanks
    rf"(?:[ \t]*+b?{_QUOTE})?+[ \t]*+$"
)
_CUE_REACH = 64  # \"Proxy-Authorization\", \"value\": \"Basic …" and some room

# A word, not a token: letters in one case (or capitalised), maybe hyphenated or ending a
# sentence. "Basic" is an English word, and so is what often follows it.
_WORD = re.compile(r"(?:[A-Z]?[a-z]+|[A-Z]+)(?:-(?:[a-z]+|[A-Z]+))*\.?")

# Words that follow "bearer" in prose ("Bearer authentication is enabled", "bearer
# instruments", "bearer bonds", "the bearer scheme"): after a bare "Bearer" these alone are no
# token. Any other word is one: RFC 6750 allows any run of its characters, and hand-chosen
# tokens are words ("changeme-please", "internal-service-token"); a header's name is often out
# of sight (a logger's extra field, a list of header tuples), so leaking those cost more than
# redacting a sentence's word now and then. The list is short on purpose: each word on it is a
# token that leaks. Words under 8 characters are listed too, as the shape reaches 8 with dots
# ("schemes.", "tokens..").
_BEARER_PROSE = frozenset(
    {
        "auth", "authentication", "authorization", "token", "tokens", "scheme", "schemes",
        "instrument", "instruments", "bond", "bonds", "securities", "share", "shares",
        "cheque", "cheques", "check", "checks",
    }
)  # fmt: skip

# A PEM block is found in Python, not by one regex: "BEGIN.*?END" retries the lazy scan from
# every BEGIN marker, which is quadratic when no END follows. Header and footer have no "-"
# inside, so each matches in time linear in its own length.
_PEM_HEADER = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_PEM_FOOTER = re.compile(r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----")
MAX_PEM_BODY = 64 * 1024
"""Characters allowed between a PEM header and its footer; an RSA-16384 key holds ~13,000."""

# Every shape above starts with one of these. Looking for them with ``in`` took 0.9 µs on a
# 124-character log line, searching with the pattern 5.5 µs (measured): most text holds none.
CREDENTIAL_MARKERS = (
    "-----BEGIN", "mlg_", "sk-", "k_live_", "k_test_", "AKIA", "ASIA", "AGPA", "AIDA", "AROA",
    "earer", "asic",
)  # fmt: skip


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
    position = start
    while (match := _TOKEN_PATTERN.search(text, position, end)) is not None:
        group = match.lastgroup
        if (group == "basic" and not _is_basic_credential(text, match)) or (
            group == "bearer" and not _is_bearer_token(text, match)
        ):
            # Not one: look again from the token, which may hold another shape ("Basic
            # AKIA…"). The token is read at most twice, so the scan stays linear.
            position = match.start(group)
            continue
        if group is not None:
            yield match.start(), match.end(), match.start(group), match.end(group)
        position = match.end()


def _after_authorization(text: str, match: re.Match[str]) -> bool:
    start = match.start()
    return _AUTHORIZATION_CUE.search(text, max(0, start - _CUE_REACH), start) is not None


def _is_basic_credential(text: str, match: re.Match[str]) -> bool:
    """Whether "Basic <token>" is a credential: after an Authorization header or key, unless
    the token is a plain word; or when it is padded base64 of printable UTF-8
    "user:password" (RFC 7617's charset) with a user. The password may be empty, as when an
    API key is sent as the user (Stripe's "sk_live_…:").

    The header says what its value is, but not that any word after it is one: in
    "Authorization: Basic information" the word is no base64, while a token (base64, or a
    key sent raw) has digits, mixed case or "+/=", as "Zm9vYmFy" ("foobar") does. A word
    that happens to be base64 of "user:password" is one still. Short or unpadded words that
    happen to decode to a colon ("Basic bzopen" is "o:)z") are not.
    """
    token = match.group("basic")
    if _WORD.fullmatch(token) is None and _after_authorization(text, match):
        return True
    if len(token) < 8 or len(token) % 4:
        return False
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, colon, _ = decoded.partition(":")
    return bool(user) and bool(colon) and decoded.isprintable()


def _is_bearer_token(text: str, match: re.Match[str]) -> bool:
    """Whether "Bearer <token>" is a credential: always after an Authorization header or key,
    and elsewhere unless the token is a word prose puts after "bearer" (``_BEARER_PROSE``)."""
    word = match.group("bearer").rstrip(".").lower()
    return word not in _BEARER_PROSE or _after_authorization(text, match)


def has_credential(text: str) -> bool:
    """True when ``text`` holds anything shaped like a credential."""
    return next(iter_credentials(text), None) is not None


class CredentialRecognizer:
    """Finds credential-shaped strings; they have no checksum, so the shape is the evidence."""

    entities = ("CREDENTIAL",)
    # Every branch starts with a plain letter, so the search jumps between the few letters
    # that can start one (4 ms per MB of prose); "[Bb]earer" as a branch made it try every
    # position (18 ms).
    trigger = (
        r"-----BEGIN|mlg_|sk-|k_(?:live|test)_|A(?:KIA|SIA|GPA|IDA|ROA)"
        r"|B(?:earer|asic)|b(?:earer|asic)"
    )

    def find(self, text: str) -> Iterator[Finding]:
        for _, _, start, end in iter_credentials(text):
            yield Finding("CREDENTIAL", start, end, 0.95)
