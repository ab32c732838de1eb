"""A TCP proxy a test puts between a service and a real server, to cut or redirect the link."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from taskfactory_stack.process import free_port
from taskfactory_stack.waiting import wait_for

__all__ = ["TcpProxy", "private_temporal_server"]


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to ``target``; ``cut`` refuses, ``retarget`` switches."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        """Where the service connects."""
        return f"127.0.0.1:{self.port}"

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = self.target.rsplit(":", 1)
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.close()
            return
        pipes = [
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ]
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            up_writer.close()
            writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._links.add(task)
        try:
            await self._link(reader, writer)
        finally:
            self._links.discard(task)

    async def open(self) -> None:
        """Accept and forward connections."""
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )

    async def _drop_links(self) -> None:
        for link in list(self._links):
            link.cancel()
        await asyncio.gather(*self._links, return_exceptions=True)

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones: the server is unreachable."""
        if self._server is not None:
            self._server.close()
            self._server = None
        await self._drop_links()

    async def retarget(self, target: str) -> None:
        """Forward to ``target`` from now on (open connections are dropped and reconnect)."""
        self.target = target
        await self._drop_links()

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, target: str) -> AsyncIterator[TcpProxy]:
        """An open proxy, cut at the end."""
        proxy = cls(target)
        await proxy.open()
        try:
            yield proxy
        finally:
            await proxy.cut()


@contextlib.asynccontextmanager
async def private_temporal_server(root: Path, *, namespace: str) -> AsyncIterator[str]:
    """A Temporal dev server of our own (in memory, no UI) holding ``namespace``; its address."""
    from temporalio.client import Client

    port = free_port()
    binary = Path(sys.executable).parent / "temporal"
    log = (root / "private-temporal.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        *[
            str(binary),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--http-port",
            str(free_port()),
            "--metrics-port",
            str(free_port()),
            "--namespace",
            namespace,
            "--log-level",
            "error",
        ],
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
        env=dict(os.environ),
    )
    address = f"127.0.0.1:{port}"

    async def answers() -> bool:
        assert process.returncode is None, (root / "private-temporal.log").read_text()
        try:
            client = await Client.connect(address, namespace=namespace)
            return await client.service_client.check_health()
        except RuntimeError:
            return False

    try:
        await wait_for(answers, timeout=60, what="the private Temporal dev server", interval=0.5)
        yield address
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()
        log.close()
