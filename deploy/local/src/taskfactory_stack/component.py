"""What every process of the local stack is: how it is prepared, started, probed and stopped."""

from __future__ import annotations

import asyncio
import gc
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from taskfactory_stack.errors import StackError
from taskfactory_stack.process import TrackedProcess, port_taken, tail
from taskfactory_stack.settings import StackSettings

__all__ = ["Component", "packaged_file"]


def packaged_file(name: str) -> str:
    return (resources.files("taskfactory_stack") / "files" / name).read_text(encoding="utf-8")


@dataclass
class Component(ABC):
    """One process of the stack."""

    settings: StackSettings
    name: str = ""

    @property
    def process(self) -> TrackedProcess:
        """The pid-file-tracked process."""
        root = self.settings.root
        return TrackedProcess(
            self.name, root / "run" / f"{self.name}.pid", root / "logs" / f"{self.name}.log"
        )

    @property
    @abstractmethod
    def ports(self) -> tuple[int, ...]:
        """Loopback ports the component binds."""

    @property
    def address(self) -> str:
        """Where clients reach it: its first port on loopback, unless it says otherwise."""
        return f"127.0.0.1:{self.ports[0]}"

    @property
    def extra(self) -> str:
        """Other addresses worth showing (UI)."""
        return ""

    def http(self, path: str) -> str:
        """Its HTTP URL: ``http://`` its address, then ``path``."""
        return f"http://{self.address}{path}"

    @property
    def data(self) -> Path | None:
        """The folder it keeps its data in, if it has one."""
        return None

    @property
    def state(self) -> tuple[Path, ...]:
        """What it keeps between runs (logs, histories, schemas): what ``reset`` removes; its
        data folder unless it says otherwise."""
        return () if self.data is None else (self.data,)

    @property
    def port_setting(self) -> str:
        """The environment variable that moves the component's port."""
        return f"TASKFACTORY_STACK_{self.name.upper()}_PORT"

    @abstractmethod
    def prepare(self) -> None:
        """Fetch binaries and initialise storage (cached: no download the second time)."""

    @abstractmethod
    def argv(self) -> tuple[list[str], dict[str, str]]:
        """Command line and environment of the process."""

    @abstractmethod
    async def probe(self) -> str | None:
        """``None`` when a real round trip succeeds, else why not."""

    def up(self) -> bool:
        """Start unless running; wait until ready. True if it started something."""
        if self.process.pid() is not None:
            return False
        for port in self.ports:
            if port_taken(port):
                raise StackError(
                    f"{self.name}: port {port} on 127.0.0.1 is already taken by another process "
                    f"(choose another with {self.port_setting} "
                    "or stop what holds it)"
                )
        self.prepare()
        argv, env = self.argv()
        self.process.start(argv, env=env, cwd=self.settings.root)
        self.wait_ready()
        return True

    def wait_ready(self) -> None:
        """Probe until ready; raise with the last log lines if the process dies or times out."""
        deadline = time.monotonic() + self.settings.start_timeout
        reason: str | None = "not probed"
        while time.monotonic() < deadline:
            if self.process.pid() is None:
                raise StackError(
                    f"{self.name}: died during start; last log lines "
                    f"({self.process.log_file}):\n{tail(self.process.log_file)}"
                )
            reason = self.probe_now()
            if reason is None:
                return
            time.sleep(0.3)
        self.process.stop()
        raise StackError(
            f"{self.name}: not ready after {self.settings.start_timeout:.0f}s ({reason}); "
            f"last log lines:\n{tail(self.process.log_file)}"
        )

    def probe_now(self) -> str | None:
        """Run :meth:`probe` to completion from synchronous code."""
        try:
            return asyncio.run(self.probe())
        finally:
            # The Temporal client's native runtime must not outlive the interpreter's
            # finalization (it aborts the process); collect its reference cycles now.
            gc.collect()

    def down(self) -> bool:
        """Stop the process the stack started; True if one was running."""
        return self.process.stop()
