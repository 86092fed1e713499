"""Old drift counts rolled up into hours: a report reads a row per target and hour, same sums."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, Table, func, insert, select, text

from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.ids import new_id
from mlgate.monitoring import service as monitoring
from mlgate.monitoring.counts import roll_up
from mlgate.monitoring.jobs import ROLL_UP_AFTER, drift_rollup_job
from mlgate.monitoring.models import DriftCount
from mlgate.monitoring.schemas import TargetDrift
from mlgate.privacy import service as privacy
from mlgate.privacy.schemas import HoldCreate
from mlgate.runtime import Runtime
from mlgate.store.metadata import load_metadata
from mlgate.store.migrate import alembic_config, upgrade
from tests.concurrency import lock_waiters, until
from tests.integration import world
from tests.monitoring.test_drift_sums import IRIS, SINCE, UNTIL, UPSTREAM, referenced
from tests.monitoring.test_drift_sums import stored_counts as store_flushes

HOUR = timedelta(hours=1)
LAST = SINCE + 30 * HOUR  # the stored flush rows end before then
ROWS = 3_000  # per target: a roll-up takes 5,000 at a time, so hours are split between them
BEFORE_ROLLUPS = "0013_drift_rollups@-1"

References = dict[str, tuple[str, list[int]]]  # model -> (reference id, bins per feature)


def watch(runtime: Runtime) -> References:
    """Route ``iris`` serving models iris and colours, each with a reference."""
    ids = {
        "iris": referenced(runtime, "iris", ["a", "b", "c", "d"], IRIS.tolist()),
        "colours": referenced(runtime, "colours", ["colour"], [["red"]] * 70 + [["blue"]] * 30),
    }
    world.create_route(runtime, name="iris", model="iris", primary={"model": "iris", **UPSTREAM})
    found: References = {}
    with runtime.db.read_only() as session:
        for model, reference_id in ids.items():
            profile = monitoring.get_reference(session, model_name=model, version=1).features
            found[model] = (reference_id, [len(f.reference) for f in profile])
    return found


@pytest.fixture
def references(runtime: Runtime) -> References:
    """Flush rows of three targets (routes iris and other), from SINCE - 6 h to SINCE + 30 h."""
    found = watch(runtime)
    rng = np.random.default_rng(20260301)
    for route, model in (("iris", "iris"), ("iris", "colours"), ("other", "iris")):
        reference_id, widths = found[model]
        store_flushes(
            runtime, rng, route=route, model=model, version=1,
            reference_id=reference_id, widths=widths, rows=ROWS,
        )  # fmt: skip
    return found


def drift(runtime: Runtime, since: datetime, until: datetime) -> list[TargetDrift]:
    """Route iris's report over ``[since, until)``: each target's sums and statistics."""
    with runtime.db.read_only() as session:
        report = monitoring.build_drift_report(session, route="iris", since=since, until=until)
    return report.targets


def stored(runtime: Runtime) -> list[tuple[str, str, datetime, bool]]:
    """(route, model, at, hourly) of every stored row."""
    query = select(DriftCount.route, DriftCount.model, DriftCount.at, DriftCount.hourly)
    with runtime.db.read_only() as session:
        return [(route, model, at, hourly) for route, model, at, hourly in session.execute(query)]


def test_a_report_over_rolled_up_hours_reads_a_row_per_hour_and_sums_the_same(
    runtime: Runtime, references: References
) -> None:
    day = drift(runtime, SINCE, UNTIL)
    hours_later = drift(runtime, SINCE + HOUR, UNTIL + HOUR)

    rolled = drift_rollup_job(runtime, now=LAST + ROLL_UP_AFTER + HOUR)

    assert rolled == 3 * ROWS
    rows = stored(runtime)
    assert all(hourly and at.minute == at.second == at.microsecond == 0 for *_, at, hourly in rows)
    assert Counter((route, model, at) for route, model, at, _ in rows).most_common(1)[0][1] == 1
    assert len(rows) <= 3 * 36  # three targets, 36 hours: what a report reads at most
    assert drift(runtime, SINCE, UNTIL) == day
    # Over rolled-up hours a window counts the hours that start inside it.
    assert drift(runtime, SINCE + HOUR / 2, UNTIL + HOUR / 2) == hours_later
    assert drift_rollup_job(runtime, now=LAST + ROLL_UP_AFTER + HOUR) == 0


def test_the_last_hours_stay_flush_rows_and_a_late_row_joins_its_hour(
    runtime: Runtime, references: References
) -> None:
    now = SINCE + 24 * HOUR + HOUR / 2
    drift_rollup_job(runtime, now=now)
    cutoff = SINCE + 24 * HOUR - ROLL_UP_AFTER
    rows = stored(runtime)
    assert {hourly for *_, at, hourly in rows if at >= cutoff} == {False}
    assert {hourly for *_, at, hourly in rows if at < cutoff} == {True}
    recent = drift(runtime, cutoff + HOUR / 3, LAST)  # flush rows only: to the second
    reference_id, widths = references["colours"]
    late = {  # a gateway kept it while the store was down: its hour was rolled up meanwhile
        "id": new_id(),
        "at": SINCE + 2 * HOUR + timedelta(minutes=17),
        "route": "iris",
        "model": "colours",
        "version": 1,
        "reference_id": reference_id,
        "requests": 7,
        "unreadable": 1,
        "counts": [[7] * widths[0]],
    }
    with runtime.db.unit_of_work() as session:
        session.execute(insert(DriftCount), [late])
    third_hour = drift(runtime, SINCE + 2 * HOUR, SINCE + 3 * HOUR)

    drift_rollup_job(runtime, now=now)

    assert drift(runtime, SINCE + 2 * HOUR, SINCE + 3 * HOUR) == third_hour
    hours = [(model, at) for _, model, at, _ in stored(runtime) if at < cutoff]
    assert hours.count(("colours", SINCE + 2 * HOUR)) == 1
    assert drift(runtime, cutoff + HOUR / 3, LAST) == recent


def test_two_roll_ups_at_once_count_every_row_once(
    runtime: Runtime, references: References
) -> None:
    """The second waits for the first (had it read the rows the first is rolling up, then
    waited for their locks): once the first commits, it must not write their sums again."""
    if runtime.db.dialect == "sqlite":
        pytest.skip("on SQLite every transaction holds the write lock from BEGIN IMMEDIATE on")
    day = drift(runtime, SINCE, UNTIL)
    before = LAST + HOUR
    with ThreadPoolExecutor(max_workers=1) as pool:
        with runtime.db.unit_of_work() as session:
            first = roll_up(session, before=before, limit=10 * ROWS)
            second = pool.submit(drift_rollup_job, runtime, now=before + ROLL_UP_AFTER)
            until(lambda: lock_waiters(runtime) >= 1 or second.done(), "the second never waited")
            assert not second.done(), second.result()

        assert (first, second.result()) == (3 * ROWS, 0)
    assert drift(runtime, SINCE, UNTIL) == day
    assert {hourly for *_, hourly in stored(runtime)} == {True}


def hold(runtime: Runtime, route: str) -> str:
    with runtime.db.unit_of_work() as session:
        return privacy.add_hold(
            session,
            secret=runtime.secret,
            hold_in=HoldCreate(kind="route", target=route, reason="case 19"),
            actor=world.REQUESTER,
        ).id


def test_a_route_under_a_legal_hold_keeps_its_rows_as_the_gateways_wrote_them(
    runtime: Runtime, references: References
) -> None:
    # A hold suspends the routine deletion of a route's records: the roll-up deletes flush
    # rows (their times, which replica wrote what) for their hour's sum, so it waits too.
    held = hold(runtime, "iris")
    day = drift(runtime, SINCE, UNTIL)
    now = LAST + ROLL_UP_AFTER + HOUR

    assert drift_rollup_job(runtime, now=now) == ROWS  # route other's only

    assert {(route, hourly) for route, *_, hourly in stored(runtime)} == {
        ("iris", False),
        ("other", True),
    }
    assert drift(runtime, SINCE, UNTIL) == day
    with runtime.db.unit_of_work() as session:
        privacy.remove_hold(session, hold_id=held, actor=world.REQUESTER)
    assert drift_rollup_job(runtime, now=now) == 2 * ROWS
    assert {hourly for *_, hourly in stored(runtime)} == {True}
    assert drift(runtime, SINCE, UNTIL) == day


def test_a_hold_confirmed_while_a_roll_up_runs_waits_for_it(
    runtime: Runtime, references: References
) -> None:
    """The roll-up reads the holds, then rewrites rows: a hold confirmed in between was one
    it did not see, on rows it then deleted."""
    if runtime.db.dialect == "sqlite":
        pytest.skip("on SQLite every transaction holds the write lock from BEGIN IMMEDIATE on")
    with ThreadPoolExecutor(max_workers=1) as pool:
        with runtime.db.unit_of_work() as session:
            assert roll_up(session, before=LAST + HOUR, limit=10) == 10
            holding = pool.submit(hold, runtime, "iris")
            until(lambda: lock_waiters(runtime) >= 1 or holding.done(), "the hold never waited")
            assert not holding.done(), holding.result()
        holding.result(timeout=30)


def test_a_purge_while_a_roll_up_commits_deletes_what_it_counts(runtime: Runtime) -> None:
    """On PostgreSQL a purge's DELETE cannot see an hourly row committed after it began: run
    beside a roll-up it deleted nothing of the hour, yet counted its flush rows as purged."""
    if runtime.db.dialect == "sqlite":
        pytest.skip("on SQLite every transaction holds the write lock from BEGIN IMMEDIATE on")
    now = utcnow()
    expired = (now - timedelta(days=40)).replace(minute=10)  # past the default 30 days
    reference_id = new_id()
    with runtime.db.unit_of_work() as session:
        session.execute(
            insert(DriftCount),
            [
                {
                    "id": new_id(),
                    "at": expired + timedelta(minutes=m),
                    "route": "iris",
                    "model": "iris",
                    "version": 1,
                    "reference_id": reference_id,
                    "requests": 1,
                    "unreadable": 0,
                    "counts": [[1, 0]],
                }
                for m in range(3)
            ],
        )
    with ThreadPoolExecutor(max_workers=1) as pool:
        with runtime.db.unit_of_work() as session:
            assert roll_up(session, before=now) == 3
            purging = pool.submit(
                privacy.purge_job, runtime, now=now, actor=Principal.system("test")
            )
            until(lambda: lock_waiters(runtime) >= 1 or purging.done(), "the purge never waited")
        purged = purging.result(timeout=30)

    assert (purged.drift_counts, stored(runtime)) == (1, [])  # the hour's row, gone


def test_rows_stored_before_the_upgrade_are_rolled_up_and_a_downgrade_keeps_the_hours(
    runtime: Runtime,
) -> None:
    engine = runtime.db.engine
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, load_metadata())
    assert [d for d in differences if "drift_" in repr(d)] == []
    reference_id, widths = watch(runtime)["iris"]
    command.downgrade(alembic_config(engine), BEFORE_ROLLUPS)
    with engine.begin() as connection:  # as the previous schema stored them: no hourly column
        table = Table("drift_counts", MetaData(), autoload_with=connection)
        naive = runtime.db.dialect == "sqlite"  # SQLite's column holds UTC without a zone
        connection.execute(
            insert(table),
            [
                {
                    "id": new_id(),
                    "at": (SINCE + timedelta(minutes=m)).replace(tzinfo=None if naive else UTC),
                    "route": "iris",
                    "model": "iris",
                    "version": 1,
                    "reference_id": reference_id,
                    "requests": 2,
                    "unreadable": 0,
                    "counts": [[m] * width for width in widths],
                }
                for m in (5, 25, 45)
            ],
        )
    upgrade(engine)
    assert [hourly for *_, hourly in stored(runtime)] == [False] * 3
    hour = drift(runtime, SINCE, SINCE + HOUR)

    assert drift_rollup_job(runtime, now=SINCE + 3 * HOUR) == 3

    assert drift(runtime, SINCE, SINCE + HOUR) == hour
    command.downgrade(alembic_config(engine), BEFORE_ROLLUPS)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(text("drift_counts"))) == 1
    upgrade(engine)
    assert drift(runtime, SINCE, SINCE + HOUR) == hour
