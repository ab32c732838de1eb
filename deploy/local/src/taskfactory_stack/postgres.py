"""PostgreSQL from Debian's packages, run as a process of the cluster profile (no service).

The server refuses to run as root: under root it runs as the ``postgres`` user the Debian
package creates, so its data directory lives where that user can reach it (by default
``/var/tmp/taskfactory-pg-<hash of the stack folder>``, since a checkout may sit below a folder
only root may enter); ``<dir>/cluster/postgres`` links to it. Loopback TCP only, no socket file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import pwd
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

from taskfactory_stack.cluster import ClusterSettings
from taskfactory_stack.component import Component
from taskfactory_stack.errors import StackError
from taskfactory_stack.process import run_tool

__all__ = ["POSTGRES_USER", "PostgresComponent"]

#: The database superuser initdb creates; the Temporal server and its SQL tool log in as it.
POSTGRES_USER = "temporal"
_OS_USER = "postgres"
_DEBIAN_BINS = Path("/usr/lib/postgresql")


def _bin_dir() -> Path | None:
    found = sorted(
        _DEBIAN_BINS.glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name), reverse=True
    )
    if found:
        return found[0].parent
    beside = shutil.which("postgres")
    return Path(beside).resolve().parent if beside else None


def _install() -> Path:
    """Install Debian's ``postgresql`` when the server is missing (root only)."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise StackError(
            "postgres: the PostgreSQL server is missing; install Debian's `postgresql` package "
            "(apt-get install postgresql)"
        )
    print("postgres: installing Debian's postgresql package …", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"],
    ):
        run_tool(argv, f"postgres: `{' '.join(argv)}` failed", env=env)
    found = _bin_dir()
    if found is None:
        raise StackError("postgres: installed `postgresql` but found no `postgres` binary")
    return found


@dataclass
class PostgresComponent(Component):
    """One PostgreSQL server on a loopback port: Temporal's persistence and visibility."""

    name: str = "postgres"
    cluster: ClusterSettings = field(default_factory=ClusterSettings)

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.cluster.postgres_port,)

    @property
    def port_setting(self) -> str:
        return "TASKFACTORY_STACK_CLUSTER_POSTGRES_PORT"

    @property
    def data(self) -> Path:
        """The data directory initdb fills."""
        if self.cluster.postgres_dir is not None:
            return self.cluster.postgres_dir.resolve()
        digest = hashlib.sha256(str(self.settings.root).encode()).hexdigest()[:12]
        # Checked in `_own_data_dir`: a folder someone else made there is refused.
        return Path("/var/tmp") / f"taskfactory-pg-{digest}"  # noqa: S108

    def _as_server_user(self) -> list[str]:
        """The prefix that drops root to the ``postgres`` user (exec, so the pid stays ours)."""
        if os.geteuid() != 0:
            return []
        try:
            pwd.getpwnam(_OS_USER)
        except KeyError:
            raise StackError(
                f"postgres: running as root needs the `{_OS_USER}` user (Debian's postgresql "
                "package creates it)"
            ) from None
        return ["setpriv", f"--reuid={_OS_USER}", f"--regid={_OS_USER}", "--init-groups", "--"]

    def _own_data_dir(self) -> None:
        """Create the data directory, private to the server's user; refuse a foreign one."""
        self.data.mkdir(mode=0o700, parents=True, exist_ok=True)
        uid, gid = os.geteuid(), os.getegid()
        if uid == 0:
            user = pwd.getpwnam(_OS_USER)
            uid, gid = user.pw_uid, user.pw_gid
        stat = self.data.lstat()
        if self.data.is_symlink() or stat.st_uid not in (uid, os.geteuid()):
            raise StackError(
                f"postgres: {self.data} exists and is not ours; remove it or choose another "
                "with TASKFACTORY_STACK_CLUSTER_POSTGRES_DIR"
            )
        os.chown(self.data, uid, gid)
        self.data.chmod(0o700)

    def _bin(self, tool: str) -> str:
        found = _bin_dir() or _install()
        return str(found / tool)

    def prepare(self) -> None:
        initdb = self._bin("initdb")
        link = self.settings.root / "postgres"
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(self.data)
        if (self.data / "PG_VERSION").exists():
            return
        self._own_data_dir()
        print(f"postgres: initdb {self.data} …", flush=True)
        run_tool(
            [
                *self._as_server_user(),
                initdb,
                "--pgdata",
                str(self.data),
                "--username",
                POSTGRES_USER,
                # Loopback only, for a local test stack: any password is accepted.
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
            "postgres: initdb failed",
            cwd="/",
        )

    def argv(self) -> tuple[list[str], dict[str, str]]:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.cluster.postgres_port),
            "unix_socket_directories": "",
            # Four Temporal services, each with persistence and visibility pools.
            "max_connections": "300",
            "shared_buffers": "128MB",
            "log_min_messages": "warning",
        }
        argv = [*self._as_server_user(), self._bin("postgres"), "-D", str(self.data)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        return argv, dict(os.environ)

    def down(self) -> bool:
        pid = self.process.pid()
        if pid is not None:
            # SIGINT is PostgreSQL's fast shutdown (SIGTERM waits for every client to leave).
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
        return self.process.stop()

    async def probe(self) -> str | None:
        proc = await asyncio.create_subprocess_exec(
            self._bin("pg_isready"),
            "--host=127.0.0.1",
            f"--port={self.cluster.postgres_port}",
            f"--username={POSTGRES_USER}",
            "--dbname=postgres",
            "--timeout=3",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        return None if proc.returncode == 0 else out.decode().strip() or "not accepting"
