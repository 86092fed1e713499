"""The log filter keeps registered secrets and credential shapes out of formatted logs."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

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
