"""Install and run the peers: a bench-only venv, PostgreSQL for DBOS, the Restate server.

Everything lives under ``.stack/bench/`` (ignored by git) and is installed once: a stamp file
names the pinned versions, so a second run reuses what the first one installed. Processes are
``TrackedProcess``es (pid files, never found by name) and are stopped by the harness.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from taskfactory_stack.errors import StackError
from taskfactory_stack.process import TrackedProcess, free_port, tail

ROOT = Path(__file__).resolve().parents[2]
HOME = ROOT / ".stack" / "bench"
# Pinned: the figures in bench/README.md were taken with exactly these.
PYTHON_PEERS = (
    "dbos==3.4.0",
    "confluent-kafka==2.16.1",
    "restate-sdk==1.3.0",
    "hypercorn==0.18.0",
)
RESTATE_SERVER = "1.7.12"


def _run(argv: list[str], what: str, **kwargs: Any) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        raise StackError(f"{what} failed ({' '.join(argv)}):\n{proc.stdout}{proc.stderr}")
    return str(proc.stdout)


def _stamped(stamp: Path, want: str) -> bool:
    return stamp.exists() and stamp.read_text() == want


def ensure_venv() -> Path:
    """The bench venv's python, with the pinned peers and ``taskfactory-contracts``."""
    venv = HOME / "venv"
    python = venv / "bin" / "python"
    want = "\n".join((*PYTHON_PEERS, "taskfactory-contracts (local)"))
    stamp = venv / "bench-peers.txt"
    if python.exists() and _stamped(stamp, want):
        return python
    uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    print(f"peers: installing {', '.join(PYTHON_PEERS)} into {venv}", flush=True)
    if not python.exists():
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], "uv venv")
    _run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            *PYTHON_PEERS,
            str(ROOT / "libs" / "contracts"),
        ],
        "uv pip install (bench peers)",
    )
    stamp.write_text(want)
    return python


def ensure_restate_server() -> Path:
    """The ``restate-server`` binary from the npm package ``@restatedev/restate-server``."""
    prefix = HOME / "restate"
    binary = (
        prefix / "node_modules" / "@restatedev" / "restate-server-linux-x64" / "bin"
    ) / "restate-server"
    stamp = prefix / "bench-peers.txt"
    if binary.exists() and _stamped(stamp, RESTATE_SERVER):
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise StackError("npm not found: the Restate server comes from the npm registry")
    print(f"peers: installing @restatedev/restate-server@{RESTATE_SERVER} (npm)", flush=True)
    prefix.mkdir(parents=True, exist_ok=True)
    _run(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(prefix),
            f"@restatedev/restate-server@{RESTATE_SERVER}",
        ],
        "npm install",
    )
    if not binary.exists():
        raise StackError(f"npm installed no restate-server binary at {binary} (not linux-x64?)")
    stamp.write_text(RESTATE_SERVER)
    return binary


def postgres_bin() -> Path:
    """The folder of Debian's PostgreSQL server binaries, installed with apt-get if missing."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        if os.geteuid() != 0:
            raise StackError("PostgreSQL is not installed: run `apt-get install -y postgresql`")
        print("peers: installing PostgreSQL from Debian's packages (apt-get)", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        _run(["apt-get", "update", "-q"], "apt-get update", env=env)
        _run(["apt-get", "install", "-y", "-q", "postgresql"], "apt-get install", env=env)
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent


def wait_until(check: Any, what: str, log: Path, timeout: float = 60) -> None:
    """Poll ``check()`` until true; fail naming ``what`` with the last lines of ``log``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise StackError(f"{what}: not ready after {timeout:.0f}s; {log}:\n{tail(log)}")
        time.sleep(0.1)


