"""Temporal's time-skipping test server (Java, from Maven Central) behind a small wrapper script.

The Python SDK's ``WorkflowEnvironment.start_time_skipping()`` would download a binary; with
``test_server_existing_path`` pointing at this wrapper it runs the published
``io.temporal:temporal-test-server`` jar instead, so timers of days pass in milliseconds.
"""

from __future__ import annotations

from pathlib import Path

from taskfactory_stack.maven import copy_dependencies
from taskfactory_stack.settings import StackSettings

__all__ = ["TEST_SERVER_VERSION", "ensure_test_server"]

TEST_SERVER_VERSION = "1.38.0"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>io.taskfactory.stack</groupId><artifactId>temporal-test-server</artifactId>
<version>1</version><packaging>pom</packaging><dependencies><dependency>
<groupId>io.temporal</groupId><artifactId>temporal-test-server</artifactId>
<version>{version}</version></dependency></dependencies></project>
"""


def ensure_test_server(settings: StackSettings, version: str = TEST_SERVER_VERSION) -> Path:
    """The wrapper script (fetching the jars with ``mvn`` the first time)."""
    jars = settings.jars_dir.resolve().parent if settings.jars_dir else settings.root
    home = jars / "temporal-test-server" / version
    wrapper = home / "temporal-test-server"
    if wrapper.exists():
        return wrapper
    home.mkdir(parents=True, exist_ok=True)
    (home / "pom.xml").write_text(_POM.format(version=version))
    copy_dependencies("temporal-test-server", "the jars", home / "pom.xml", home / "libs")
    wrapper.write_text(
        "#!/usr/bin/env bash\n"
        f'exec java -Xmx256m -cp "{home / "libs"}/*" io.temporal.testserver.TestServer "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper
