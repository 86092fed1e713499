"""Server log lines: one JSON object per record, extras as keys, exceptions as text."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime

import pytest
from pydantic import SecretStr

from mlgate.config import Settings
from mlgate.privacy.scrub import SecretScrubFilter
from mlgate.serverlog import AccessLog, JsonFormatter, access_log


def record(**extra: object) -> logging.LogRecord:
    return logging.makeLogRecord(
        {"name": "mlgate.access", "levelno": logging.INFO, "levelname": "INFO", **extra}
    )


def test_a_record_is_one_json_object_with_its_extra_fields() -> None:
    line = JsonFormatter().format(
        record(msg="request %s", args=("done",), route="churn", status=200, color_message="x")
    )
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "request done"
    assert (parsed["level"], parsed["logger"]) == ("INFO", "mlgate.access")
    assert (parsed["route"], parsed["status"]) == ("churn", 200)
    assert "color_message" not in parsed  # uvicorn's terminal copy of the message
    assert datetime.fromisoformat(parsed["time"]).utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_exceptions_are_text_and_odd_values_their_repr() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        failed = record(msg="failed", exc_info=sys.exc_info(), target=object)
    parsed = json.loads(JsonFormatter().format(failed))
    assert "ValueError: boom" in parsed["exception"]
    assert parsed["target"] == repr(object)


def test_an_access_line_is_one_json_object_and_scrubs_credentials(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = AccessLog(text=False, scrubber=SecretScrubFilter())
    leaked = "mlg_" + "A" * 40  # a key-shaped request id a caller sent
    line.write({"request_id": leaked, "route": "churn", "status": 200, "version": 3})
    written = capsys.readouterr().err
    assert written.count("\n") == 1
    assert written.endswith("\n")
    parsed = json.loads(written)
    assert (parsed["level"], parsed["logger"], parsed["message"]) == (
        "INFO",
        "mlgate.access",
        "request",
    )
    assert (parsed["route"], parsed["status"], parsed["version"]) == ("churn", 200, 3)
    assert leaked not in written
    assert parsed["request_id"] == "[REDACTED]"
    assert datetime.fromisoformat(parsed["time"]).utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_a_text_access_line_carries_its_fields(capsys: pytest.CaptureFixture[str]) -> None:
    AccessLog(text=True, scrubber=SecretScrubFilter()).write(
        {"route": "churn", "status": 499, "model": None}
    )
    written = capsys.readouterr().err
    assert " INFO mlgate.access: request route=churn status=499\n" in written
    assert "model" not in written


@pytest.mark.parametrize(
    ("options", "written"),
    [
        ({}, True),
        ({"log_level": "DEBUG"}, True),
        ({"log_level": "WARNING"}, False),
        ({"access_log": False}, False),
    ],
)
def test_access_lines_are_written_at_info_unless_turned_off(
    options: dict[str, object], written: bool
) -> None:
    settings = Settings(secret_key=SecretStr("x" * 40), **options)  # type: ignore[arg-type]
    assert (access_log(settings) is not None) is written
