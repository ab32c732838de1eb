"""A chaos world names everything it creates after its target's mark, so what a failed
scenario leaves in Temporal is found and ended by that mark."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.chaos.target import Target
from taskfactory_stack.chaos.world import World, sleepy_definition

MARK = "t1234abcd12"


def _target(tmp_path: Path, mark: str = MARK) -> Target:
    return Target(
        KafkaSettings(bootstrap_servers="127.0.0.1:19092"), "127.0.0.1:17233", tmp_path, mark=mark
    )


def test_every_topic_group_queue_and_run_id_of_a_world_starts_with_the_mark(
    tmp_path: Path,
) -> None:
    world = World(_target(tmp_path), "ingress-sigkill", lambda uid: sleepy_definition(uid, 1), {})
    env = world.services.env
    names = [
        world.uid,
        *world.topics,
        world.services.group,
        env["TASKFACTORY_TEMPORAL__ORCHESTRATOR_TASK_QUEUE"],
        env["TASKFACTORY_TEMPORAL__EXECUTOR_TASK_QUEUE"],
    ]
    assert all(name.startswith(MARK) for name in names), names
    assert (
        f'workflow_id: "{MARK}-ingress-sigkill-'
        in (world.services.definitions / "chaos.yaml").read_text()
    )


@pytest.mark.parametrize("mark", ["", "-t12", "t12'", "t12 OR 1=1", "t.12"])
def test_a_mark_unfit_for_ids_and_queries_is_refused(tmp_path: Path, mark: str) -> None:
    with pytest.raises(ValueError, match="a chaos mark is letters, digits and dashes"):
        _target(tmp_path, mark)
