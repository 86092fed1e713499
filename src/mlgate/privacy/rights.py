"""Data-subject requests: export every record of a subject, or erase them and shred its key.

Erasure deletes the subject's request logs and payloads from the main store *and* destroys
its data key in the key store. Copies of the main store (backups, replicas, a file copy) keep
only ciphertext and a pseudonym; without the key nothing in them decrypts again. A legal hold
on the subject, or on a route it has records on, refuses the erasure.

The erasure's audit entry is also its tombstone (``erasures``): request logs of the subject
still queued in a gateway when it runs are checked against it and never written afterwards.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.errors import Conflict, Invalid
from mlgate.gateway.models import RequestLog
from mlgate.privacy.crypto import EnvelopeCipher
from mlgate.privacy.erasures import ERASED, lock_out_log_writers
from mlgate.privacy.holds import held_routes, held_subjects, lock_holds_for_reading
from mlgate.privacy.keystore import KeyStore, SubjectKey
from mlgate.privacy.models import RequestPayload
from mlgate.privacy.requestlogs import open_payload
from mlgate.privacy.schemas import ErasureResult, SubjectExport, SubjectRecord
from mlgate.privacy.subjects import subject_pseudonym

__all__ = ["erase_subject", "export_subject"]

_BULK = {"synchronize_session": False}


def _pseudonym(secret: bytes, subject: str) -> str:
    value = subject_pseudonym(secret, subject)
    if value is None:
        raise Invalid.field("subject", "give the subject's id; it is blank")
    return value


def export_subject(
    session: Session,
    keys_session: Session,
    *,
    secret: bytes,
    cipher: EnvelopeCipher,
    subject: str,
    actor: Principal,
) -> SubjectExport:
    """Every record of ``subject``, payloads decrypted; the export itself is audited."""
    pseudonym = _pseudonym(secret, subject)
    logs = {
        row.id: row
        for row in session.scalars(select(RequestLog).where(RequestLog.subject == pseudonym))
    }
    payloads = {
        row.id: row
        for row in session.scalars(
            select(RequestPayload).where(RequestPayload.subject == pseudonym)
        )
    }
    records: list[SubjectRecord] = []
    for record_id in sorted(set(logs) | set(payloads)):
        log, payload = logs.get(record_id), payloads.get(record_id)
        anchor = log if log is not None else payload
        assert anchor is not None
        records.append(
            SubjectRecord(
                id=record_id,
                at=anchor.at,
                route=anchor.route,
                model=log.model if log else None,
                version=log.version if log else None,
                status=log.status if log else None,
                outcome=log.outcome if log else None,
                mode=payload.mode if payload else "metadata",
                payload=open_payload(payload, keys_session, cipher) if payload else None,
            )
        )
    records.sort(key=lambda r: (r.at, r.id))
    audit.record(
        session,
        actor=actor,
        action="privacy.subject_exported",
        object_type="subject",
        object_id=pseudonym,
        change={"records": len(records)},
    )
    return SubjectExport(pseudonym=pseudonym, records=records)


def erase_subject(
    session: Session,
    keys_session: Session,
    *,
    secret: bytes,
    subject: str,
    actor: Principal,
    dry_run: bool = False,
) -> ErasureResult:
    """Delete the subject's records and destroy its data key (or only count with ``dry_run``)."""
    pseudonym = _pseudonym(secret, subject)
    # Both locks before anything is read, so that what is counted is what is deleted. The
    # holds lock first: waiting for it (behind a hold being added, itself behind a long
    # purge) while holding the writers' lock would stall every request-log batch meanwhile.
    lock_holds_for_reading(session)
    if not dry_run:
        lock_out_log_writers(session)
    if pseudonym in held_subjects(session):
        raise Conflict("this subject is under a legal hold; remove the hold before erasing")
    routes = set(
        session.scalars(select(RequestLog.route).where(RequestLog.subject == pseudonym))
    ) | set(
        session.scalars(select(RequestPayload.route).where(RequestPayload.subject == pseudonym))
    )
    blocked = sorted(routes & held_routes(session))
    if blocked:
        raise Conflict(
            f"this subject has records on route(s) under a legal hold: {', '.join(blocked)}"
        )
    logs = int(session.scalar(select(func.count()).where(RequestLog.subject == pseudonym)) or 0)
    payloads = int(
        session.scalar(select(func.count()).where(RequestPayload.subject == pseudonym)) or 0
    )
    has_key = keys_session.get(SubjectKey, pseudonym) is not None
    result = ErasureResult(
        pseudonym=pseudonym, dry_run=dry_run, logs=logs, payloads=payloads, key_destroyed=has_key
    )
    if dry_run:
        return result
    session.execute(
        delete(RequestLog).where(RequestLog.subject == pseudonym), execution_options=_BULK
    )
    session.execute(
        delete(RequestPayload).where(RequestPayload.subject == pseudonym), execution_options=_BULK
    )
    KeyStore.destroy(keys_session, ref=pseudonym)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=ERASED,
        object_type="subject",
        object_id=pseudonym,
        change={"logs": logs, "payloads": payloads, "key_destroyed": has_key},
    )
    return result
