"""This test session's mark, and ending what the session left in Temporal when it ends."""

from __future__ import annotations

import uuid

from temporalio.client import Client

from taskfactory_stack.leftovers import Ended, end_leftovers

__all__ = ["SESSION", "UID_LETTERS", "end_session_runs", "new_uid", "session_marks"]

#: This test session's mark: every test's uid starts with a letter and it, so whatever the
#: session leaves running (runs whose test stopped their workers, approvals nobody gave) and
#: the schedules its orchestrators created (``{uid}-…``) are found when the session ends.
SESSION = uuid.uuid4().hex[:4]
UID_LETTERS = ("t", "h")


def new_uid(letter: str = "t") -> str:
    """A short id unique to one test: prefixes its topics, groups, queues and workflow ids."""
    assert letter in UID_LETTERS
    return letter + SESSION + uuid.uuid4().hex[:6]


def session_marks() -> list[str]:
    """What every id, task queue and schedule id of this session's tests starts with."""
    return [letter + SESSION for letter in UID_LETTERS]


async def end_session_runs(temporal_address: str, *, namespace: str = "default") -> Ended:
    """Terminate the runs this session's tests left running and delete the schedules they left,
    so the Temporal that ``make run`` shows next holds none of them; returns how many."""
    client = await Client.connect(temporal_address, namespace=namespace)
    return await end_leftovers(
        client,
        session_marks(),
        namespace=namespace,
        reason="the test session that started these runs ended",
    )
