"""The key format: recognisable, checksummed, never in a repr."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from mlgate.auth.keys import KEY_PATTERN, generate_key, hash_key, parse_key


def test_generated_keys_have_the_documented_shape_and_parse_back() -> None:
    key = generate_key()
    assert re.fullmatch(r"mlg_[0-9A-Za-z]{40}_[0-9A-Za-z]{6}", key.value)
    assert parse_key(key.value) == key
    assert key.value not in repr(key)


def test_a_single_typo_is_caught_by_the_checksum() -> None:
    key = generate_key().value
    position = 10
    replacement = "A" if key[position] != "A" else "B"
    typo = key[:position] + replacement + key[position + 1 :]
    assert parse_key(typo) is None


@given(st.text(max_size=80))
def test_arbitrary_text_never_parses_as_a_key(text: str) -> None:
    parsed = parse_key(text)
    assert parsed is None or re.fullmatch(KEY_PATTERN, text)


def test_hash_depends_on_the_server_secret() -> None:
    key = generate_key().value
    assert hash_key(b"a" * 32, key) != hash_key(b"b" * 32, key)
