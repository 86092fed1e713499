"""Route specifications refuse what the gateway could not honour, naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mlgate.gateway.schemas import GatewayLimits, Resilience, RouteCreate, RouteUpdate

ROUTE: dict[str, Any] = {"name": "churn", "model": "churn"}


def refused_fields(error: pytest.ExceptionInfo[ValidationError]) -> list[tuple[Any, ...]]:
    return [item["loc"] for item in error.value.errors()]


@pytest.mark.parametrize("field", ["route_rate", "key_rate"])
@pytest.mark.parametrize("rates", ["2/minute;1000/second", "2/minute, 3/hour"])
def test_a_limit_with_more_than_one_rate_is_refused(field: str, rates: str) -> None:
    with pytest.raises(ValidationError) as created:
        RouteCreate(**ROUTE, limits={field: rates})
    assert refused_fields(created) == [("limits", field)]
    assert "one rate per limit" in str(created.value)
    with pytest.raises(ValidationError) as updated:
        RouteUpdate(limits={field: rates})
    assert refused_fields(updated) == [("limits", field)]


def test_one_rate_per_limit_is_accepted() -> None:
    limits = GatewayLimits(route_rate="100/second", key_rate="10 per minute")
    assert (limits.route_rate, limits.key_rate) == ("100/second", "10 per minute")


@pytest.mark.parametrize(
    "name", ["X-Kunde-€", "X-Kundé", "X Subject", "X-Subject:", "", "X-Subject\n", "a" * 101]
)
def test_a_subject_header_that_is_not_an_http_header_name_is_refused(name: str) -> None:
    with pytest.raises(ValidationError) as created:
        RouteCreate(**ROUTE, subject_header=name)
    assert refused_fields(created) == [("subject_header",)]


@pytest.mark.parametrize("name", ["X-MLGate-Subject", "x-customer_id", "Subject!#$%&'*+.^`|~"])
def test_a_subject_header_that_is_a_header_name_is_accepted(name: str) -> None:
    assert RouteCreate(**ROUTE, subject_header=name).subject_header == name


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://upstream:99999/", "port must be a number"),
        ("http://upstream:0/", "port must be a number"),
        ("http://upstream:http/", "port must be a number"),
        ("http://:8080/", "name the server's host"),
        ("http://user:pw@upstream/", "credentials do not belong"),
    ],
)
def test_an_upstream_url_no_server_could_be_reached_at_is_refused(url: str, message: str) -> None:
    with pytest.raises(ValidationError) as created:
        RouteCreate(**ROUTE, primary={"model": "churn", "upstream": {"url": url}})
    assert refused_fields(created) == [("primary", "upstream", "url")]
    assert message in str(created.value)


@pytest.mark.parametrize("field", ["breaker_window_seconds", "breaker_open_seconds"])
def test_breaker_durations_are_at_most_a_day(field: str) -> None:
    with pytest.raises(ValidationError) as created:
        RouteCreate(**ROUTE, resilience={field: 1e16})
    assert refused_fields(created) == [("resilience", field)]
    assert RouteCreate(**ROUTE, resilience={field: 86_400}).resilience is not None


def test_a_stream_deadline_shorter_than_the_first_byte_deadline_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"stream_deadline_ms \(1000\) must be at least"):
        Resilience(deadline_ms=5000, stream_deadline_ms=1000)
    assert Resilience(deadline_ms=5000, stream_deadline_ms=5000).stream_deadline_ms == 5000
    assert Resilience().stream_deadline_ms == 600_000  # ten minutes for a chat answer
