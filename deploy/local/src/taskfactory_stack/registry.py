"""A real schema registry: Apicurio Registry from Maven Central, Confluent-compatible API.

Apicurio publishes its server as a runnable Quarkus fast-jar archive on Maven Central
(``io.apicurio:apicurio-registry-app:<version>:tar.gz:all``); ``mvn dependency:unpack`` caches
it beside the Kafka jars. It stores schemas in an H2 file under ``<dir>/registry/data`` and
speaks the Confluent Schema Registry REST API under ``/apis/ccompat/v7``, which is what
confluent-kafka's serializers and taskfactory's services talk to.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from taskfactory_stack.component import Component
from taskfactory_stack.errors import StackError
from taskfactory_stack.maven import cache_root, unpack

__all__ = ["CCOMPAT_PATH", "RegistryComponent", "find_java"]

#: Where Apicurio serves the Confluent Schema Registry API.
CCOMPAT_PATH = "/apis/ccompat/v7"
#: Apicurio 3.1 and later are built for Java 21.
_MODERN_JAVA = 21


def _java_major(java: Path) -> int | None:
    """The feature version of the JDK or JRE ``java`` belongs to (its ``release`` file)."""
    release = java.resolve().parent.parent / "release"
    try:
        text = release.read_text(encoding="utf-8")
    except OSError:
        text = ""
    match = re.search(r'^JAVA_VERSION="(\d+)', text, re.MULTILINE)
    if match:
        return int(match.group(1))
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, check=False, timeout=30
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r'version "(\d+)', out)
    return int(found.group(1)) if found else None


def find_java(minimum: int) -> Path | None:
    """A ``java`` of at least version ``minimum``: JAVA_HOME, the PATH, then /usr/lib/jvm/*."""
    candidates: list[Path] = []
    if home := os.environ.get("JAVA_HOME"):
        candidates.append(Path(home) / "bin" / "java")
    if on_path := shutil.which("java"):
        candidates.append(Path(on_path))
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        candidates += sorted(jvm.glob("*/bin/java"), reverse=True)
    best: tuple[int, Path] | None = None
    for java in candidates:
        if not java.is_file():
            continue
        major = _java_major(java)
        if major is not None and major >= minimum and (best is None or major > best[0]):
            best = (major, java)
    return best[1] if best else None


@dataclass
class RegistryComponent(Component):
    """Apicurio Registry on loopback, one JVM with a small heap and the serial collector."""

    name: str = "registry"
    _java: Path | None = field(default=None, repr=False)

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.settings.registry_port, self.settings.registry_management_port)

    @property
    def url(self) -> str:
        """The Confluent-compatible API, as ``TASKFACTORY_KAFKA__SCHEMA_REGISTRY_URL`` takes it."""
        return self.http(CCOMPAT_PATH)

    @property
    def extra(self) -> str:
        return f"Confluent API {self.url}"

    def java(self) -> Path:
        """The JDK that runs the registry: 21+ if the machine has one, else the PATH's."""
        if self._java is None:
            modern = find_java(_MODERN_JAVA)
            fallback = shutil.which("java")
            if modern is None and fallback is None:
                raise StackError(
                    "registry: no `java` found; install a JDK 21+ (Apicurio Registry "
                    f"{self.settings.registry_version}) or 17 (version "
                    f"{self.settings.registry_fallback_version})"
                )
            self._java = modern or Path(str(fallback))
        return self._java

    @property
    def version(self) -> str:
        """The Apicurio version this machine's JDK runs."""
        major = _java_major(self.java())
        if major is not None and major >= _MODERN_JAVA:
            return self.settings.registry_version
        return self.settings.registry_fallback_version

    @property
    def home(self) -> Path:
        """The unpacked server (cached across `down`/`up`, shared by private test registries)."""
        return cache_root(self.settings) / "registry" / self.version

    @property
    def data(self) -> Path:
        """The H2 database the schemas are kept in."""
        return self.settings.root / "registry" / "data"

    def prepare(self) -> None:
        marker = self.home / ".complete"
        if not marker.exists():
            artifact = f"io.apicurio:apicurio-registry-app:{self.version}:tar.gz:all"
            print(f"registry: fetching Apicurio Registry {self.version} with mvn …", flush=True)
            unpack("registry", artifact, self.home)
            marker.write_text(self.version)
        self.data.mkdir(parents=True, exist_ok=True)

    def argv(self) -> tuple[list[str], dict[str, str]]:
        s = self.settings
        db = f"jdbc:h2:file:{self.data / 'registry'};DB_CLOSE_ON_EXIT=FALSE"
        argv = [
            str(self.java()),
            f"-Xmx{s.registry_heap}",
            "-XX:+UseSerialGC",
            # C1 only: a fraction of the start-up CPU on a shared two-core machine.
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            "-Dquarkus.http.host=127.0.0.1",
            f"-Dquarkus.http.port={s.registry_port}",
            "-Dquarkus.management.host=127.0.0.1",
            f"-Dquarkus.management.port={s.registry_management_port}",
            f"-Dapicurio.datasource.url={db}",
            "-Dquarkus.log.level=WARN",
            "-jar",
            str(self._jar()),
        ]
        return argv, dict(os.environ)

    def _jar(self) -> Path:
        """The runnable jar: a fast-jar's launcher (3.1+) or a legacy runner jar (3.0)."""
        fast = self.home / "quarkus-run.jar"
        runner = next(iter(sorted(self.home.glob("*-runner.jar"))), None)
        return runner if runner is not None and not fast.exists() else fast

    async def probe(self) -> str | None:
        import httpx

        s = self.settings
        # 3.1+ serve health on Quarkus's management interface; 3.0 on the main port.
        ports = (s.registry_management_port, s.registry_port)
        try:
            async with httpx.AsyncClient(timeout=3) as http:
                ready: httpx.Response | None = None
                for port in ports:
                    try:
                        ready = await http.get(f"http://127.0.0.1:{port}/health/ready")
                    except httpx.ConnectError:
                        continue
                    if ready.status_code != 404:
                        break
                if ready is None:
                    return "not listening yet"
                if ready.status_code != 200:
                    return f"readiness {ready.status_code}"
                subjects = await http.get(f"{self.url}/subjects")
                return None if subjects.status_code == 200 else f"subjects {subjects.status_code}"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
