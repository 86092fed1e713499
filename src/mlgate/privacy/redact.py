"""Operators that transform detected entities, and ``redact_text`` that applies them.

An operator turns one entity's text into its replacement: :class:`Remove`, :class:`Mask`,
:class:`Replace` (``<EMAIL_ADDRESS>``), :class:`KeyedHash` (a stable HMAC-SHA256 pseudonym)
and :class:`Encrypt` (AES-256-GCM, reversible with :func:`decrypt_token`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretBytes

from mlgate.errors import Invalid
from mlgate.privacy.pii import Detector, Finding, detect

__all__ = [
    "DEFAULT",
    "Encrypt",
    "KeyedHash",
    "Mask",
    "Operator",
    "Operators",
    "Remove",
    "Replace",
    "apply_operators",
    "decrypt_token",
    "redact_text",
]

DEFAULT = "DEFAULT"
"""Key of the fallback operator in an operator mapping."""


class Operator(Protocol):
    """Turns the text of one entity into what replaces it."""

    def __call__(self, value: str, entity_type: str) -> str: ...


Operators = Operator | Mapping[str, Operator]


@dataclass(frozen=True, slots=True)
class Remove:
    """Drops the entity entirely."""

    def __call__(self, value: str, entity_type: str) -> str:
        return ""


@dataclass(frozen=True, slots=True)
class Mask:
    """Replaces all but the last ``keep_last`` characters (separators kept) with ``char``."""

    keep_last: int = 4
    char: str = "*"

    def __call__(self, value: str, entity_type: str) -> str:
        if self.keep_last <= 0:
            return self.char * len(value)
        kept = 0
        out: list[str] = []
        for ch in reversed(value):
            if kept < self.keep_last and ch.isalnum():
                kept += 1
                out.append(ch)
            else:
                out.append(ch if not ch.isalnum() else self.char)
        masked = "".join(reversed(out))
        # Revealing half or more of a value reveals the value: mask it entirely.
        return self.char * len(value) if kept * 2 >= sum(c.isalnum() for c in value) else masked


@dataclass(frozen=True, slots=True)
class Replace:
    """Replaces the entity with ``template`` formatted with ``{entity_type}``."""

    template: str = "<{entity_type}>"

    def __call__(self, value: str, entity_type: str) -> str:
        return self.template.format(entity_type=entity_type)


@dataclass(frozen=True, slots=True)
class KeyedHash:
    """A pseudonym ``<TYPE:hex>``: HMAC-SHA256 of the value, stable for one key, not reversible.

    Equal values map to equal pseudonyms, so joins and counts still work on redacted logs.
    """

    key: SecretBytes
    length: int = 16

    def __post_init__(self) -> None:
        if len(self.key.get_secret_value()) < 16:
            raise Invalid.field("key", "a pseudonym key needs at least 16 bytes")

    def __call__(self, value: str, entity_type: str) -> str:
        digest = hmac.new(self.key.get_secret_value(), value.encode(), hashlib.sha256)
        return f"<{entity_type}:{digest.hexdigest()[: self.length]}>"


_TOKEN_PREFIX = "enc1."  # noqa: S105 - a format marker, not a secret
_TOKEN = re.compile(r"enc1\.[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class Encrypt:
    """AES-256-GCM with a random nonce; the output ``enc1.<base64url>`` decrypts with the key.

    The entity type is bound as associated data, so a token cannot be moved to another type.
    """

    key: SecretBytes
    _aead: AESGCM = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        raw = self.key.get_secret_value()
        if len(raw) != 32:
            raise Invalid.field("key", "an AES-256 key has exactly 32 bytes")
        object.__setattr__(self, "_aead", AESGCM(raw))

    def __call__(self, value: str, entity_type: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, value.encode(), entity_type.encode())
        return _TOKEN_PREFIX + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()


def decrypt_token(token: str, key: SecretBytes, entity_type: str) -> str:
    """Reverse :class:`Encrypt` for one token; raises ``Invalid`` on a wrong key or tampering."""
    if not _TOKEN.fullmatch(token):
        raise Invalid.field("token", "not an mlgate encryption token (enc1.…)")
    body = token[len(_TOKEN_PREFIX) :]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    try:
        plain = AESGCM(key.get_secret_value()).decrypt(raw[:12], raw[12:], entity_type.encode())
    except (InvalidTag, ValueError) as exc:
        raise Invalid.field("token", "cannot decrypt: wrong key, type or tampered token") from exc
    return plain.decode()


def _operator_for(operators: Operators, entity_type: str) -> Operator:
    if isinstance(operators, Mapping):
        chosen = operators.get(entity_type) or operators.get(DEFAULT)
        return chosen if chosen is not None else Replace()
    return operators


def apply_operators(text: str, findings: Iterable[Finding], operators: Operators) -> str:
    """Replace each finding in ``text`` with its operator's output.

    A finding that overlaps an earlier one is clipped to what follows it, never skipped: the
    part no other finding covers is still PII (findings from a plugged-in recognizer, or two
    that share a character folded to several, may overlap).
    """
    parts: list[str] = []
    cursor = 0
    for finding in sorted(findings, key=lambda f: f.start):
        if finding.end <= cursor:
            continue
        start = max(finding.start, cursor)
        operator = _operator_for(operators, finding.entity_type)
        parts.append(text[cursor:start])
        parts.append(operator(text[start : finding.end], finding.entity_type))
        cursor = finding.end
    parts.append(text[cursor:])
    return "".join(parts)


def redact_text(
    text: str,
    operators: Operators | None = None,
    *,
    entities: Iterable[str] | None = None,
    detector: Detector | None = None,
) -> str:
    """Detect entities in ``text`` and replace them (by default with ``<TYPE>``)."""
    findings = detect(text, entities, detector=detector)
    return apply_operators(text, findings, operators if operators is not None else Replace())
