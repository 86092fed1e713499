"""Payload logging by route mode through the real gateway, subject export, and crypto-shredding.

The erasure test copies the main store (a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on
PostgreSQL) before erasing: afterwards neither the live store nor the copy yields the subject's
payloads, because the subject's key is gone from the key store.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import make_url

from mlgate.app import create_app
from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.errors import Conflict, Invalid
from mlgate.gateway.frontdoor import header_text
from mlgate.gateway.models import RequestLog
from mlgate.privacy import service
from mlgate.privacy.keys import PrivacyKeys
from mlgate.privacy.keystore import SubjectKey
from mlgate.privacy.models import RequestPayload
from mlgate.privacy.requestlogs import open_payload
from mlgate.privacy.schemas import HoldCreate
from mlgate.runtime import Runtime
from mlgate.store.database import Database
from tests.conftest import KeyFactory, _pg_admin, _pg_url, bearer
from tests.privacy.conftest import (
    CliRunner,
    flush_logs,
    refresh,
    serve_upstream_route,
)
from tests.privacy.upstream import EchoUpstream

ALICE = "alice@example.com"
BOB = "bob-4711"
NOTE = "call me at alice.private@example.org"


def _drive(runtime: Runtime, echo: EchoUpstream, make_key: KeyFactory) -> None:
    """Serve three routes (full, redacted, metadata) and send requests for two subjects."""
    serve_upstream_route(runtime, route="full", model="full-m", url=echo.url, log_mode="full")
    serve_upstream_route(
        runtime, route="redacted", model="red-m", url=echo.url, log_mode="redacted"
    )
    serve_upstream_route(runtime, route="plain", model="plain-m", url=echo.url)
    key = make_key("gateway:invoke")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        refresh(client)
        for route, subject in [
            ("full", ALICE),
            ("full", ALICE),
            ("full", BOB),
            ("redacted", ALICE),
            ("plain", ALICE),
        ]:
            answer = client.post(
                f"/v1/routes/{route}/predict",
                json={"inputs": [{"note": NOTE, "who": subject}]},
                headers={**bearer(key), "X-MLGate-Subject": subject},
            )
            assert answer.status_code == 200, answer.text
        flush_logs(client)


@pytest.fixture
def world_keys(runtime: Runtime) -> Iterator[PrivacyKeys]:
    keys = PrivacyKeys(runtime)
    yield keys
    keys.close()


def test_payloads_follow_the_route_log_mode(
    runtime: Runtime, echo: EchoUpstream, make_key: KeyFactory, world_keys: PrivacyKeys
) -> None:
    _drive(runtime, echo, make_key)
    with runtime.db.unit_of_work() as session:
        rows = {(r.route, r.mode): r for r in session.scalars(select(RequestPayload))}
        logs = session.scalars(select(RequestLog)).all()
    assert len(logs) == 5
    assert {log.route for log in logs} == {"full", "redacted", "plain"}
    assert all(ALICE not in (log.subject or "") for log in logs)
    assert not any(route == "plain" for route, _ in rows)  # metadata mode keeps no payload
    redacted = rows[("redacted", "redacted")]
    assert NOTE not in str(redacted.body)
    assert "<EMAIL_ADDRESS>" in str(redacted.body)
    assert "EMAIL_ADDRESS" in redacted.categories
    full = rows[("full", "full")]
    assert full.body is None
    assert full.sealed is not None
    assert NOTE.encode() not in full.sealed
    assert "EMAIL_ADDRESS" in full.categories


def test_export_returns_every_record_of_the_subject_decrypted(
    runtime: Runtime, echo: EchoUpstream, make_key: KeyFactory, world_keys: PrivacyKeys
) -> None:
    _drive(runtime, echo, make_key)
    exported = service.export_job(runtime, world_keys, subject=ALICE, actor=Principal("dpo"))
    assert [r.route for r in exported.records].count("full") == 2
    assert {r.mode for r in exported.records} == {"full", "redacted", "metadata"}
    full = [r for r in exported.records if r.mode == "full"]
    assert all(r.payload["inputs"] == [{"note": NOTE, "who": ALICE}] for r in full)
    with runtime.db.unit_of_work() as session:
        assert "privacy.subject_exported" in [e.action for e in audit.get_all(session)]


def _copy_store(runtime: Runtime, tmp_path: Path) -> Iterator[str]:
    """A copy of the main store as a backup would hold it."""
    runtime.db.dispose()  # PostgreSQL copies only a database nobody is connected to
    url = make_url(runtime.db.url)
    if url.get_backend_name() == "sqlite":
        copy = tmp_path / "copy.db"
        shutil.copyfile(str(url.database), copy)
        wal = Path(str(url.database) + "-wal")
        if wal.exists():
            shutil.copyfile(wal, str(copy) + "-wal")
        yield f"sqlite:///{copy}"
        return
    name = f"mlgate_copy_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"')
    try:
        yield _pg_url(name)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_erasure_shreds_the_subject_in_the_live_store_and_in_a_copy(
    runtime: Runtime,
    echo: EchoUpstream,
    make_key: KeyFactory,
    world_keys: PrivacyKeys,
    tmp_path: Path,
) -> None:
    _drive(runtime, echo, make_key)
    pseudonym = world_keys.pseudonym(ALICE)
    with world_keys.keystore.unit_of_work() as keys_session:
        wrapped = keys_session.get(SubjectKey, pseudonym).wrapped_key  # type: ignore[union-attr]
    copies = _copy_store(runtime, tmp_path)
    copy_url = next(copies)
    try:
        dry = service.erase_job(
            runtime, world_keys, subject=ALICE, actor=Principal("dpo"), dry_run=True
        )
        assert (dry.logs, dry.payloads, dry.key_destroyed) == (4, 3, True)
        erased = service.erase_job(
            runtime, world_keys, subject=ALICE, actor=Principal("dpo"), dry_run=False
        )
        assert (erased.logs, erased.payloads, erased.key_destroyed) == (4, 3, True)

        live = service.export_job(runtime, world_keys, subject=ALICE, actor=Principal("dpo"))
        assert live.records == []
        bob = service.export_job(runtime, world_keys, subject=BOB, actor=Principal("dpo"))
        assert len(bob.records) == 1
        assert bob.records[0].payload["inputs"][0]["who"] == BOB

        copy = Database(copy_url)
        try:
            with copy.unit_of_work() as session, world_keys.keystore.unit_of_work() as ks:
                sealed = session.scalars(
                    select(RequestPayload).where(
                        RequestPayload.subject == pseudonym, RequestPayload.mode == "full"
                    )
                ).all()
                assert len(sealed) == 2  # the copy still holds the ciphertext ...
                for row in sealed:
                    assert row.sealed is not None
                    assert NOTE.encode() not in row.sealed
                    with pytest.raises(Invalid, match="destroyed"):  # ... that nothing opens
                        open_payload(row, ks, world_keys.master)
        finally:
            copy.dispose()

        with world_keys.keystore.unit_of_work() as ks:
            assert ks.get(SubjectKey, pseudonym) is None
        keystore_file = Path(str(make_url(world_keys.settings.keystore_database_url).database))
        for path in keystore_file.parent.glob(keystore_file.name + "*"):
            assert wrapped not in path.read_bytes(), path
        with runtime.db.unit_of_work() as session:
            assert "privacy.subject_erased" in [e.action for e in audit.get_all(session)]
    finally:
        copies.close()


def test_a_legal_hold_refuses_erasure(
    runtime: Runtime, echo: EchoUpstream, make_key: KeyFactory, world_keys: PrivacyKeys
) -> None:
    _drive(runtime, echo, make_key)
    with runtime.db.unit_of_work() as session:
        service.add_hold(
            session,
            secret=runtime.secret,
            hold_in=HoldCreate(kind="route", target="redacted", reason="litigation"),
            actor=Principal("dpo"),
        )
    with pytest.raises(Conflict, match="redacted"):
        service.erase_job(runtime, world_keys, subject=ALICE, actor=Principal("dpo"), dry_run=False)
    assert (
        len(service.export_job(runtime, world_keys, subject=ALICE, actor=Principal("dpo")).records)
        == 4
    )


def test_erase_and_export_from_the_cli(
    cli: CliRunner, runtime: Runtime, echo: EchoUpstream, make_key: KeyFactory, tmp_path: Path
) -> None:
    assert cli("init").code == 0
    _drive(runtime, echo, make_key)
    exported = cli("privacy", "export", BOB)
    assert exported.code == 0, exported.err
    assert NOTE in exported.out
    assert BOB in exported.out

    def exports() -> int:
        log = cli("audit", "export")
        return sum('"privacy.subject_exported"' in line for line in log.out.splitlines())

    audited = exports()
    nowhere = cli("privacy", "export", BOB, "-o", str(tmp_path / "no-such-dir" / "bob.json"))
    assert nowhere.code == 1
    assert exports() == audited  # nothing written, nothing claimed
    to_file = tmp_path / "bob.json"
    assert cli("privacy", "export", BOB, "-o", str(to_file)).code == 0
    assert NOTE in to_file.read_text()
    assert to_file.stat().st_mode & 0o777 == 0o600  # decrypted personal data: the owner's only
    assert exports() == audited + 1
    assert cli("privacy", "export", BOB, "-o", str(to_file)).code == 1  # never overwritten
    assert cli("privacy", "erase", "", "--yes").code == 2  # an empty subject names nobody
    refused = cli("privacy", "erase", BOB, stdin="somebody-else\n")
    assert refused.code == 1
    assert "did not match" in refused.err
    dry = cli("privacy", "erase", BOB, "--dry-run", "--json")
    assert dry.code == 0
    assert '"dry_run": true' in dry.out
    done = cli("privacy", "erase", BOB, stdin=BOB + "\n")
    assert done.code == 0, done.err
    assert "erased 1 log(s), 1 payload(s) and destroyed its key" in done.out
    assert '"records": []' in cli("privacy", "export", BOB).out


def test_a_blank_subject_header_names_nobody(
    runtime: Runtime, echo: EchoUpstream, make_key: KeyFactory, world_keys: PrivacyKeys
) -> None:
    serve_upstream_route(runtime, route="full", model="full-m", url=echo.url, log_mode="full")
    key = make_key("gateway:invoke")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        refresh(client)
        for blank in ("", " "):
            answer = client.post(
                "/v1/routes/full/predict",
                json={"inputs": [{"note": NOTE}]},
                headers={**bearer(key), "X-MLGate-Subject": blank},
            )
            assert answer.status_code == 200, answer.text
        flush_logs(client)
    with runtime.db.unit_of_work() as session:
        logs = session.scalars(select(RequestLog)).all()
        payloads = session.scalars(select(RequestPayload)).all()
    assert len(logs) == len(payloads) == 2
    assert {log.subject for log in logs} == {None}
    assert {row.key_ref for row in payloads} == {"route:full"}  # the route's key, as without one


def test_a_non_ascii_subject_header_is_the_subject_it_spells(
    runtime: Runtime, echo: EchoUpstream, make_key: KeyFactory, world_keys: PrivacyKeys
) -> None:
    subject = "josé-4711"
    serve_upstream_route(runtime, route="full", model="full-m", url=echo.url, log_mode="full")
    key = make_key("gateway:invoke")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        refresh(client)
        answer = client.post(
            "/v1/routes/full/predict",
            json={"inputs": [{"note": NOTE}]},
            headers=[
                (b"authorization", f"Bearer {key}".encode()),
                (b"x-mlgate-subject", subject.encode()),  # as curl sends it
            ],
        )
        assert answer.status_code == 200, answer.text
        flush_logs(client)
    exported = service.export_job(runtime, world_keys, subject=subject, actor=Principal("dpo"))
    assert len(exported.records) == 1  # found by the name the data subject gives


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_a_header_is_read_as_utf8_else_latin1(encoding: str) -> None:
    assert header_text("josé".encode(encoding)) == "josé"  # requests sends Latin-1
