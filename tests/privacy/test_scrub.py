"""The log filter keeps registered secrets and credential shapes out of formatted logs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from urllib.parse import quote

import httpx
import pytest
from pydantic import SecretStr

from mlgate.privacy import REDACTED, SecretScrubFilter

Logged = tuple[logging.Logger, io.StringIO, SecretScrubFilter]

API_KEY = "mlg_" + "A1b2C3d4" * 5 + "_Zz9Yy8"


@pytest.fixture
def logged() -> Iterator[Logged]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s|%(user)s"))
    scrubber = SecretScrubFilter([SecretStr("hunter2-db-password")])
    handler.addFilter(scrubber)
    logger = logging.getLogger("tests.privacy.scrub")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield logger, stream, scrubber
    logger.removeHandler(handler)


def test_registered_secrets_are_scrubbed_from_message_and_args(logged: Logged) -> None:
    logger, stream, _ = logged
    logger.info("connecting with %s", "hunter2-db-password", extra={"user": "ann"})
    assert stream.getvalue() == f"connecting with {REDACTED}|ann\n"


def test_secrets_registered_at_runtime_are_scrubbed(logged: Logged) -> None:
    logger, stream, scrubber = logged
    scrubber.register("per-tenant-token-77")
    logger.info("token per-tenant-token-77 used", extra={"user": "per-tenant-token-77"})
    assert "per-tenant-token-77" not in stream.getvalue()


@pytest.mark.parametrize(
    ("secret", "kept"),
    [
        (API_KEY, "key="),
        ("sk-proj-" + "x" * 40, "key="),
        ("AKIAIOSFODNN7EXAMPLE", "key="),
        ("ASIAIOSFODNN7EXAMPLE", "key="),
        ("AGPAIOSFODNN7EXAMPLE", "key="),
        ("AIDAIOSFODNN7EXAMPLE", "key="),
        ("AROAIOSFODNN7EXAMPLE", "key="),
        ("Bearer eyJhbGciOi.eyJzdWIi.sig_123", "key=Bearer "),
        ("bearer eyJhbGciOi.eyJzdWIi.sig_123", "key=bearer "),
        ("sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc", "key="),
        ("rk_" + "test_" + "4eC39HqLyjWDarjtT1zdp7dc", "key="),
        ("Basic dXNlcjpwYXNz", "key=Basic "),  # "user:pass"
        ("Basic c2tfdGVzdF80ZUMzOUhxTHlqV0Rhcmp0VDF6ZHA3ZGM6", "key=Basic "),  # "sk_test_…:"
        ("Authorization: Basic Zm9vYmFy", "key=Authorization: Basic "),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
            "key=",
        ),
    ],
)
def test_credential_shapes_are_scrubbed_without_registration(
    logged: Logged, secret: str, kept: str
) -> None:
    logger, stream, _ = logged
    logger.info("key=%s", secret, extra={"user": "-"})
    assert stream.getvalue() == f"{kept}{REDACTED}|-\n"


def test_headers_logged_as_json_inside_a_json_line_are_scrubbed(logged: Logged) -> None:
    logger, stream, _ = logged
    headers = json.dumps({"Proxy-Authorization": "Basic Zm9vYmFy", "auth": "Basic YmFyYmF6"})
    logger.info("%s", json.dumps({"headers": headers}), extra={"user": "-"})
    logger.info("%s", json.dumps({"line": json.dumps({"headers": headers})}), extra={"user": "-"})
    assert "Zm9vYmFy" not in stream.getvalue()
    assert "YmFyYmF6" not in stream.getvalue()
    assert stream.getvalue().count(REDACTED) == 4


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("Bearer internal-service-token", f"Bearer {REDACTED}"),
        ("Basic Zm9vYmFy", f"Basic {REDACTED}"),  # "foobar": no "user:", only the name says
        (["Basic Zm9vYmFy"], f"['Basic {REDACTED}']"),
        (b"Basic Zm9vYmFy", f"b'Basic {REDACTED}'"),
        ("Bearer authentication", f"Bearer {REDACTED}"),
    ],
    ids=["bearer", "basic", "list", "bytes", "bearer-word"],
)
def test_an_extra_field_is_read_after_its_name(value: object, shown: str) -> None:
    """The scrubber never saw the field's name, and so no Authorization header."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s|%(authorization)s|%(note)s"))
    handler.addFilter(SecretScrubFilter())
    logger = logging.getLogger("tests.privacy.scrub.named")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("upstream call", extra={"authorization": value, "note": "Basic Zm9vYmFy"})
    finally:
        logger.removeHandler(handler)
    # The name is context, not text: "note" is no header, and nothing of a name is replaced.
    assert stream.getvalue() == f"upstream call|{shown}|Basic Zm9vYmFy\n"


def test_a_word_in_a_field_named_as_a_header_is_kept() -> None:
    record = logging.makeLogRecord({"msg": "x", "authorization": "Basic information"})
    SecretScrubFilter().filter(record)
    assert record.authorization == "Basic information"  # type: ignore[attr-defined]
    scrubber = SecretScrubFilter()
    assert scrubber.scrub("Basic Zm9vYmFy", name="auth") == f"Basic {REDACTED}"
    assert scrubber.scrub("Basic Zm9vYmFy", name="note") == "Basic Zm9vYmFy"


