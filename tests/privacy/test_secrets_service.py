"""The secret store on both databases: sealed values, names-only listings, master-key rotation."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.errors import Invalid, NotFound
from mlgate.privacy import service
from mlgate.privacy.crypto import Envelope, EnvelopeCipher
from mlgate.privacy.keys import PrivacyKeys, key_file_provider, static_provider
from mlgate.privacy.keystore import KeyStore
from mlgate.privacy.models import StoredSecret
from mlgate.privacy.schemas import SecretSet
from mlgate.runtime import Runtime
from tests.privacy.conftest import CliRunner

VALUE = "upstream-token-" + "q" * 24


def _set(runtime: Runtime, keys: PrivacyKeys, admin: Principal, name: str, value: str) -> None:
    with runtime.db.unit_of_work() as session:
        service.set_secret(
            session,
            cipher=keys.cipher,
            name=name,
            secret_in=SecretSet(value=SecretStr(value)),
            actor=admin,
        )


def test_a_secret_is_sealed_listed_by_name_and_resolved(
    runtime: Runtime, keys: PrivacyKeys, admin: Principal
) -> None:
    _set(runtime, keys, admin, "model-api", VALUE)
    with runtime.db.unit_of_work() as session:
        row = session.scalars(select(StoredSecret)).one()
        assert VALUE.encode() not in row.envelope
        listed = service.list_secrets(session)
        assert [s.name for s in listed] == ["model-api"]
        assert VALUE not in repr(listed)
        assert VALUE not in listed[0].model_dump_json()
        assert (
            service.resolve_secret(session, "model-api", cipher=keys.cipher).get_secret_value()
            == VALUE
        )
        actions = [e.action for e in audit.get_all(session)]
    assert actions.count("secret.created") == 1


def test_a_sealed_value_cannot_move_to_another_name(
    runtime: Runtime, keys: PrivacyKeys, admin: Principal
) -> None:
    _set(runtime, keys, admin, "one", VALUE)
    _set(runtime, keys, admin, "two", "another-value-123")
    with runtime.db.unit_of_work() as session:
        rows = {r.name: r for r in session.scalars(select(StoredSecret))}
        rows["two"].envelope = rows["one"].envelope
        session.flush()
        with pytest.raises(Invalid):
            service.resolve_secret(session, "two", cipher=keys.cipher)


def test_unknown_and_invalid_names(runtime: Runtime, keys: PrivacyKeys, admin: Principal) -> None:
    with runtime.db.unit_of_work() as session:
        with pytest.raises(NotFound):
            service.resolve_secret(session, "missing", cipher=keys.cipher)
        with pytest.raises(Invalid):
            service.set_secret(
                session,
                cipher=keys.cipher,
                name="Bad Name",
                secret_in=SecretSet(value=SecretStr("x" * 10)),
                actor=admin,
            )


def test_rotation_rewraps_every_data_key_and_the_old_key_opens_nothing(
    runtime: Runtime, keys: PrivacyKeys, admin: Principal
) -> None:
    _set(runtime, keys, admin, "a", VALUE)
    _set(runtime, keys, admin, "b", "second-value-456")
    with keys.keystore.unit_of_work() as keys_session:
        KeyStore.data_key_or_create(keys_session, ref="subject-1", cipher=keys.cipher)
    old_material = runtime.settings.master_key_path.read_text()
    old = key_file_provider(runtime.settings.master_key_path)

    result = service.rotate_master_job(runtime, keys, new_key=None, actor=admin)

    assert result.secrets == 2
    assert result.subject_keys == 1
    assert result.old_key_ids == [old.key_id]
    assert result.new_key_id != old.key_id
    assert runtime.settings.master_key_path.read_text() != old_material
    assert not (runtime.settings.master_key_path.parent / "master.key.next").exists()
    only_old = EnvelopeCipher(old)
    with runtime.db.unit_of_work() as session:
        for row in session.scalars(select(StoredSecret)):
            assert row.key_id == result.new_key_id
            with pytest.raises(NotFound):  # no envelope names the old key any more
                only_old.decrypt(
                    Envelope.from_bytes(row.envelope), context=b"secret:" + row.name.encode()
                )
            with pytest.raises(Invalid):  # and forcing the old key onto it does not unwrap
                old.unwrap(Envelope.from_bytes(row.envelope).wrapped_key)
        assert service.resolve_secret(session, "a", cipher=keys.cipher).get_secret_value() == VALUE
    with keys.keystore.unit_of_work() as keys_session:
        (subject_key,) = KeyStore.rows(keys_session)
        with pytest.raises(Invalid):
            old.unwrap(subject_key.wrapped_key)
        assert KeyStore.data_key(keys_session, ref="subject-1", cipher=keys.cipher) is not None


def test_an_interrupted_rotation_leaves_subject_keys_and_secrets_readable(
    runtime: Runtime, keys: PrivacyKeys, admin: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    _set(runtime, keys, admin, "a", VALUE)
    with keys.keystore.unit_of_work() as keys_session:
        before = KeyStore.data_key_or_create(keys_session, ref="subject-1", cipher=keys.cipher)

    def crash(*args: object) -> None:  # the process dies between the commit and the file swap
        raise OSError("power cut")

    monkeypatch.setattr("mlgate.privacy.jobs.os.replace", crash)
    with pytest.raises(OSError, match="power cut"):
        service.rotate_master_job(runtime, keys, new_key=None, actor=admin)
    monkeypatch.undo()

    restarted = PrivacyKeys(runtime)  # a new process: the old key file and the pending .next
    with keys.keystore.unit_of_work() as keys_session:
        assert KeyStore.data_key(keys_session, ref="subject-1", cipher=restarted.cipher) == before
    with runtime.db.unit_of_work() as session:
        assert service.resolve_secret(session, "a", cipher=restarted.cipher).get_secret_value() == (
            VALUE
        )
    service.rotate_master_job(runtime, restarted, new_key=None, actor=admin)  # finishes it
    with keys.keystore.unit_of_work() as keys_session:
        assert KeyStore.data_key(keys_session, ref="subject-1", cipher=restarted.cipher) == before


def test_a_server_running_through_a_rotation_loses_nothing(
    runtime: Runtime, keys: PrivacyKeys, admin: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, operator = keys, PrivacyKeys(runtime)  # `mlgate serve` and `mlgate secrets …`

    def key(ref: str, on: PrivacyKeys) -> bytes:
        with on.keystore.unit_of_work() as keys_session:
            return KeyStore.data_key_or_create(keys_session, ref=ref, cipher=on.cipher)

    _set(runtime, server, admin, "a", VALUE)
    made = {"s1": key("s1", server)}
    old = server.cipher.primary.key_id
    swap = os.replace

    def server_writes_then_swap(source: str, target: str) -> None:
        # Between the rotation's commit and its file swap, the server still wraps with the
        # key it holds: a new subject's key and a secret set over the API.
        made["s2"] = key("s2", server)
        _set(runtime, server, admin, "b", "set-during-the-rotation")
        swap(source, target)

    monkeypatch.setattr("mlgate.privacy.jobs.os.replace", server_writes_then_swap)
    rotation = service.rotate_master_job(runtime, operator, new_key=None, actor=admin)
    monkeypatch.undo()

    assert key("s1", server) == made["s1"]  # re-wrapped by the rotation, read by the server
    made["s3"] = key("s3", server)  # the server wraps with the new key now
    restarted = PrivacyKeys(runtime)  # the old key is gone from disk: only the new one opens
    try:
        for ref, data_key in made.items():
            assert key(ref, restarted) == data_key, ref
        with runtime.db.unit_of_work() as session:
            for name, value in (("a", VALUE), ("b", "set-during-the-rotation")):
                resolved = service.resolve_secret(session, name, cipher=restarted.cipher)
                assert resolved.get_secret_value() == value
            assert {r.key_id for r in session.scalars(select(StoredSecret))} == {
                rotation.new_key_id
            }
        with restarted.keystore.unit_of_work() as keys_session:
            assert {r.key_id for r in KeyStore.rows(keys_session)} == {rotation.new_key_id}
        assert old != rotation.new_key_id
    finally:
        restarted.close()
        operator.close()


def test_two_writers_creating_one_subjects_key_agree_on_it(
    db_url: str, keys: PrivacyKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = KeyStore(db_url)  # this test's own database, SQLite or PostgreSQL
    try:
        with store.unit_of_work() as first:
            winner = KeyStore.data_key_or_create(first, ref="subject-1", cipher=keys.cipher)
        with store.unit_of_work() as second:
            looked = second.get

            def missed_once(entity: object, ident: object, **kwargs: object) -> object:
                # As a replica that looked before the other committed: it saw no key.
                monkeypatch.setattr(second, "get", looked)
                return None

            monkeypatch.setattr(second, "get", missed_once)
            loser = KeyStore.data_key_or_create(second, ref="subject-1", cipher=keys.cipher)
        assert loser == winner  # the second insert gave way; both encrypt with one key
        with store.unit_of_work() as session:
            assert len(KeyStore.rows(session)) == 1
    finally:
        store.close()


def test_rotation_from_a_configured_master_key_to_a_new_one(
    runtime: Runtime, admin: Principal
) -> None:
    first = SecretStr(os.urandom(32).hex())
    second = SecretStr(base64.b64encode(os.urandom(32)).decode())
    settings = runtime.settings.model_copy(update={"master_key": first})
    configured = Runtime.from_settings(settings)
    keys = PrivacyKeys(configured)
    try:
        _set(configured, keys, admin, "a", VALUE)
        result = service.rotate_master_job(configured, keys, new_key=second, actor=admin)
        assert result.new_key_id == static_provider(second).key_id
        assert not settings.master_key_path.exists()  # no key file in this mode
        after = Runtime.from_settings(settings.model_copy(update={"master_key": second}))
        later = PrivacyKeys(after)
        try:
            with after.db.unit_of_work() as session:
                got = service.resolve_secret(session, "a", cipher=later.cipher)
            assert got.get_secret_value() == VALUE
        finally:
            later.close()
            after.close()
    finally:
        keys.close()
        configured.close()


def test_secrets_cli_never_prints_a_value(cli: CliRunner) -> None:
    assert cli("init").code == 0
    stored = cli("secrets", "set", "openai", "--stdin", "--description", "LLM key", stdin=VALUE)
    assert stored.code == 0, stored.err
    listing = cli("secrets", "list", "--json")
    assert listing.code == 0
    assert '"openai"' in listing.out
    assert VALUE not in stored.out + stored.err + listing.out + listing.err
    refused = cli("secrets", "delete", "openai", stdin="nope\n")
    assert refused.code == 1
    assert "did not match" in refused.err
    dry = cli("secrets", "delete", "openai", "--dry-run", "--json")
    assert dry.code == 0
    assert '"dry_run": true' in dry.out
    rotated = cli("secrets", "rotate-master", "--json")
    assert rotated.code == 0, rotated.err
    assert '"secrets": 1' in rotated.out
    deleted = cli("secrets", "delete", "openai", "--yes")
    assert deleted.code == 0
    assert "deleted secret openai" in deleted.out
    assert cli("secrets", "delete", "openai", "--yes").code == 1


def test_a_new_master_key_file_that_holds_no_key_changes_nothing(
    cli: CliRunner, tmp_path: Path
) -> None:
    assert cli("init").code == 0
    assert cli("secrets", "set", "openai", "--stdin", stdin=VALUE).code == 0
    bad = tmp_path / "new.key"
    bad.write_text("zz\n")
    refused = cli("secrets", "rotate-master", "--new-key-file", str(bad))
    assert refused.code == 1
    assert str(bad) in refused.err
    assert len(refused.err.strip().splitlines()) == 1
    # Nothing half-done blocks the store: it was left unusable by a master.key.next of "zz".
    assert cli("secrets", "set", "other", "--stdin", stdin=VALUE).code == 0
    good = tmp_path / "good.key"
    good.write_text("ab" * 32 + "\n")
    rotated = cli("secrets", "rotate-master", "--new-key-file", str(good), "--json")
    assert rotated.code == 0, rotated.err
    assert '"secrets": 2' in rotated.out
