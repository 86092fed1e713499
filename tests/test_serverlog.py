"""Server log lines: one JSON object per record, extras as keys, exceptions as text."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime

from mlgate.serverlog import JsonFormatter


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