def test_exception_text_is_scrubbed(logged: Logged) -> None:
    logger, stream, _ = logged
    try:
        raise ValueError(f"bad key {API_KEY} for hunter2-db-password")
    except ValueError:
        logger.exception("failed", extra={"user": "-"})
    output = stream.getvalue()
    assert "ValueError: bad key" in output
    assert API_KEY not in output
    assert "hunter2-db-password" not in output


def test_pem_private_keys_are_scrubbed(logged: Logged) -> None:
    logger, stream, _ = logged
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----"
    logger.info("loaded %s", pem, extra={"user": "-"})
    assert "MIIEvQIBADANBg" not in stream.getvalue()


def test_short_values_are_not_registered() -> None:
    scrubber = SecretScrubFilter()
    scrubber.register("abc")
    assert scrubber.scrub("abc def") == "abc def"


def test_broken_format_strings_still_get_logged_scrubbed(logged: Logged) -> None:
    logger, stream, _ = logged
    logger.info("oops %d", "hunter2-db-password", extra={"user": "-"})
    assert "oops" in stream.getvalue()
    assert "hunter2-db-password" not in stream.getvalue()


@pytest.mark.parametrize("where", range(4))
def test_a_credential_in_any_one_of_many_fields_is_scrubbed_and_the_rest_kept(where: int) -> None:
    scrubber = SecretScrubFilter([SecretStr("hunter2-db-password")])
    fields: dict[str, object] = {f"field{i}": f"plain value {i}" for i in range(4)}
    fields["count"] = 3
    fields[f"field{where}"] = API_KEY  # the whole field: the key starts and ends it
    record = logging.makeLogRecord({"msg": "request", **fields})
    scrubber.filter(record)
    for i in range(4):
        expected = REDACTED if i == where else f"plain value {i}"
        assert getattr(record, f"field{i}") == expected
    assert record.getMessage() == "request"
    assert record.count == 3  # type: ignore[attr-defined]


def test_a_clean_record_is_left_as_it_was() -> None:
    record = logging.makeLogRecord({"msg": "user %s", "args": ("ann",), "path": "/v1/x"})
    SecretScrubFilter([SecretStr("hunter2-db-password")]).filter(record)
    assert record.getMessage() == "user ann"
    assert record.path == "/v1/x"  # type: ignore[attr-defined]


class _Upstream:
    """An object whose text names a secret, as an exception or a client object can."""

    def __str__(self) -> str:
        return "upstream with hunter2-db-password"


@pytest.mark.parametrize(
    "extra",
    [
        b"raw hunter2-db-password",
        ValueError("login failed for hunter2-db-password"),
        _Upstream(),
        {"nested": ["hunter2-db-password"]},
    ],
    ids=["bytes", "exception", "object", "dict"],
)
@pytest.mark.parametrize("line_format", ["text", "json"])
def test_an_extra_field_of_any_type_is_scrubbed(extra: object, line_format: str) -> None:
    from mlgate.serverlog import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter() if line_format == "json" else logging.Formatter("%(message)s|%(user)s")
    )
    handler.addFilter(SecretScrubFilter([SecretStr("hunter2-db-password")]))
    logger = logging.getLogger("tests.privacy.scrub.extra")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("upstream call failed", extra={"user": extra})
    finally:
        logger.removeHandler(handler)
    assert "hunter2-db-password" not in stream.getvalue()
    assert REDACTED in stream.getvalue()


def test_an_extra_field_without_a_secret_keeps_its_type() -> None:
    error = ValueError("timeout after 3 s")
    record = logging.makeLogRecord({"msg": "failed", "error": error, "raw": b"abc"})
    SecretScrubFilter([SecretStr("hunter2-db-password")]).filter(record)
    assert record.error is error  # type: ignore[attr-defined]
    assert record.raw == b"abc"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "encode",
    [
        lambda value: str(httpx.URL("https://model.internal/v1", params={"api_key": value})),
        lambda value: f"https://model.internal/v1?api_key={quote(value, safe='')}",
        lambda value: f"https://model.internal/v1?api_key={quote(value)}",
    ],
    ids=["httpx-params", "quote-all", "quote-path"],
)
def test_a_secret_is_scrubbed_in_its_url_encoded_form(encode: Callable[[str], str]) -> None:
    """A client logs the URL it called: a secret sent in a query shows percent-encoded."""
    scrubber = SecretScrubFilter([SecretStr("s3cr3t+Val/ue==")])
    line = f"HTTP Request: GET {encode('s3cr3t+Val/ue==')} 200"
    assert "s3cr3t%2BVal" in line
    expected = f"HTTP Request: GET https://model.internal/v1?api_key={REDACTED} 200"
    assert scrubber.scrub(line) == expected
    assert not scrubber.clean(line)


def test_a_secret_with_quotes_is_scrubbed_where_json_escapes_them() -> None:
    scrubber = SecretScrubFilter([SecretStr('pa"ss\\word-42')])
    assert scrubber.scrub('{"password": "pa\\"ss\\\\word-42"}') == f'{{"password": "{REDACTED}"}}'
