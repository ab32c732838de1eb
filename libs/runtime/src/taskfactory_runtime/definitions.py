"""Load ActivityDefinition files (YAML, or Markdown with YAML front matter) from a folder.

Every problem is reported as ``file:line: field: reason``; a folder loads all or nothing.
:class:`DefinitionsWatcher` reloads a folder when its files change and keeps the last good
set when a change is bad, so the ingress and the orchestrator share one hot-reload path.

A definition file is outside input (a ConfigMap, a ``validate`` request), so reading one is
bounded before any model sees it: the size (``max_bytes``), UTF-8 only, no YAML aliases (a
433-byte alias bomb expands to millions of nodes), at most :data:`MAX_YAML_DEPTH` levels of
nesting and :data:`MAX_YAML_NODES` nodes — each refused with the file, line, field and reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from taskfactory_contracts import (
    BUILTIN_TASK_TYPES,
    ActivityDefinition,
    DefinitionError,
    definition_problems,
    names,
    spelling_problems,
)
from taskfactory_runtime.bounded_yaml import MAX_YAML_DEPTH, MAX_YAML_NODES, decode_utf8, parse_yaml
from taskfactory_runtime.errors import NotUtf8, YamlRefused
from taskfactory_runtime.logging import get_logger

__all__ = [
    "MAX_DEFINITION_BYTES",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "DefinitionProblem",
    "DefinitionSetError",
    "DefinitionsWatcher",
    "check_paths",
    "front_matter",
    "known_task_types",
    "load_definition",
    "load_definitions",
]

log = get_logger(__name__)
_SUFFIXES = (".yaml", ".yml", ".md")
#: Default of ``TASKFACTORY_DEFINITIONS_MAX_BYTES``: a larger file is refused before it is read.
MAX_DEFINITION_BYTES = 1024 * 1024


@dataclass(frozen=True)
class DefinitionProblem:
    """One problem in one file: where, which field, why."""

    file: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.reason}"


class DefinitionSetError(DefinitionError):
    """One or more definition files are invalid; ``problems`` lists each."""

    def __init__(self, problems: Sequence[DefinitionProblem]) -> None:
        self.problems = tuple(problems)
        first = self.problems[0]
        super().__init__("\n".join(str(p) for p in self.problems))
        self.file, self.field = first.file, first.field


def known_task_types() -> frozenset[str]:
    """Built-in task types plus those task plugins register as entry points."""
    plugins = {ep.name for ep in entry_points(group=names.TASK_PLUGIN_GROUP)}
    return frozenset({*BUILTIN_TASK_TYPES, *plugins})


def _split(path: Path, text: str) -> tuple[str, str, int]:
    """(YAML text, Markdown body, line offset of the YAML in the file)."""
    if path.suffix != ".md":
        return text, "", 0
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise _Problem(1, "<file>", "Markdown definitions start with '---' front matter")
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1 :]).strip(), 1
    raise _Problem(len(lines), "<file>", "front matter has no closing '---'")


def front_matter(path: Path) -> tuple[dict[str, Any], str]:
    """The YAML front matter of a Markdown definition, read as bounded as any definition
    file, and the text after it; :class:`DefinitionError` names the file when it has none."""
    try:
        source, body, _ = _split(path, decode_utf8(path.read_bytes()))
        _, doc = parse_yaml(source)
    except _Problem as exc:
        raise DefinitionError(exc.reason, file=str(path), field=exc.field) from None
    if not isinstance(doc, dict):
        raise DefinitionError("expected a mapping", file=str(path), field="<root>")
    return doc, body


class _Problem(Exception):
    """Private control flow inside loading: always turned into a :class:`DefinitionError` or a
    :class:`DefinitionProblem` before it leaves this module, so not under the root."""

    def __init__(self, line: int, field: str, reason: str) -> None:
        super().__init__(reason)
        self.line, self.field, self.reason = line, field, reason


def _line_of(root: yaml.Node | None, loc: Sequence[str | int], offset: int) -> int:
    """The line of the deepest node ``loc`` reaches in the YAML tree (1-based)."""
    node = root
    line = (root.start_mark.line if root is not None else 0) + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line + offset


def _field(loc: Sequence[str | int]) -> str:
    # pydantic puts the union member's tag in the location of a discriminated union.
    return ".".join(str(p) for p in loc) or "<root>"


def _check_file(
    path: Path, task_types: Iterable[str] | None, max_bytes: int
) -> tuple[ActivityDefinition | None, list[DefinitionProblem]]:
    where = str(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise _Problem(
                1,
                "<file>",
                f"the file is {size} bytes, over the limit of {max_bytes} bytes "
                "(TASKFACTORY_DEFINITIONS_MAX_BYTES); split it or raise the limit",
            )
        text = decode_utf8(path.read_bytes())
        source, body, offset = _split(path, text)
        root, doc = parse_yaml(source)
    except OSError as exc:
        return None, [DefinitionProblem(where, 1, "<file>", f"cannot read: {exc.strerror}")]
    except _Problem as exc:
        return None, [DefinitionProblem(where, exc.line, exc.field, exc.reason)]
    except NotUtf8 as exc:
        return None, [DefinitionProblem(where, exc.line, "<file>", exc.detail)]
    except YamlRefused as exc:
        field = _field(exc.path)
        return None, [DefinitionProblem(where, exc.line + offset, field, exc.detail)]
    except RecursionError:
        reason = "nested too deeply to read"
        return None, [DefinitionProblem(where, 1 + offset, "<yaml>", reason)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = min((mark.line + 1 if mark is not None else 1) + offset, max(1, text.count("\n")))
        reason = getattr(exc, "problem", None) or str(exc)
        return None, [DefinitionProblem(where, line, "<yaml>", f"not valid YAML: {reason}")]
    if not isinstance(doc, dict):
        return None, [DefinitionProblem(where, 1 + offset, "<root>", "expected a mapping")]
    if body and not doc.get("description"):
        doc["description"] = body
    try:
        definition = ActivityDefinition.model_validate(doc, context={"defer_checks": True})
    except ValidationError as exc:
        out = []
        errors = exc.errors()
        locs = [tuple(e["loc"]) for e in errors]
        for err in errors:
            here = tuple(err["loc"])
            # A container's error that only restates a failed member adds nothing.
            if any(len(o) > len(here) and o[: len(here)] == here for o in locs):
                continue
            loc = [p for p in err["loc"] if not (isinstance(p, str) and p in _UNION_TAGS)]
            out.append(
                DefinitionProblem(where, _line_of(root, loc, offset), _field(loc), err["msg"])
            )
        return None, out
    problems = [
        DefinitionProblem(where, _line_of(root, loc, offset), _field(loc), reason)
        for loc, reason in [
            *spelling_problems(definition),
            *definition_problems(definition, task_types),
        ]
    ]
    return (None if problems else definition), problems


_UNION_TAGS = frozenset({"static", "http", "plugin"})


def _files(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.suffix in _SUFFIXES and p.is_file()))
        else:
            out.append(path)
    return out


def check_paths(
    paths: Iterable[Path],
    task_types: Iterable[str] | None = None,
    *,
    max_bytes: int = MAX_DEFINITION_BYTES,
) -> tuple[list[ActivityDefinition], list[DefinitionProblem]]:
    """Every definition in ``paths`` (files or folders) and every problem found in them.

    ``task_types``: the task types a definition may use (``None``: any); a file larger than
    ``max_bytes`` is a problem, not read.
    """
    definitions: list[ActivityDefinition] = []
    problems: list[DefinitionProblem] = []
    seen: dict[str, Path] = {}
    types = None if task_types is None else frozenset(task_types)
    for path in _files(paths):
        if not path.exists():
            problems.append(DefinitionProblem(str(path), 1, "<file>", "does not exist"))
            continue
        try:
            definition, found = _check_file(path, types, max_bytes)
        except Exception as exc:  # one unforeseen file must not hide the others
            log.exception("definition file could not be checked", file=str(path))
            reason = f"could not be checked: {type(exc).__name__}: {str(exc)[:200]}"
            definition, found = None, [DefinitionProblem(str(path), 1, "<file>", reason)]
        problems.extend(found)
        if definition is None:
            continue
        if definition.id in seen:
            problems.append(
                DefinitionProblem(
                    str(path),
                    1,
                    "id",
                    f"id {definition.id!r} is already defined in {seen[definition.id]}",
                )
            )
            continue
        seen[definition.id] = path
        definitions.append(definition)
    return definitions, problems


def load_definition(path: Path) -> ActivityDefinition:
    """One definition file; raises ``DefinitionSetError`` listing every problem."""
    definitions, problems = check_paths([path])
    if problems:
        raise DefinitionSetError(problems)
    return definitions[0]


def load_definitions(
    folder: Path,
    task_types: Iterable[str] | None = None,
    *,
    max_bytes: int = MAX_DEFINITION_BYTES,
) -> list[ActivityDefinition]:
    """Every definition in ``folder`` (sorted by file name), or ``DefinitionSetError``."""
    if not folder.is_dir():
        raise DefinitionError("definitions folder does not exist", file=str(folder))
    definitions, problems = check_paths([folder], task_types, max_bytes=max_bytes)
    if problems:
        raise DefinitionSetError(problems)
    return definitions


def _signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    try:
        return tuple(
            (p.name, p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted(folder.iterdir())
            if p.suffix in _SUFFIXES and p.is_file()
        )
    except OSError:
        return ()


class DefinitionsWatcher:
    """Polls a folder; on a change, loads it and hands a good set to ``on_change``.

    A bad change is logged with every problem and ignored: the last good set stays active.
    Polling (not inotify) because ConfigMap updates swap a symlink, which inotify misses.
    """

    def __init__(
        self,
        folder: Path,
        on_change: Callable[[list[ActivityDefinition]], Awaitable[None] | None],
        *,
        interval: float = 2.0,
        max_bytes: int = MAX_DEFINITION_BYTES,
    ) -> None:
        self.folder = folder
        self.on_change = on_change
        self.interval = interval
        self.max_bytes = max_bytes
        self.current: list[ActivityDefinition] = load_definitions(folder, max_bytes=max_bytes)
        self._signature = _signature(folder)
        self.rejected = 0

    async def check(self) -> bool:
        """Reload if the folder changed; True when a new set was applied."""
        signature = _signature(self.folder)
        if signature == self._signature:
            return False
        self._signature = signature
        try:
            definitions = load_definitions(self.folder, max_bytes=self.max_bytes)
        except DefinitionSetError as exc:
            self.rejected += 1
            for problem in exc.problems:
                log.error(
                    "definitions change rejected; keeping the last good set",
                    file=problem.file,
                    line=problem.line,
                    field=problem.field,
                    reason=problem.reason,
                )
            return False
        except DefinitionError as exc:
            self.rejected += 1
            log.error("definitions change rejected; keeping the last good set", error=str(exc))
            return False
        log.info("definitions reloaded", definitions=[f"{d.id}@v{d.version}" for d in definitions])
        try:
            outcome = self.on_change(definitions)
            if outcome is not None:
                await outcome
        except Exception:  # the watcher outlives a failed apply
            self.rejected += 1
            log.exception("applying the reloaded definitions failed; keeping the last good set")
            return False
        self.current = definitions
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Check every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
            except TimeoutError:
                await self.check()
