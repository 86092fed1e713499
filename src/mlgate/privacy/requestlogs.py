"""Payload logging by route log mode, done in the request-log writer thread, never per request.

The gateway hands each record's inputs and outputs (``CapturedPayload``) to :class:`PayloadSink`
only for routes in mode ``redacted`` or ``full``. The sink runs inside the batch writer's thread,
in its two steps: redaction and detection before the batch's transaction, sealing and storing
in it, for the records the writer keeps (none of a request made before its subject's erasure):

- ``redacted``: every string is run through the PII detector and entities become ``<TYPE>``;
  the redacted JSON is stored as is.
- ``full``: the JSON is sealed with AES-256-GCM under the subject's data key from the key store
  (the route's key when the request names no subject); the record id is the associated data.

Both keep the entity types the detector saw (``categories``) for the records of processing.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from mlgate.errors import Invalid, MlgateError
from mlgate.gateway.requestlog import BatchStore, RequestLogRecord
from mlgate.privacy.crypto import EnvelopeCipher
from mlgate.privacy.keys import PrivacyKeys
from mlgate.privacy.keystore import KeyStore
from mlgate.privacy.models import RequestPayload
from mlgate.privacy.payload import as_scannable, detect_in_value, redact_json
from mlgate.privacy.redact import Replace

__all__ = ["PayloadSink", "key_ref", "open_payload"]

logger = logging.getLogger(__name__)
LOGGED_MODES = ("redacted", "full")


def key_ref(route: str, subject: str | None) -> str:
    """The key-store entry a ``full`` payload is sealed under."""
    return subject if subject is not None else f"route:{route}"


class _Recording:
    """A ``Replace`` operator that also notes which entity types it replaced."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self._replace = Replace()

    def __call__(self, value: str, entity_type: str) -> str:
        self.seen.add(entity_type)
        return self._replace(value, entity_type)


def _categories(value: Any, seen: set[str], key: str | None = None, depth: int = 0) -> None:
    if depth > 200:
        return
    if isinstance(value, dict):
        for name, item in value.items():
            _categories(name, seen, None, depth + 1)
            _categories(item, seen, str(name), depth + 1)
    elif isinstance(value, list):
        for item in value:
            _categories(item, seen, key, depth + 1)
    elif (text := as_scannable(value)) is not None:
        seen.update(f.entity_type for f in detect_in_value(text, key))


def _storable(value: Any) -> Any:
    """``value`` with NUL characters replaced: PostgreSQL's JSON refuses them (SQLite's not)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


def _seal(key: bytes, document: Any, record_id: str) -> bytes:
    nonce = os.urandom(12)
    plain = json.dumps(document, separators=(",", ":"), default=str).encode()
    return nonce + AESGCM(key).encrypt(nonce, plain, record_id.encode())


def open_payload(row: RequestPayload, keys_session: Session, cipher: EnvelopeCipher) -> Any:
    """The payload of ``row`` in clear: the redacted body, or the decrypted ``full`` payload.

    Raises ``Invalid`` when the data key is gone (the subject was erased): nothing can read it.
    """
    if row.mode != "full":
        return row.body
    if row.sealed is None or row.key_ref is None:
        return None
    key = KeyStore.data_key(keys_session, ref=row.key_ref, cipher=cipher)
    if key is None:
        raise Invalid(f"payload {row.id} is unreadable: its data key was destroyed (erased)")
    try:
        plain = AESGCM(key).decrypt(row.sealed[:12], row.sealed[12:], row.id.encode())
    except InvalidTag as exc:
        raise Invalid(f"payload {row.id} does not decrypt: it was altered") from exc
    return json.loads(plain)


@dataclass(slots=True)
class _Draft:
    """A payload row made before the transaction; a ``full`` one still has to be sealed."""

    record: RequestLogRecord
    row: RequestPayload
    document: Any = None


class PayloadSink:
    """A ``RequestLogWriter`` sink that stores payloads by log mode (runs in the writer thread)."""

    def __init__(self, keys: PrivacyKeys) -> None:
        self._keys = keys

    def __call__(self, records: Sequence[RequestLogRecord]) -> BatchStore:
        drafts: list[_Draft] = []
        for record in records:
            if record.payload is None or record.payload.mode not in LOGGED_MODES:
                continue
            try:
                drafts.append(_draft(record))
            except MlgateError as error:  # one unstorable payload costs only itself
                _not_stored(record, error)
            # Detection is CPU-bound Python on this thread: hand the GIL back after each
            # record so the event loop serving requests is not starved for a whole batch.
            time.sleep(0)

        def store(connection: Connection, kept: Sequence[RequestLogRecord]) -> None:
            self._store(connection, drafts, kept)

        return store

    def _store(
        self, connection: Connection, drafts: list[_Draft], kept: Sequence[RequestLogRecord]
    ) -> None:
        ids = {record.id for record in kept}
        drafts = [draft for draft in drafts if draft.record.id in ids]
        rows = [draft.row for draft in drafts if draft.document is None]
        to_seal = [draft for draft in drafts if draft.document is not None]
        if to_seal:
            cipher = self._keys.cipher
            # The key store commits first: a payload row never exists without its key.
            with self._keys.keystore.unit_of_work() as keys_session:
                for draft in to_seal:
                    try:
                        _seal_row(keys_session, cipher, draft)
                    except MlgateError as error:
                        _not_stored(draft.record, error)
                    else:
                        rows.append(draft.row)
        if rows:
            with Session(bind=connection) as session:  # joins the writer's transaction
                session.add_all(rows)
                session.flush()


def _not_stored(record: RequestLogRecord, error: MlgateError) -> None:
    logger.warning(
        "payload of request %s not stored: %s",
        record.request_id,
        error.detail,
        extra={"route": record.route},
    )


def _draft(record: RequestLogRecord) -> _Draft:
    captured = record.payload
    assert captured is not None
    seen: set[str] = set()
    inputs = captured.inputs
    if captured.redact_inputs:  # what it held still counts for the records of processing
        found_in_inputs = _Recording()
        inputs = redact_json(captured.inputs, found_in_inputs)
        seen |= found_in_inputs.seen
    document = {"inputs": inputs, "outputs": captured.outputs}
    row = RequestPayload(
        id=record.id,
        at=record.at,
        route=record.route,
        subject=record.subject,
        mode=captured.mode,
    )
    if captured.mode == "redacted":
        recording = _Recording()
        row.body = _storable(redact_json(document, recording))
        row.categories = sorted(seen | recording.seen)
        return _Draft(record, row)
    _categories(document, seen)
    row.categories = sorted(seen)
    return _Draft(record, row, document)


def _seal_row(keys_session: Session, cipher: EnvelopeCipher, draft: _Draft) -> None:
    record, row = draft.record, draft.row
    ref = key_ref(record.route, record.subject)
    key = KeyStore.data_key_or_create(keys_session, ref=ref, cipher=cipher)
    row.sealed = _seal(key, draft.document, record.id)
    row.key_ref = ref
