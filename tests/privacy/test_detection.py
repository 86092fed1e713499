"""Detection of each entity type, overlap resolution and the Presidio adapter."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pytest

from mlgate.privacy import (
    Detector,
    Finding,
    PresidioRecognizer,
    SecretScrubFilter,
    default_detector,
    detect,
    redact_json,
)
from mlgate.privacy.pii import resolve_overlaps
from mlgate.privacy.recognizers import builtin_recognizers


def found(text: str) -> list[tuple[str, str]]:
    return [(f.entity_type, text[f.start : f.end]) for f in detect(text)]


def credentials(text: str) -> list[str]:
    return [text[f.start : f.end] for f in detect(text) if f.entity_type == "CREDENTIAL"]


def basic(user_password: str) -> str:
    """The token of an Authorization: Basic header (RFC 7617: base64 of UTF-8 user:password)."""
    return base64.b64encode(user_password.encode()).decode()


# Built here so that no secret scanner takes this file for a leak.
STRIPE_KEY = "sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail bob.smith@example.com now", ("EMAIL_ADDRESS", "bob.smith@example.com")),
        ("call (212) 555-0199 today", ("PHONE_NUMBER", "(212) 555-0199")),
        ("call +33 6 12 34 56 78", ("PHONE_NUMBER", "+33 6 12 34 56 78")),
        ("card 4111 1111 1111 1111 ok", ("CREDIT_CARD", "4111 1111 1111 1111")),
        ("amex 3782-822463-10005.", ("CREDIT_CARD", "3782-822463-10005")),
        ("to DE89 3704 0044 0532 0130 00 please", ("IBAN_CODE", "DE89 3704 0044 0532 0130 00")),
        ("iban GB82WEST12345698765432", ("IBAN_CODE", "GB82WEST12345698765432")),
        ("from 192.168.10.1.", ("IP_ADDRESS", "192.168.10.1")),
        ("from 2001:db8::8a2e:370:7334 ok", ("IP_ADDRESS", "2001:db8::8a2e:370:7334")),
        ("ssn 123-45-6789", ("US_SSN", "123-45-6789")),
        ("ssn 536-22-1234.0", ("US_SSN", "536-22-1234")),
        ("DNI 12345678Z", ("ES_NIF", "12345678Z")),
        ("CF RSSMRA85T10A562S", ("IT_FISCAL_CODE", "RSSMRA85T10A562S")),
        ("BSN 111222333", ("NL_BSN", "111222333")),
        ("NIR 1 85 05 78 006 084 91", ("FR_NIR", "1 85 05 78 006 084 91")),
        ("IdNr 36 574 261 809", ("DE_TAX_ID", "36 574 261 809")),
        ("DOB: 12/03/1985", ("DATE_OF_BIRTH", "12/03/1985")),
        ("she was born on March 4, 1990.", ("DATE_OF_BIRTH", "March 4, 1990")),
        ("see https://docs.example.com/a?b=1.", ("URL", "https://docs.example.com/a?b=1")),
        ("Authorization: Bearer abc.def-ghi_123", ("CREDENTIAL", "abc.def-ghi_123")),
        ("key AKIAIOSFODNN7EXAMPLE", ("CREDENTIAL", "AKIAIOSFODNN7EXAMPLE")),
        (f"stripe {STRIPE_KEY}.", ("CREDENTIAL", STRIPE_KEY)),
        ("key sk_test_" + "4eC39HqLyjWDarjt", ("CREDENTIAL", "sk_test_4eC39HqLyjWDarjt")),
        ("key rk_live_" + "51H8x2dAbCdEfGhIj", ("CREDENTIAL", "rk_live_51H8x2dAbCdEfGhIj")),
        ("Mr. John Smith called", ("PERSON", "John Smith")),
        ("name: Ingrid Lindqvist, city: Tampere", ("PERSON", "Ingrid Lindqvist")),
        ("flight from Lisbon", ("LOCATION", "Lisbon")),
    ],
)
def test_detects_each_entity_type_with_its_exact_span(text: str, expected: tuple[str, str]) -> None:
    assert expected in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 (fails Luhn)",
        "iban DE88 3704 0044 0532 0130 00 (wrong check digits)",
        "version 256.1.2.3 and 10.0.0.300",
        "mac 00:1a:2b:3c:4d:5e at 12:30:45",
        "ssn 666-12-3456 and 000-12-3456",
        "DNI 12345678A",
        "meeting on 2024-03-12",
        "key sk-short and mlg_test",
        "stripe's pk_live_" + "4eC39HqLyjWDarjtT1zdp7dc is public, sk_live_short is none",
        "reference 48291734",
    ],
)
def test_invalid_look_alikes_are_not_reported(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("authorization: basic Zm9vYmFy", "Zm9vYmFy"),  # "foobar": the header says what it is
        ('{"Authorization": "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="}', "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ("curl -H 'Proxy-Authorization: Basic ZXhhbXBsZQ==' x", "ZXhhbXBsZQ=="),
        ("the client sent Basic YWRtaW46aHVudGVyMg== again", "YWRtaW46aHVudGVyMg=="),
        ("retry with basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),  # "user:pass", no header needed
        # An API key sent as the user with an empty password, as Stripe's clients do.
        (f"sent Basic {basic(STRIPE_KEY + ':')} again", basic(STRIPE_KEY + ":")),
        (f"sent Basic {basic('alice:pässwörd')}", basic("alice:pässwörd")),  # UTF-8
        (f"sent Basic {basic('jürgen:')}", basic("jürgen:")),
        # Headers logged as JSON inside a JSON string: the quotes are escaped.
        (json.dumps({"msg": json.dumps({"Authorization": "Basic Zm9vYmFy"})}), "Zm9vYmFy"),
        ("('Authorization', 'Basic Zm9vYmFy')", "Zm9vYmFy"),  # a tuple of strings
        ('auth="Basic Zm9vYmFy"', "Zm9vYmFy"),
        ("proxy_auth_header: Basic Zm9vYmFy", "Zm9vYmFy"),
        # After the header: short, with an empty user (a token sent as the password), in
        # Latin-1, unpadded, or a key sent raw.
        (f"Authorization: Basic {basic('a:b')}", basic("a:b")),
        (f"Authorization: Basic {basic(':pat0123')}", basic(":pat0123")),
        (
            "Authorization: Basic "
            + base64.b64encode("jürgen:pässwort".encode("latin-1")).decode(),
            base64.b64encode("jürgen:pässwort".encode("latin-1")).decode(),
        ),
        ("Authorization: Basic dXNlcjpwdw", "dXNlcjpwdw"),
        (
            "Authorization: Basic 9f8e7d6c5b4a39281706f5e4d3c2b1a0",
            "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        ),
        # A word that is base64 of "user:password" ("k:fj9q") is a credential all the same.
        ("Authorization: Basic azpmajlx", "azpmajlx"),
    ],
)
def test_basic_credentials_are_found(text: str, secret: str) -> None:
    assert found(text) == [("CREDENTIAL", secret)]


@pytest.mark.parametrize(
    "text",
    [
        "Basic English has 850 words",
        "Basic Auth is enabled for this route",
        "the Basic plan costs 10 EUR",
        "Basic ZXhhbXBsZQ== decodes to a word without a colon",
        "BASIC programs and basic research",
        "authorization, Basic information",
        f"sent Basic {basic(':no user')}",
        f"sent Basic {basic('no colon at all')}",
        # A header or key says what its value is, but a plain word is no base64 token.
        "authorization: Basic information",
        "Authorization: Basic INFORMATION.",
        "Authorization: Basic Information",
        'headers: {"Authorization": "Basic credentials"}',
        "auth_token: Basic authenticate",
    ],
)
def test_the_word_basic_alone_is_no_credential(text: str) -> None:
    assert found(text) == []
    assert SecretScrubFilter().scrub(text) == text


@pytest.mark.parametrize(
    ("text", "token"),
    [
        (
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
        ),
        ("bearer AbCdEfGhIjKlMnOp", "AbCdEfGhIjKlMnOp"),
        ("Bearer abcdef0123456789", "abcdef0123456789"),
        ("Bearer opaque_token.v2", "opaque_token.v2"),
        # RFC 6750 allows any run of its characters: after the header, a word is one too.
        ("Authorization: Bearer supersecrettoken", "supersecrettoken"),
        ('{"authorization": "Bearer changeme-please"}', "changeme-please"),
        # Even a word the prose list holds, after the header or key.
        ("Authorization: Bearer authentication", "authentication"),
    ],
)
def test_bearer_tokens_are_found(text: str, token: str) -> None:
    assert found(text) == [("CREDENTIAL", token)]


@pytest.mark.parametrize(
    ("text", "token"),
    [
        # A hand-chosen token is a word, and the header's name is often out of sight.
        ("Bearer supersecret", "supersecret"),
        ("retrying with Bearer changeme-please", "changeme-please"),
        ("Bearer internal-service-token", "internal-service-token"),
        ("Bearer fslebptdqxdkgpksirib", "fslebptdqxdkgpksirib"),
        # The header shapes logs hold: Go's http.Header as JSON, an ASGI scope's headers, a
        # HAR entry, a subscript, the name and a blank.
        ('{"Authorization":["Bearer authentication"]}', "authentication"),
        ("[(b'authorization', b'Bearer authentication')]", "authentication"),
        ('{"name":"Authorization","value":"Bearer authentication"}', "authentication"),
        ('headers["Authorization"] = "Bearer authentication"', "authentication"),
        ("Authorization Bearer authentication", "authentication"),
    ],
)
def test_a_word_after_bearer_is_a_token_unless_prose_puts_it_there(text: str, token: str) -> None:
    assert credentials(text) == [token]
    assert token not in SecretScrubFilter().scrub(text)


@pytest.mark.parametrize(
    "text",
    [
        "Bearer authentication is enabled for this route",
        "use Bearer authentication.",
        "the bearer instrument is transferable",
        "bearer instruments, bearer securities and bearer cheques",
        "Bearer SECURITIES are transferable by delivery",
        "see the Bearer schemes.",
        "authentication Bearer authentication",  # "authentication" is not the header's name
    ],
)
def test_a_word_after_bearer_is_no_token(text: str) -> None:
    assert found(text) == []
    assert SecretScrubFilter().scrub(text) == text


@pytest.mark.parametrize(
    "payload",
    [
        {"Authorization": "Basic Zm9vYmFy"},
        {"headers": {"proxy-authorization": "Basic Zm9vYmFy"}},
        {"auth": "Basic Zm9vYmFy"},
        {"authHeader": "Basic Zm9vYmFy"},
        {"proxyAuthorization": "Basic Zm9vYmFy"},
        {"basic_auth": "Basic Zm9vYmFy"},
        {"authentication": "Basic Zm9vYmFy"},
    ],
)
def test_a_basic_token_under_an_authorization_key_is_a_credential(payload: Any) -> None:
    assert "Zm9vYmFy" not in str(redact_json(payload))
    assert "Basic <CREDENTIAL>" in str(redact_json(payload))


@pytest.mark.parametrize(
    "text",
    [
        '{"Authorization":["Basic Zm9vYmFy"]}',  # Go's http.Header as JSON
        '{\\"Authorization\\": [\\"Basic Zm9vYmFy\\"]}',  # the same inside a JSON string
        "[(b'authorization', b'Basic Zm9vYmFy')]",  # an ASGI scope's headers
        '{"name": "Proxy-Authorization", "value": "Basic Zm9vYmFy"}',  # a HAR entry
        'headers["Authorization"] = "Basic Zm9vYmFy"',
        "Authorization Basic Zm9vYmFy",
    ],
)
def test_a_basic_token_after_a_logged_header_shape_is_a_credential(text: str) -> None:
    """ "Zm9vYmFy" is base64 of "foobar": no "user:", so only the header makes it one."""
    assert credentials(text) == ["Zm9vYmFy"]
    assert "Zm9vYmFy" not in SecretScrubFilter().scrub(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"Authorization":["Basic information"]}',
        "[(b'authorization', b'Basic information')]",
        "Authorization Basic information",
    ],
)
def test_a_word_after_a_logged_header_shape_and_basic_is_none(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("SSN: 536221234", "536221234"),
        ("ssn 536 22 1234 on file", "536 22 1234"),
        ("social security number 536221234.", "536221234"),
        ("Social Security No. 536.22.1234", "536.22.1234"),
        ("my SSN is 536221234", "536221234"),
        ("SSN#536221234", "536221234"),
        # A decimal part of zeros: an SSN column read as floats, written back by pandas.
        ("ssn=536221234.0", "536221234"),
        ("SSN: 536221234.00 on file", "536221234"),
        ("ssn 536 22 1234.0", "536 22 1234"),
    ],
)
def test_an_ssn_without_dashes_is_found_after_its_cue(text: str, number: str) -> None:
    assert found(text) == [("US_SSN", number)]


@pytest.mark.parametrize(
    "text",
    [
        "order 536221234 shipped",  # nine digits without a cue are not an SSN
        "ref 536 22 1234 x",
        "ssn 000221234",  # area 000
        "ssn 666221234",  # area 666
        "ssn 900221234",  # area 9xx
        "ssn 536001234",  # group 00
        "ssn 536220000",  # serial 0000
        "ssn 078051120",  # the Woolworth wallet card, never anyone's
        "ssn 5362212345",  # ten digits
        "SSN: 536221234.5",  # a cue, but a decimal number
        "ssn 536.22.1234.5",  # a cue, but four dotted groups
        "SSN: 536221234.05",
        "ssn 536 22 1234.5",
        "ssn 536-22-1234.5",  # dashed, the same
    ],
)
def test_nine_digits_that_are_no_ssn_are_left_alone(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"ssn": "536221234"}, {"ssn": "<US_SSN>"}),
        ({"ssn": "536221234.0"}, {"ssn": "<US_SSN>.0"}),
        ({"social_security_number": 536221234}, {"social_security_number": "<US_SSN>"}),
        ({"customer": {"SSN": "536 22 1234"}}, {"customer": {"SSN": "<US_SSN>"}}),
        ({"order_id": "536221234"}, {"order_id": "536221234"}),
        ({"ssn": "900221234"}, {"ssn": "900221234"}),
    ],
)
def test_an_ssn_key_is_the_cue_for_its_value(payload: Any, expected: Any) -> None:
    assert redact_json(payload) == expected


@pytest.mark.parametrize(
    ("text", "iban"),
    [
        ("to de89 3704 0044 0532 0130 00 please", "de89 3704 0044 0532 0130 00"),
        ("iban de89370400440532013000.", "de89370400440532013000"),
        ("IBAN: gb82 west 1234 5698 7654 32", "gb82 west 1234 5698 7654 32"),
        ("iban Gb82West12345698765432 ok", "Gb82West12345698765432"),
        ("iban: fr14 2004 1010 0505 0001 3m02 606", "fr14 2004 1010 0505 0001 3m02 606"),
    ],
)
def test_an_iban_in_lower_case_is_found(text: str, iban: str) -> None:
    assert found(text) == [("IBAN_CODE", iban)]


def test_a_lower_case_iban_with_wrong_check_digits_is_not_found() -> None:
    assert found("iban de88 3704 0044 0532 0130 00 and gb82west12345698765433") == []


def test_pem_private_key_block_is_one_credential() -> None:
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\nabc=\n-----END RSA PRIVATE KEY-----"
    assert found(f"key:\n{pem}\nend") == [("CREDENTIAL", pem)]


def test_entities_argument_restricts_the_types_reported() -> None:
    text = "bob@example.com 4111 1111 1111 1111"
    assert [f.entity_type for f in detect(text, ["CREDIT_CARD"])] == ["CREDIT_CARD"]


def test_findings_have_presidio_result_shape() -> None:
    (finding,) = detect("write to ann@example.org")
    assert finding.to_dict() == {
        "entity_type": "EMAIL_ADDRESS",
        "start": 9,
        "end": 24,
        "score": 1.0,
    }


def test_overlaps_keep_highest_score_then_longest() -> None:
    kept = resolve_overlaps(
        [
            Finding("PHONE_NUMBER", 0, 10, 0.6),
            Finding("NL_BSN", 0, 9, 0.7),
            Finding("URL", 20, 40, 0.8),
            Finding("EMAIL_ADDRESS", 25, 35, 0.8),
        ]
    )
    assert kept == [Finding("NL_BSN", 0, 9, 0.7), Finding("URL", 20, 40, 0.8)]


@dataclass
class _Result:
    entity_type: str
    start: int
    end: int
    score: float


class _EmployeeIdRecognizer:
    """Stands in for a Presidio recognizer: the adapter only needs ``analyze``."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any) -> list[_Result]:
        assert nlp_artifacts is None
        at = text.find("EMP-")
        return [] if at < 0 else [_Result("EMPLOYEE_ID", at, at + 10, 0.9)]


def test_a_presidio_style_recognizer_plugs_into_the_detector() -> None:
    detector = default_detector().with_recognizers(
        PresidioRecognizer(_EmployeeIdRecognizer(), ["EMPLOYEE_ID"])
    )
    text = "EMP-123456 wrote from bob@example.com"
    assert [(f.entity_type, text[f.start : f.end]) for f in detect(text, detector=detector)] == [
        ("EMPLOYEE_ID", "EMP-123456"),
        ("EMAIL_ADDRESS", "bob@example.com"),
    ]


def test_a_real_presidio_pattern_recognizer_plugs_in() -> None:
    presidio = pytest.importorskip("presidio_analyzer")
    pattern = presidio.Pattern("ticket", r"TCK-\d{5}", 0.8)
    recognizer = presidio.PatternRecognizer(supported_entity="TICKET", patterns=[pattern])
    detector = Detector([PresidioRecognizer(recognizer, ["TICKET"])])
    (finding,) = detector.analyze("see TCK-12345")
    assert (finding.entity_type, finding.start, finding.end) == ("TICKET", 4, 13)


def test_min_score_drops_weak_findings() -> None:
    detector = Detector(builtin_recognizers(), min_score=0.65)
    assert detect("call (212) 555-0199", detector=detector) == []
