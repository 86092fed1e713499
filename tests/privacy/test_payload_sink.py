"""The payload sink on both databases: what each record keeps, and a bad one costs only itself.

Records go through the request-log writer, as the gateway sends them.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import select

from mlgate.clock import utcnow
from mlgate.gateway.models import RequestLog
from mlgate.gateway.requestlog import CapturedPayload, RequestLogRecord, RequestLogWriter
from mlgate.ids import new_id
from mlgate.privacy.keys import PrivacyKeys
from mlgate.privacy.models import RequestPayload
from mlgate.privacy.serving import payload_sinks
from mlgate.runtime import Runtime

CONTACT = {"note": "mail alice.private@example.org or call +1 415 555 2671"}


def _record(
    inputs: Any, *, mode: str = "redacted", redact_inputs: bool = False
) -> RequestLogRecord:
    return RequestLogRecord(
        id=new_id(),
        at=utcnow(),
        route="r",
        model="m",
        version=1,
        target="m@1",
        status=200,
        outcome="ok",
        latency_ms=1.0,
        attempts=1,
        key_id=None,
        subject="s1",
        request_id=new_id(),
        payload=CapturedPayload(mode, inputs, {"ok": True}, redact_inputs),
    )


def _deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


async def _write(runtime: Runtime, keys: PrivacyKeys, records: list[RequestLogRecord]) -> None:
    writer = RequestLogWriter(runtime.db, linger=0, sinks=payload_sinks(runtime, keys))
    for record in records:
        writer.emit(record)
    writer.start()
    await writer.stop()


def _stored(runtime: Runtime) -> dict[str, RequestPayload]:
    with runtime.db.unit_of_work() as session:
        rows = list(session.scalars(select(RequestPayload)))
        session.expunge_all()
    return {row.id: row for row in rows}


@pytest.mark.anyio
async def test_an_unstorable_payload_costs_only_itself(
    runtime: Runtime, keys: PrivacyKeys, caplog: pytest.LogCaptureFixture
) -> None:
    good = [_record({"n": i}) for i in range(3)]
    too_deep = _record(_deep(250))
    nul = _record({"note": "a\x00b"})  # PostgreSQL's JSON refuses NUL; it was the whole batch
    with caplog.at_level(logging.WARNING):
        await _write(runtime, keys, [good[0], too_deep, good[1], nul, good[2]])

    stored = _stored(runtime)
    with runtime.db.unit_of_work() as session:  # its request is still logged, without it
        assert len(session.scalars(select(RequestLog.id)).all()) == 5
    assert set(stored) == {r.id for r in (*good, nul)}
    assert stored[nul.id].body["inputs"] == {"note": "a\ufffdb"}
    lost = [r for r in caplog.records if too_deep.request_id in r.getMessage()]
    assert len(lost) == 1
    assert "nested deeper than 200 levels" in lost[0].getMessage()


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["redacted", "full"])
async def test_redacted_inputs_still_count_in_the_categories(
    runtime: Runtime, keys: PrivacyKeys, mode: str
) -> None:
    record = _record(CONTACT, mode=mode, redact_inputs=True)
    await _write(runtime, keys, [record])
    row = _stored(runtime)[record.id]
    # The records of processing say what the route received, though it was never stored.
    assert row.categories == ["EMAIL_ADDRESS", "PHONE_NUMBER"]


@pytest.mark.anyio
async def test_names_of_things_are_kept_and_not_recorded_as_persons(
    runtime: Runtime, keys: PrivacyKeys
) -> None:
    things = {"model_name": "Random Forest", "feature_name": "Age", "contact": "Call me"}
    record = _record(things)
    await _write(runtime, keys, [record])
    row = _stored(runtime)[record.id]
    assert row.body["inputs"] == things
    assert row.categories == []  # the records of processing listed PERSON for the route
