"""Turns sustained trouble on the data plane into automatic incidents, off the hot path.

Each refresh tick (about once a second) looks at breaker states and at each route's share of
degraded or failed answers over the last minute. A breaker open longer than
``incident_breaker_open_seconds``, or a route answering degraded more than
``incident_degraded_rate`` of the time, opens an incident — one per cause, because
``incidents.open_automatic`` deduplicates on the cause key.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from mlgate.incidents import service as incidents
from mlgate.incidents.schemas import Severity
from mlgate.runtime import Runtime

__all__ = ["IncidentWatch"]

logger = logging.getLogger(__name__)
WINDOW_SECONDS = 60.0
MIN_REQUESTS = 20


@dataclass
class IncidentWatch:
    runtime: Runtime
    clock: Callable[[], float] = time.monotonic
    open_since: dict[str, float] = field(default_factory=dict)
    reported: set[str] = field(default_factory=set)
    counts: dict[str, list[int]] = field(default_factory=dict)  # route -> [answers, degraded]
    _history: deque[tuple[float, dict[str, tuple[int, int]]]] = field(default_factory=deque)

    def count(self, route: str, *, degraded: bool) -> None:
        """Called by the gateway per answer: a dictionary update, nothing more."""
        entry = self.counts.setdefault(route, [0, 0])
        entry[0] += 1
        entry[1] += degraded

    def causes(self, breaker_states: dict[str, str]) -> list[tuple[str, str, str, list[str]]]:
        """(cause key, title, detail, routes) of every incident that should be open now."""
        now = self.clock()
        found: list[tuple[str, str, str, list[str]]] = []
        threshold = self.runtime.settings.incident_breaker_open_seconds
        for target, state in breaker_states.items():
            if state != "open":
                self.open_since.pop(target, None)
                continue
            since = self.open_since.setdefault(target, now)
            if now - since >= threshold:
                found.append(
                    (
                        f"breaker-open:{target}",
                        f"circuit breaker for {target} open for {now - since:.0f} s",
                        f"target {target} has refused calls for {now - since:.0f} s",
                        [],
                    )
                )
        snapshot = {route: (c[0], c[1]) for route, c in self.counts.items()}
        self._history.append((now, snapshot))
        while self._history and now - self._history[0][0] > WINDOW_SECONDS:
            self._history.popleft()
        oldest = self._history[0][1]
        rate_limit = self.runtime.settings.incident_degraded_rate
        for route, (total, degraded) in snapshot.items():
            before_total, before_degraded = oldest.get(route, (0, 0))
            answers, bad = total - before_total, degraded - before_degraded
            if answers >= MIN_REQUESTS and bad / answers > rate_limit:
                found.append(
                    (
                        f"degraded:{route}",
                        f"route {route} answers degraded or fails {bad / answers:.0%} of the time",
                        f"{bad} of {answers} answers in the last minute were degraded or 503",
                        [route],
                    )
                )
        return found

    def report(self, breaker_states: dict[str, str]) -> None:
        """Open (or add to) the incident of each cause as it starts; runs on a worker thread.

        A cause is reported once per episode: while it lasts, nothing more is written; when it
        ends and comes back, the open incident (if any) gets the new episode on its timeline.
        """
        current = self.causes(breaker_states)
        for cause, title, detail, routes in current:
            if cause in self.reported:
                continue
            with self.runtime.db.unit_of_work() as session:
                incident = incidents.open_automatic(
                    session,
                    cause_key=cause,
                    title=title,
                    severity=Severity.SEV2,
                    detail=detail,
                    affected_routes=routes,
                    threshold_minutes=self.runtime.settings.incident_postmortem_minutes,
                )
            logger.warning(
                "automatic incident", extra={"cause": cause, "incident": incident.number}
            )
        self.reported = {cause for cause, *_ in current}
