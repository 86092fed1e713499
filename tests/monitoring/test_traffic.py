"""The traffic report, checked against numpy on the same rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from mlgate.errors import Invalid, NotFound
from mlgate.monitoring import traffic
from mlgate.monitoring.traffic import TrafficReport, build_traffic_report, parse_window
from mlgate.runtime import Runtime
from tests.cli.conftest import Cli
from tests.integration import world
from tests.monitoring.conftest import Logged, insert_logs

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(hours=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
MICROSECOND = timedelta(microseconds=1)


def report(runtime: Runtime, route: str = "churn", **options: object) -> TrafficReport:
    window: dict[str, object] = {"since": SINCE, "until": NOW, "now": NOW} | options
    with runtime.db.unit_of_work() as session:
        return build_traffic_report(session, route=route, **window)  # type: ignore[arg-type]


def spread(count: int, *, seed: int = 7, target: str | None = "churn@1") -> list[Logged]:
    """``count`` requests at random times in the window with log-normal latencies."""
    rng = np.random.default_rng(seed)
    offsets = rng.integers(0, 3600 * 10**6, count)
    latencies = np.round(rng.lognormal(3.0, 1.0, count), 3)
    return [
        Logged(at=SINCE + timedelta(microseconds=int(o)), latency_ms=float(ms), target=target)
        for o, ms in zip(offsets, latencies, strict=True)
    ]


def ms(values: list[float], q: float) -> float:
    return pytest.approx(float(np.percentile(values, q)), abs=5e-4)  # type: ignore[no-any-return]


def test_latency_percentiles_are_numpys_over_the_window_only(runtime: Runtime) -> None:
    inside = spread(400)
    outside = [
        Logged(at=SINCE - MICROSECOND, latency_ms=9000.0),
        Logged(at=NOW, latency_ms=9000.0),
        Logged(at=NOW - MINUTE, latency_ms=9000.0, route="other"),
    ]
    insert_logs(runtime, inside + outside)

    found = report(runtime)

    latencies = [log.latency_ms for log in inside]
    assert found.requests == 400
    assert found.latency_ms.p50 == ms(latencies, 50)
    assert found.latency_ms.p90 == ms(latencies, 90)
    assert found.latency_ms.p99 == ms(latencies, 99)
    assert found.latency_ms.max == max(latencies)
    assert found.latency_ms.mean == pytest.approx(float(np.mean(latencies)), abs=5e-4)
    assert found.statuses == {200: 400}
    assert found.bucket_seconds == 60.0


def test_window_includes_since_and_excludes_until(runtime: Runtime) -> None:
    insert_logs(
        runtime,
        [
            Logged(at=SINCE - MICROSECOND, latency_ms=1.0),
            Logged(at=SINCE, latency_ms=2.0),
            Logged(at=NOW - MICROSECOND, latency_ms=3.0),
            Logged(at=NOW, latency_ms=4.0),
        ],
    )

    found = report(runtime, buckets=6)

    assert found.requests == 2
    assert found.latency_ms.max == 3.0
    assert [b.requests for b in found.timeline] == [1, 0, 0, 0, 0, 1]
    assert found.timeline[0].p50 == 2.0
    assert found.timeline[-1].p50 == 3.0


def test_buckets_split_the_window_evenly_and_empty_ones_are_zero(runtime: Runtime) -> None:
    ten = timedelta(minutes=10)
    logs = [
        Logged(at=SINCE + ten - MICROSECOND, latency_ms=10.0),  # last microsecond of bucket 0
        Logged(at=SINCE + ten, latency_ms=20.0),  # first of bucket 1
        Logged(at=SINCE + ten + MINUTE, latency_ms=30.0, outcome="unavailable", status=503),
        Logged(at=SINCE + 4 * ten, latency_ms=40.0, outcome="degraded_cached"),
    ]
    insert_logs(runtime, logs)

    timeline = report(runtime, buckets=6).timeline

    assert [b.start for b in timeline] == [SINCE + i * ten for i in range(6)]
    assert [b.requests for b in timeline] == [1, 2, 0, 0, 1, 0]
    assert [b.errors for b in timeline] == [0, 1, 0, 0, 0, 0]
    assert [b.degraded for b in timeline] == [0, 0, 0, 0, 1, 0]
    assert (timeline[1].p50, timeline[1].p99) == (ms([20, 30], 50), ms([20, 30], 99))
    empty = timeline[2]
    assert (empty.requests, empty.errors, empty.degraded, empty.p50, empty.p99) == (
        0,
        0,
        0,
        None,
        None,
    )


def test_each_bucket_has_numpys_percentiles_of_its_rows(runtime: Runtime) -> None:
    logs = spread(300, seed=3)
    insert_logs(runtime, logs)

    timeline = report(runtime, buckets=7).timeline

    span = timedelta(hours=1)
    for index, bucket in enumerate(timeline):
        # bucket i holds the rows with i * span <= offset * buckets < (i + 1) * span
        mine = [
            log.latency_ms
            for log in logs
            if index * span <= (log.at - SINCE) * 7 < (index + 1) * span
        ]
        assert bucket.requests == len(mine)
        if mine:
            assert (bucket.p50, bucket.p99) == (ms(mine, 50), ms(mine, 99))
    assert sum(b.requests for b in timeline) == 300


def test_targets_have_their_share_and_percentiles_and_none_served_is_dash(
    runtime: Runtime,
) -> None:
    first = spread(60, seed=1, target="churn@1")
    second = spread(30, seed=2, target="churn@2")
    static = [
        Logged(at=SINCE + i * MINUTE, latency_ms=1.5, outcome="degraded_static", target=None)
        for i in range(10)
    ]
    insert_logs(runtime, first + second + static)

    targets = {t.target: t for t in report(runtime).targets}

    assert [t.target for t in report(runtime).targets] == ["churn@1", "churn@2", "-"]
    assert targets["churn@1"].requests == 60
    assert targets["churn@1"].share == pytest.approx(0.6)
    assert targets["churn@2"].p50 == ms([log.latency_ms for log in second], 50)
    assert targets["churn@2"].p99 == ms([log.latency_ms for log in second], 99)
    assert (targets["-"].requests, targets["-"].p50, targets["-"].share) == (10, 1.5, 0.1)


def test_errors_and_degraded_are_apart_and_client_closed_is_neither(runtime: Runtime) -> None:
    outcomes = {
        "ok": 6,
        "degraded_static": 2,
        "degraded_cached": 1,
        "unavailable": 3,
        "upstream_error": 2,
        "interrupted": 1,
        "deadline_exceeded": 1,
        "client_closed": 2,
    }
    statuses = {"unavailable": 503, "upstream_error": 502}
    logs = [
        Logged(
            at=SINCE + (i + 1) * MINUTE,
            latency_ms=float(i + 1),
            outcome=outcome,
            status=statuses.get(outcome, 200),
        )
        for i, outcome in enumerate(o for o, n in outcomes.items() for _ in range(n))
    ]
    insert_logs(runtime, logs)

    found = report(runtime)

    assert found.requests == 18
    assert found.outcomes == outcomes
    assert found.statuses == {200: 13, 502: 2, 503: 3}
    assert (found.errors, found.error_share) == (7, pytest.approx(7 / 18))
    assert (found.degraded, found.degraded_share) == (3, pytest.approx(3 / 18))
    assert found.client_closed == 2
    assert sum(b.errors for b in found.timeline) == 7
    assert sum(b.degraded for b in found.timeline) == 3


def test_the_report_names_every_outcome_it_counts_as_an_error(runtime: Runtime) -> None:
    insert_logs(runtime, [Logged(at=SINCE, latency_ms=1.0, outcome="deadline_exceeded")])

    found = report(runtime)

    (note,) = (n for n in found.notes if n.startswith("Errors are"))
    assert found.errors == 1
    for outcome in ("unavailable", "upstream_error", "interrupted", "deadline_exceeded"):
        assert outcome in note.split(";")[0], outcome


def test_an_outcome_the_report_does_not_know_counts_as_an_error(runtime: Runtime) -> None:
    insert_logs(
        runtime,
        [
            Logged(at=SINCE, latency_ms=1.0),
            Logged(at=SINCE, latency_ms=1.0, outcome="exploded", status=500),
        ],
    )

    found = report(runtime)

    assert found.outcomes["exploded"] == 1
    assert found.outcomes["client_closed"] == 0
    assert (found.errors, found.error_share) == (1, 0.5)


def test_histogram_counts_every_request_on_log_spaced_edges(runtime: Runtime) -> None:
    logs = [*spread(200, seed=5), Logged(at=SINCE, latency_ms=0.0)]
    insert_logs(runtime, logs)

    bins = report(runtime).histogram

    assert sum(b.requests for b in bins) == 201
    assert bins[0].lower == pytest.approx(0.01)  # a 0 ms request sits in the first bin
    ratios = {round(b.upper / b.lower, 9) for b in bins}
    assert ratios == {round(10**0.2, 9)}
    assert bins[-1].upper >= max(log.latency_ms for log in logs)
    assert all(a.upper == b.lower for a, b in pairwise(bins))


def test_a_window_larger_than_a_fetch_partition_is_read_whole(runtime: Runtime) -> None:
    logs = spread(traffic._PARTITION + 500, seed=11)
    insert_logs(runtime, logs)

    found = report(runtime)

    assert found.requests == len(logs)
    assert found.latency_ms.p99 == ms([log.latency_ms for log in logs], 99)


def test_a_route_without_traffic_gets_an_empty_report(runtime: Runtime) -> None:
    world.upstream_route(runtime, "quiet", "http://127.0.0.1:9", retention_days=7)

    found = report(runtime, route="quiet", buckets=4)

    assert (found.requests, found.errors, found.error_share, found.degraded_share) == (0, 0, 0, 0)
    assert found.latency_ms.p50 is None
    assert found.targets == ()
    assert found.histogram == ()
    assert [(b.requests, b.p50) for b in found.timeline] == [(0, None)] * 4
    assert set(found.outcomes.values()) == {0}
    assert (found.log_mode, found.retention_days) == ("metadata", 7)
    assert any("older than 7 days" in note for note in found.notes)
    page = found.to_html()
    assert page.count("<svg") == 3
    assert "no requests" in page


def test_a_deleted_route_still_reports_the_logs_it_left(runtime: Runtime) -> None:
    insert_logs(runtime, [Logged(at=SINCE, latency_ms=1.0, route="gone")])

    found = report(runtime, route="gone", since=NOW - timedelta(days=40))

    assert found.requests == 1
    assert (found.log_mode, found.retention_days) == (None, 30)
    assert any("no longer exists" in note for note in found.notes)
    assert any("may be missing" in note for note in found.notes)  # the window outlives retention


def test_an_unknown_route_is_not_found(runtime: Runtime) -> None:
    with pytest.raises(NotFound, match="'nope' does not exist"):
        report(runtime, route="nope")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"since": NOW}, "since"),
        ({"since": NOW + MINUTE}, "since"),
        ({"buckets": 0}, "buckets"),
        ({"buckets": 501}, "buckets"),
    ],
)
def test_bad_windows_are_invalid_naming_the_field(
    runtime: Runtime, options: dict[str, object], field: str
) -> None:
    insert_logs(runtime, [Logged(at=SINCE, latency_ms=1.0)])
    with pytest.raises(Invalid) as raised:
        report(runtime, **options)
    assert [e.field for e in raised.value.errors] == [field]


def test_windows_parse_iso_timestamps_and_durations() -> None:
    assert parse_window(None, None, now=NOW) == (NOW - HOUR, NOW)
    assert parse_window("30m", None, now=NOW) == (NOW - 30 * MINUTE, NOW)
    assert parse_window("45s", None, now=NOW)[0] == NOW - timedelta(seconds=45)
    # a duration for since counts back from until; one for until counts back from now
    assert parse_window("7d", "1h", now=NOW) == (NOW - HOUR - timedelta(days=7), NOW - HOUR)
    assert parse_window("2w", None, now=NOW)[0] == NOW - timedelta(weeks=2)
    assert parse_window("2026-06-01T09:00:00Z", "2026-06-01T11:00:00+01:00", now=NOW) == (
        NOW - 3 * HOUR,
        NOW - 2 * HOUR,
    )
    assert parse_window("2026-06-01T10:00:00", None, now=NOW)[0] == NOW - 2 * HOUR  # naive: UTC
    # an unencoded '+' in a query string arrives as a space
    assert parse_window("2026-06-01T12:00:00 02:00", None, now=NOW)[0] == NOW - 2 * HOUR


@pytest.mark.parametrize(
    ("since", "until", "field"),
    [
        ("yesterday", None, "since"),
        ("1y", None, "since"),
        ("-1h", None, "since"),
        ("1h", "soon", "until"),
        ("999999w", None, "since"),  # before year 1
    ],
)
def test_unreadable_windows_are_invalid_naming_the_field(
    since: str, until: str | None, field: str
) -> None:
    with pytest.raises(Invalid) as raised:
        parse_window(since, until, now=NOW)
    assert [e.field for e in raised.value.errors] == [field]
    assert "30m, 1h or 7d" in raised.value.detail


def test_cli_prints_the_summary_and_writes_the_page(
    cli: Cli, runtime: Runtime, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    insert_logs(
        runtime,
        [
            Logged(at=now - 20 * MINUTE, latency_ms=12.5, target="churn@1"),
            Logged(at=now - 10 * MINUTE, latency_ms=37.5, target="[/red]<b>t</b>"),
            Logged(at=now - 3 * timedelta(hours=1), latency_ms=999.0),
        ],
    )
    page = tmp_path / "traffic.html"

    shown = cli(
        "routes", "traffic", "churn", "--since", "1h", "--buckets", "6", "--html", str(page)
    )

    assert shown.code == 0, shown.err
    assert "2 requests" in shown.out
    assert "p50 25.00" in shown.out
    assert "churn@1" in shown.out
    assert "[/red]<b>t</b>" in shown.out  # printed as text, not read as Rich markup
    assert f"wrote {page}" in shown.out.replace("\n", "")
    assert page.read_text().count("<svg") == 3
    as_json = cli("routes", "traffic", "churn", "--since", "4h", "--json")
    assert as_json.code == 0, as_json.err
    assert json.loads(as_json.out)["requests"] == 3
    bad = cli("routes", "traffic", "churn", "--since", "yesterday")
    assert (bad.code, len(bad.err.strip().splitlines())) == (1, 1)
    assert re.match(r"error: since: 'yesterday' is neither", bad.err)
    assert cli("routes", "traffic", "churn", "--buckets", "0").code == 1
    missing = cli("routes", "traffic", "nope")
    assert missing.code == 1
    assert "does not exist" in missing.err
