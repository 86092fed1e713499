"""Operators on free text and JSON payloads, as a user of the redaction API sees them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretBytes

from mlgate.errors import Invalid
from mlgate.privacy import (
    DEFAULT,
    Encrypt,
    Finding,
    KeyedHash,
    Mask,
    Remove,
    Replace,
    apply_operators,
    decrypt_token,
    detect,
    redact_json,
    redact_text,
)

KEY = SecretBytes(b"k" * 32)
TEXT = "Mail bob@example.com or call (212) 555-0199, card 4111 1111 1111 1111."


def test_replace_is_the_default_operator() -> None:
    assert redact_text(TEXT) == "Mail <EMAIL_ADDRESS> or call <PHONE_NUMBER>, card <CREDIT_CARD>."


def test_remove_drops_entities() -> None:
    assert redact_text("mail bob@example.com now", Remove()) == "mail  now"


def test_mask_keeps_the_last_characters_and_separators() -> None:
    assert redact_text("card 4111 1111 1111 1111", Mask(keep_last=4)) == "card **** **** **** 1111"


def test_mask_hides_short_values_entirely() -> None:
    assert Mask(keep_last=4)("12345", "X") == "*****"


def test_operators_per_type_with_a_default() -> None:
    ops = {"CREDIT_CARD": Mask(), DEFAULT: Replace("[{entity_type}]")}
    assert redact_text(TEXT, ops) == (
        "Mail [EMAIL_ADDRESS] or call [PHONE_NUMBER], card **** **** **** 1111."
    )


def test_keyed_hash_is_stable_per_key_and_differs_across_keys() -> None:
    one = KeyedHash(SecretBytes(b"a" * 32))
    other = KeyedHash(SecretBytes(b"b" * 32))
    first = redact_text("bob@example.com", one)
    assert first == redact_text("bob@example.com", one)
    assert first != redact_text("bob@example.com", other)
    assert first.startswith("<EMAIL_ADDRESS:")
    assert "bob" not in first


def test_keyed_hash_refuses_a_short_key() -> None:
    with pytest.raises(Invalid):
        KeyedHash(SecretBytes(b"short"))


def test_encrypted_entities_decrypt_with_the_key() -> None:
    redacted = redact_text("write to bob@example.com", Encrypt(KEY))
    token = redacted.removeprefix("write to ")
    assert token.startswith("enc1.")
    assert decrypt_token(token, KEY, "EMAIL_ADDRESS") == "bob@example.com"


def test_decrypting_with_the_wrong_key_or_type_fails_cleanly() -> None:
    token = Encrypt(KEY)("bob@example.com", "EMAIL_ADDRESS")
    with pytest.raises(Invalid):
        decrypt_token(token, SecretBytes(b"x" * 32), "EMAIL_ADDRESS")
    with pytest.raises(Invalid):
        decrypt_token(token, KEY, "PERSON")


def test_operator_reprs_hide_key_material() -> None:
    assert "kkkk" not in repr(Encrypt(KEY)) + repr(KeyedHash(KEY))


def test_overlapping_findings_leave_no_part_of_either_in_clear() -> None:
    """Findings from another analyzer (Presidio's) may overlap; the later one is clipped."""
    text = "id AB-12345-CD end"
    findings = [Finding("X", 3, 11, 1.0), Finding("Y", 6, 14, 0.9), Finding("Z", 5, 9, 0.8)]
    assert apply_operators(text, findings, Replace()) == "id <X><Y> end"


@given(st.text(max_size=200))
def test_encrypt_round_trips_any_text(value: str) -> None:
    assert decrypt_token(Encrypt(KEY)(value, "T"), KEY, "T") == value


@given(st.text(alphabet="abc 0123456789-@.", max_size=120))
def test_redacted_text_contains_no_detected_entity(text: str) -> None:
    redacted = redact_text(text, Replace("#"))
    assert all(text[f.start : f.end] not in redacted or f.end - f.start < 2 for f in detect(text))


PAYLOAD = {
    "user": {"email": "bob@example.com", "age": 41, "note": "call (212) 555-0199"},
    "items": [{"note": "card 4111 1111 1111 1111", "sku": "A1"}, {"note": "fine"}],
    "tags": ["ok", "ann@example.org"],
}


def test_redact_json_scans_every_string_value_and_keeps_the_input() -> None:
    out = redact_json(PAYLOAD)
    assert out["user"] == {"email": "<EMAIL_ADDRESS>", "age": 41, "note": "call <PHONE_NUMBER>"}
    assert out["items"][0]["note"] == "card <CREDIT_CARD>"
    assert out["tags"] == ["ok", "<EMAIL_ADDRESS>"]
    assert PAYLOAD["user"]["email"] == "bob@example.com"  # type: ignore[index]


def test_keys_and_long_numbers_are_scanned_too() -> None:
    payload = {
        "alice.private@example.org": 1,
        "bob@example.com": {"note": "x"},
        "<EMAIL_ADDRESS>": "already here",
        "card": 4111111111111111,
        "count": 412,
    }
    out = redact_json(payload)
    assert out == {  # in order: a key that redacts to one already there is numbered
        "<EMAIL_ADDRESS>": 1,
        "<EMAIL_ADDRESS>#2": {"note": "x"},
        "<EMAIL_ADDRESS>#3": "already here",  # no value lost to a collision
        "card": "<CREDIT_CARD>",
        "count": 412,  # a short number is only a number
    }
    assert "alice.private@example.org" in payload  # the input is left as it was


def test_field_rules_apply_to_whole_values_by_path() -> None:
    rules = {"$.user.email": KeyedHash(KEY), "$.items[*].note": Remove(), "$.user.age": Mask(1)}
    out = redact_json(PAYLOAD, rules=rules, scan_strings=False)
    assert out["user"]["email"].startswith("<FIELD:")
    assert out["user"]["age"] == "**"
    assert [item["note"] for item in out["items"]] == ["", ""]
    assert out["user"]["note"] == "call (212) 555-0199"
    assert out["tags"][1] == "ann@example.org"


def test_a_rule_on_an_object_covers_everything_beneath_it() -> None:
    out = redact_json(PAYLOAD, rules={"$['user']": Replace("x")}, scan_strings=False)
    assert out["user"] == {"email": "x", "age": "x", "note": "x"}


def test_index_paths_select_one_element() -> None:
    out = redact_json(PAYLOAD, rules={"$.tags[1]": Remove()}, scan_strings=False)
    assert out["tags"] == ["ok", ""]


@pytest.mark.parametrize("path", ["user.email", "$.user[", "$..user", "$.items[-1]"])
def test_malformed_paths_are_refused_with_a_hint(path: str) -> None:
    with pytest.raises(Invalid, match="path"):
        redact_json(PAYLOAD, rules={path: Remove()})
