"""The backup fact comes from the audit log: taking a real backup makes it known at once."""

from __future__ import annotations

from mlgate.auth.schemas import Principal
from mlgate.backup import service as backups
from mlgate.readiness.providers import gather_facts
from mlgate.runtime import Runtime
from tests.readiness.world import World

OPS = Principal(name="ops", scopes=frozenset({"admin"}))


def test_a_backup_sets_the_last_backup_time(runtime: Runtime) -> None:
    world = World(runtime, OPS)
    world.version("churn")
    before = world.run(lambda s: gather_facts(s, model="churn", version=1))
    assert before.backups.last_backup_at is None
    made = world.run(
        lambda s: backups.create_backup(
            s,
            db=runtime.db,
            blobs=runtime.blobs,
            root=runtime.settings.backups_path,
            key=None,
            actor=OPS,
        )
    )
    after = world.run(lambda s: gather_facts(s, model="churn", version=1))
    assert after.backups.last_backup_at is not None
    assert abs((after.backups.last_backup_at - made.created_at).total_seconds()) < 1
