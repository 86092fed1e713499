"""Master-key choice, the files `mlgate init` leaves, and subjects named inside a body."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from mlgate.config import Settings
from mlgate.errors import Invalid
from mlgate.privacy.keys import ensure_local_keys, master_provider
from mlgate.privacy.subjects import subject_at, subject_pseudonym


def test_init_leaves_a_private_master_key_file_and_a_key_store(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="sqlite://")
    ensure_local_keys(settings)
    assert stat.S_IMODE(settings.master_key_path.stat().st_mode) == 0o600
    assert (settings.data_dir / "keystore.db").exists()
    first = master_provider(settings).key_id
    assert first.startswith("file:")
    assert master_provider(settings).key_id == first  # stable across processes


def test_configured_and_vault_master_keys_take_precedence(tmp_path: Path) -> None:
    value = SecretStr("ab" * 32)
    settings = Settings(data_dir=tmp_path, master_key=value, vault_url="http://127.0.0.1:9")
    assert master_provider(settings).key_id.startswith("static:")
    vault = Settings(data_dir=tmp_path, vault_url="http://127.0.0.1:9")
    with pytest.raises(Invalid, match="VAULT_TOKEN"):
        master_provider(vault)
    with_token = vault.model_copy(update={"vault_token": SecretStr("root-token")})
    assert master_provider(with_token).key_id == "vault:transit/mlgate"
    assert "root-token" not in repr(master_provider(with_token))


@pytest.mark.parametrize(
    ("payload", "path", "subject"),
    [
        ({"customer": {"id": "c-17"}}, "$.customer.id", "c-17"),
        ({"rows": [{"user": 42}]}, "$.rows[0].user", "42"),
        ({"rows": []}, "$.rows[0].user", None),
        ({"customer": {"id": {"nested": 1}}}, "$.customer.id", None),
        ({"customer": {"id": True}}, "$.customer.id", None),
        ({"rows": [{"user": "a"}]}, "$.rows[*].user", None),
        ({"customer": {"id": ""}}, "$.customer.id", None),  # a blank names nobody
        ({"customer": {"id": "  "}}, "$.customer.id", None),
    ],
)
def test_subject_at_a_json_path(payload: object, path: str, subject: str | None) -> None:
    assert subject_at(payload, path) == subject


def test_pseudonyms_are_stable_keyed_and_never_the_subject() -> None:
    one = subject_pseudonym(b"k" * 32, "ann@example.com")
    assert one == subject_pseudonym(b"k" * 32, "ann@example.com")
    assert one != subject_pseudonym(b"j" * 32, "ann@example.com")
    assert one is not None
    assert "ann" not in one
    assert subject_pseudonym(b"k" * 32, None) is None
    # An empty header names nobody: it must not make every such caller one shared subject,
    # whose records nobody could export or erase (an empty subject is refused there).
    assert subject_pseudonym(b"k" * 32, "") is None
    assert subject_pseudonym(b"k" * 32, " \t") is None
