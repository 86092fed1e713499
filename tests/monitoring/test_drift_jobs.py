"""The scheduled drift check opens one incident per drifting version, and only for those."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_iris

from mlgate.incidents import service as incidents
from mlgate.monitoring import service as monitoring
from mlgate.monitoring.jobs import drift_check_job
from mlgate.monitoring.schemas import DriftReferenceCreate
from mlgate.runtime import Runtime
from tests.integration import world
from tests.monitoring.conftest import count_served

IRIS = load_iris().data
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def watched_route(runtime: Runtime, name: str) -> None:
    world.upstream_route(runtime, name, "http://127.0.0.1:9/", model=name)  # never called
    with runtime.db.unit_of_work() as session:
        monitoring.set_reference(
            session,
            model_name=name,
            version=1,
            reference_in=DriftReferenceCreate(columns=FEATURES, rows=IRIS.tolist()),
            actor=world.REQUESTER,
        )


def test_only_drifting_routes_get_an_incident_and_repeats_join_it(runtime: Runtime) -> None:
    watched_route(runtime, "shifted")
    watched_route(runtime, "steady")
    world.create_route(runtime, name="unwatched", model="steady")
    count_served(runtime, IRIS + np.array([0.0, 0.0, 2.5, 1.5]), route="shifted", model="shifted")
    count_served(runtime, IRIS, route="steady", model="steady")

    first = drift_check_job(runtime)
    again = drift_check_job(runtime)

    assert [i.title for i in first] == ["Data drift on route shifted (shifted@1)"]
    assert [i.id for i in again] == [first[0].id]
    with runtime.db.unit_of_work() as session:
        assert len(incidents.get_all(session)) == 1
