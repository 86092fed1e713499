"""What someone with write access to the store can do to the audit log, without any secret."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import insert, inspect, text

from mlgate.audit.models import AuditEntry, AuditHead
from mlgate.store.database import Database


def tamper(db: Database, *statements: str) -> None:
    with db.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def cut_off_the_end(db: Database, keep: int) -> None:
    """Delete every entry after ``keep`` and rewind the head row to it: the chain still holds."""
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_entries WHERE seq > :keep"), {"keep": keep})
        connection.execute(
            text(
                "UPDATE audit_head SET seq = :keep, "
                "hash = (SELECT hash FROM audit_entries WHERE seq = :keep)"
            ),
            {"keep": keep},
        )


def version_1_hash(
    *,
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    digest: str,
) -> str:
    """An entry's hash as mlgate computed every one before hash versions, copied verbatim."""
    material = "|".join(
        [prev_hash, str(seq), at.isoformat(), actor, action, object_type, object_id, digest]
    )
    return hashlib.sha256(material.encode()).hexdigest()


def append_as_before_hash_versions(
    db: Database, *, objects: list[str], at: datetime, actor: str = "alice"
) -> None:
    """Append one entry per object as mlgate did before hash versions: version-1 hashes, and no
    ``hash_version`` written (the store may not have the column yet; where it has, the entries
    are marked version 1, as the migration marks them)."""
    with db.engine.begin() as connection:
        columns = {c["name"] for c in inspect(connection).get_columns("audit_entries")}
        found = connection.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).first()
        seq, prev_hash = (int(found[0]), str(found[1])) if found else (0, "0" * 64)
        for object_id in objects:
            seq += 1
            change = {"object": object_id}
            digest = hashlib.sha256(
                json.dumps(change, sort_keys=True, separators=(",", ":")).encode()
            ).hexdigest()
            hashed = version_1_hash(
                prev_hash=prev_hash,
                seq=seq,
                at=at,
                actor=actor,
                action="thing.changed",
                object_type="thing",
                object_id=object_id,
                digest=digest,
            )
            row: dict[str, object] = {
                "seq": seq,
                "id": f"old{seq:023d}",
                "at": at,
                "actor": actor,
                "action": "thing.changed",
                "object_type": "thing",
                "object_id": object_id,
                "change": change,
                "digest": digest,
                "prev_hash": prev_hash,
                "hash": hashed,
            }
            prev_hash = hashed
            if "hash_version" in columns:
                row["hash_version"] = 1
            connection.execute(insert(AuditEntry).values(**row))
        if found is None:
            connection.execute(insert(AuditHead).values(id=1, seq=seq, hash=prev_hash))
        else:
            connection.execute(
                text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
                {"seq": seq, "hash": prev_hash},
            )