class Postgres:
    """A private PostgreSQL (its own data dir and port) run as the ``postgres`` user."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.dir = HOME / "postgres"
        self.data = self.dir / "data"
        self.port = free_port()
        self.process = TrackedProcess("postgres", HOME / "run" / "pg.pid", HOME / "logs" / "pg.log")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/dbos_bench"

    def _as_postgres(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def version(self) -> str:
        return _run([str(self.bin / "postgres"), "--version"], "postgres --version").strip()

    def start(self) -> None:
        if not (self.data / "PG_VERSION").exists():
            self.data.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(self.dir, "postgres", "postgres")
                shutil.chown(self.data, "postgres", "postgres")
            _run(
                self._as_postgres(
                    [
                        str(self.bin / "initdb"),
                        "-D",
                        str(self.data),
                        "-U",
                        "postgres",
                        "--auth=trust",
                        "--no-sync",
                    ]
                ),
                "initdb",
            )
        self.process.start(
            self._as_postgres(
                [
                    str(self.bin / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.data),
                    "-c",
                    "listen_addresses=127.0.0.1",
                ]
            ),
            cwd=self.dir,
        )
        wait_until(
            lambda: (
                subprocess.run([*self._client("pg_isready"), "-q"], check=False).returncode == 0
            ),
            "postgres",
            self.process.log_file,
        )

    def _client(self, tool: str) -> list[str]:
        """A client tool's command line, connected to this server as ``postgres``."""
        return [str(self.bin / tool), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]

    def scalar(self, sql: str, database: str = "dbos_bench") -> str:
        """One value from ``sql`` (via psql)."""
        return _run(
            [*self._client("psql"), "-d", database, "-tAc", sql],
            "psql",
        ).strip()

    def stop(self) -> None:
        self.process.stop(timeout=30)


def _http(method: str, url: str, body: Any = None) -> Any:
    """A JSON call to Restate's admin API; its JSON answer (``None`` if empty)."""
    response = httpx.request(
        method, url, json=body, headers={"accept": "application/json"}, timeout=30
    )
    if response.is_error:
        raise StackError(f"{method} {url}: HTTP {response.status_code}: {response.text}")
    return response.json() if response.content else None


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2, follow_redirects=True).is_success
    except httpx.TransportError:
        return False


class RestateServer:
    """A private single-node Restate server with the shared broker as its Kafka cluster."""

    def __init__(self, binary: Path, kafka: str) -> None:
        self.binary = binary
        self.dir = HOME / "restate" / "node"
        self.admin_port, self.ingress_port, self.node_port = free_port(), free_port(), free_port()
        self.admin = f"http://127.0.0.1:{self.admin_port}"
        self.kafka = kafka
        self.process = TrackedProcess(
            "restate", HOME / "run" / "restate.pid", HOME / "logs" / "restate.log"
        )

    def start(self) -> None:
        # A fresh node per invocation: no subscription or journal of an earlier run replays.
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        brokers = ", ".join(f'"{b}"' for b in self.kafka.split(","))
        (self.dir / "restate.toml").write_text(
            f'cluster-name = "taskfactory-bench"\n'
            f'base-dir = "{self.dir / "data"}"\n'
            "disable-telemetry = true\n"
            'log-filter = "warn"\n'
            "log-disable-ansi-codes = true\n"
            f'bind-address = "127.0.0.1:{self.node_port}"\n'
            f'advertised-address = "http://127.0.0.1:{self.node_port}"\n'
            "[admin]\n"
            f'bind-address = "127.0.0.1:{self.admin_port}"\n'
            "disable-web-ui = true\n"
            "[ingress]\n"
            f'bind-address = "127.0.0.1:{self.ingress_port}"\n'
            "[[ingress.kafka-clusters]]\n"
            'name = "bench"\n'
            f"brokers = [{brokers}]\n"
        )
        self.process.start(
            [
                str(self.binary),
                "--no-logo",
                "--listen-mode",
                "tcp",
                "--config-file",
                str(self.dir / "restate.toml"),
            ],
            env={**os.environ, "DO_NOT_TRACK": "1"},
            cwd=self.dir,
        )
        wait_until(lambda: _answers(f"{self.admin}/health"), "restate", self.process.log_file)

    def version(self) -> str:
        return _run([str(self.binary), "--version"], "restate-server --version").strip()

    def register(self, uri: str) -> None:
        """Register the SDK endpoint at ``uri`` (discovery of its services)."""
        _http("POST", f"{self.admin}/deployments", {"uri": uri, "force": True})

    def subscribe(self, topic: str, sink: str) -> str:
        """A subscription from ``topic`` of the ``bench`` cluster to ``sink``; returns its id."""
        body = {
            "source": f"kafka://bench/{topic}",
            "sink": sink,
            "options": {"auto.offset.reset": "earliest"},
        }
        return str(_http("POST", f"{self.admin}/subscriptions", body)["id"])

    def unsubscribe(self, subscription: str) -> None:
        _http("DELETE", f"{self.admin}/subscriptions/{subscription}")

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Rows of the admin SQL introspection API."""
        rows: list[dict[str, Any]] = _http("POST", f"{self.admin}/query", {"query": sql})["rows"]
        return rows

    def stop(self) -> None:
        self.process.stop(timeout=30)
