"""The worked examples' files, as tests, ``make run`` and ``examples/*.py`` load them: their
events, definitions (front matter), stand-in servers, and which events run without a person.

A stand-in is imported with :func:`load_example` and served with :func:`serve` (from
:mod:`taskfactory_stack.stand_ins`, re-exported here beside the loader)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import yaml

from taskfactory_contracts import ActivityDefinition, Envelope, envelope_from_json
from taskfactory_contracts.definition_parts import APPROVAL_TASK_TYPE
from taskfactory_contracts.triggers import matches
from taskfactory_runtime.definitions import check_paths, front_matter, load_definitions
from taskfactory_stack.errors import StackError
from taskfactory_stack.stand_ins import serve

__all__ = [
    "EXAMPLES",
    "LOAN",
    "MONITORING",
    "PLUGINS",
    "front_matter",
    "load_example",
    "load_example_events",
    "render_definitions",
    "runs_unattended",
    "serve",
]

EXAMPLES = Path("examples")
LOAN = EXAMPLES / "loan-approval"
MONITORING = EXAMPLES / "monitoring"
#: The worked examples' plugin packages, installed for the executor.
PLUGINS = (LOAN / "plugin", MONITORING / "plugin")


# ---- the examples' files ----------------------------------------------------------------------
def load_example_events(
    folder: Path, *, nonce: str, unique_subjects: bool = False
) -> list[Envelope]:
    """The envelopes in ``folder/*.json``, ids suffixed with ``nonce`` so each demo is new work.

    ``unique_subjects`` suffixes the subjects too: for definitions whose workflow id is
    derived from the subject (one run per loan application), a replay of the sample files is
    then a new application rather than a duplicate of the last demo's.
    """
    out = []
    for path in sorted(folder.glob("*.json")):
        for item in json.loads(path.read_text(encoding="utf-8")):
            item["id"] = f"{item['id']}-{nonce}"
            if unique_subjects:
                item["subject"] = f"{item['subject']}-{nonce}"
            out.append(envelope_from_json(item, time=datetime.now(UTC)))
    return out


def load_example(path: Path) -> ModuleType:
    """Import an example's stand-in server (``examples/loan-approval/bank.py`` …) by path.

    The example folders are not packages (their names have dashes), and the files stay
    runnable on their own (``python examples/loan-approval/bank.py``).
    """
    path = path.resolve()
    name = f"taskfactory_example_{path.parent.name.replace('-', '_')}_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise StackError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def render_definitions(folder: Path, *, bank_url: str, site_url: str) -> list[ActivityDefinition]:
    """Write the demo's definitions into ``folder``; returns them.

    ``examples/definitions`` as they are, except the plugin-free loan sketch, whose place
    the worked loan-approval example takes; the worked examples with only what a deployment
    changes (the URLs of the bank and of the monitored site), and the monitor's schedule
    paused: ``make run`` fires it itself, and nothing fires it once ``make run`` has ended.
    """
    loan, loan_text = front_matter(LOAN / "definitions" / "loan-approval.md")
    loan["context"]["bank"]["value"]["url"] = bank_url
    monitor, monitor_text = front_matter(MONITORING / "definitions" / "site-monitor.md")
    monitor["context"]["target"]["value"]["url"] = site_url
    monitor["trigger"]["schedule"]["paused"] = True
    worked = {
        loan["id"]: (LOAN, {**loan, "description": loan_text}),
        monitor["id"]: (MONITORING, {**monitor, "description": monitor_text}),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if old.is_file():
            old.unlink()
    for path in sorted((EXAMPLES / "definitions").iterdir()):
        found, _ = check_paths([path])
        if path.is_file() and not any(d.id in worked for d in found):
            shutil.copyfile(path, folder / path.name)
    for definition_id, (source, doc) in worked.items():
        paused = ", schedule paused (make run triggers it)" if "schedule" in doc["trigger"] else ""
        header = (
            f"# Rendered by `make run` from {source}/definitions: the stand-ins' URLs{paused}.\n"
        )
        text = header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
        (folder / f"{definition_id}.yaml").write_text(text, encoding="utf-8")
    return load_definitions(folder)


def runs_unattended(envelope: Envelope, definitions: list[ActivityDefinition]) -> str | None:
    """``None`` if the event starts a run that finishes without a human, else why not."""
    wanted = [d for d in definitions if matches(d, envelope)[0]]
    if not wanted:
        return "no definition wants it (see `taskfactory explain`)"
    for definition in wanted:
        if any(t.approval is not None or t.type == APPROVAL_TASK_TYPE for t in definition.tasks):
            return f"{definition.id} waits for a human approval (`taskfactory runs approve`)"
    return None
