"""The gateway's drift counts: inputs queued on the hot path, binned and written off it.

``observe`` only appends to a list (a full list drops the observation and counts it), so drift
never slows or fails a request; the gateway flushes early once the list is half full, so only
a burst of more than ``capacity`` values within one refresh tick loses observations. The list
is bounded by what its inputs cost, not by requests: counting one reads its rows times the
reference's features (``Binner.size``) on a thread sharing the GIL with the event loop, and
until the flush it holds whatever its body parsed into, features or not (other keys, rows of
another width, values nested in lists): a request costs the larger of its values read and one
value per ``BODY_BYTES_PER_VALUE`` bytes of its body (freeing what it held is work too, done
where the flush ends, on the event loop). An empty list takes any request, whatever it costs:
the route's body limit bounds what one holds, and a body bigger than the whole capacity would
otherwise never be counted. ``flush`` swaps the list and, on a worker thread,
counts every queued input into its reference's bins and writes one ``drift_counts`` row per
route, version and reference: counts only, never an input value. When the store cannot be
reached (down, restarting, locked) the rows are kept, with their ids, and written with the next
flush's, so an outage shorter than ``KEEP_FOR`` and than ``keep_rows`` rows of flushes loses no
count; a row an attempt wrote before its commit answer was lost is recognised by its id and not
written twice, also once the control plane rolled it up into its hour (``counts.roll_up`` keeps
the ids it deleted past ``KEEP_FOR``). Any other failure loses the rows (logged).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from mlgate.clock import utcnow
from mlgate.ids import new_id
from mlgate.monitoring.drift import DriftWatch
from mlgate.monitoring.models import DriftCount, FoldedFlush
from mlgate.store.database import UNREACHABLE, Database, already_written

__all__ = ["BODY_BYTES_PER_VALUE", "KEEP_FOR", "DriftCollector"]

logger = logging.getLogger(__name__)

# (route, model, version, watch, inputs)
_Observation = tuple[str, str, int, DriftWatch, Any]
# A parsed JSON body holds at most about 24 bytes per byte of it (a list of empty objects, with
# orjson), a value about 38: one value per 4 bytes bounds the list's memory, at capacity, to
# about 190 MB whatever the requests, while rows of short numbers ("0.25,") cost their values.
BODY_BYTES_PER_VALUE = 4
# How long rows the store could not take are kept for another try, from their flush (the
# gateway's clock). The roll-up keeps the ids of the rows it deleted a while longer (an hour, in
# case this clock lags the control plane's): past that a retry could no longer tell a row it
# wrote unseen and the roll-up summed from one never written, so such rows are given up first.
# Six hours outlasts a restart or a maintenance window of the store, and keeps the roll-up's ids
# to about 25,000 rows (4 MB) per target for ten gateways flushing every 10 s.
KEEP_FOR = timedelta(hours=6)


class DriftCollector:
    def __init__(
        self,
        db: Database,
        *,
        capacity: int = 2_000_000,
        keep_rows: int = 10_000,
        on_drop: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._clock = clock  # the rows' time, and how long they have been kept
        self._capacity = capacity  # values: 2,000,000 numbers in rows of lists take about 77 MB
        self._on_drop = on_drop
        self._pending: list[_Observation] = []
        self._size = 0  # values held by _pending
        self._flushing = asyncio.Lock()
        # Rows of flushes the store could not take, ids fixed; touched only under _flushing.
        self._unwritten: list[dict[str, Any]] = []
        self._keep_rows = keep_rows
        self.dropped = 0

    def observe(
        self,
        route: str,
        model: str,
        version: int,
        watch: DriftWatch,
        inputs: Any,
        *,
        body_bytes: int,
    ) -> None:
        """Queue ``inputs``, parsed from a request body of ``body_bytes``, for the next flush."""
        size = max(watch.binner.size(inputs), -(-body_bytes // BODY_BYTES_PER_VALUE))
        if self._pending and self._size + size > self._capacity:
            self.dropped += 1
            if self._on_drop is not None:
                self._on_drop()
            return
        self._size += size
        self._pending.append((route, model, version, watch, inputs))

    @property
    def filling(self) -> bool:
        """Half the capacity is used: flush now, not at the next interval."""
        return self._size * 2 >= self._capacity

    async def flush(self, *, final: bool = False) -> None:
        """Write what was observed so far (a failed write is logged; requests never see it).

        ``final``: the gateway is stopping, so rows the store cannot take now are lost.
        """
        async with self._flushing:
            pending, self._pending, self._size = self._pending, [], 0
            if not pending and not self._unwritten:
                return
            try:
                await asyncio.to_thread(self._write, pending)
            except UNREACHABLE as error:
                if final:
                    logger.error(
                        "drift counts lost: the store is unreachable as the gateway stops",
                        extra={"rows": len(self._unwritten)},
                    )
                    self._unwritten = []
                    return
                logger.warning(
                    "drift counts kept for the next flush: the store is unreachable",
                    extra={
                        "rows": len(self._unwritten),
                        "error": type(error.orig or error).__name__,
                    },
                )
            except Exception:
                logger.exception("drift counts lost", extra={"rows": len(self._unwritten)})
                self._unwritten = []

    def _write(self, pending: list[_Observation]) -> None:
        again = bool(self._unwritten)  # an earlier attempt failed: it may have committed
        self._unwritten.extend(self._rows(pending))
        excess = len(self._unwritten) - self._keep_rows
        if excess > 0:
            logger.error("drift counts lost: too many kept for the store", extra={"rows": excess})
            del self._unwritten[:excess]
        oldest = self._clock() - KEEP_FOR
        recent = [row for row in self._unwritten if row["at"] >= oldest]
        if len(recent) < len(self._unwritten):
            stale = len(self._unwritten) - len(recent)
            logger.error("drift counts lost: kept too long for the store", extra={"rows": stale})
            self._unwritten = recent
        with self._db.unit_of_work() as session:
            rows = self._unwritten
            if again:
                written = _written(session, rows)
                rows = [row for row in rows if row["id"] not in written]
            session.add_all(DriftCount(**row) for row in rows)
        self._unwritten = []

    def _rows(self, pending: list[_Observation]) -> list[dict[str, Any]]:
        """One row of counts per route, version and reference observed, binned once."""
        groups: dict[tuple[str, str, int, str], tuple[DriftWatch, list[Any]]] = {}
        for route, model, version, watch, inputs in pending:
            key = (route, model, version, watch.reference_id)
            group = groups.get(key)
            if group is None:
                group = groups[key] = (watch, [])
            group[1].append(inputs)
        written = []
        for key, (watch, requests) in groups.items():
            counts = watch.binner.empty()
            _, unreadable = watch.binner.count_all(counts, requests)
            written.append((key, counts, len(requests), unreadable))
        now = self._clock()
        return [
            {
                "id": new_id(),
                "at": now,
                "route": route,
                "model": model,
                "version": version,
                "reference_id": reference_id,
                "requests": requests,
                "unreadable": unreadable,
                "counts": counts,
            }
            for (route, model, version, reference_id), counts, requests, unreadable in written
        ]


def _written(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """The ids of ``rows`` an earlier attempt wrote after all: still stored, or rolled up.

    Stored rows are read first: a roll-up deletes a row and records its id in one transaction,
    so a row that one read misses for being rolled up meanwhile is found by the second.
    """
    ids = [row["id"] for row in rows]
    written = already_written(session, DriftCount.id, ids)
    return written | already_written(session, FoldedFlush.id, [i for i in ids if i not in written])
