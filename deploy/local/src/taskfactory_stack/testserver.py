"""Temporal's time-skipping test server (Java, from Maven Central) behind a small wrapper script.

The Python SDK's ``WorkflowEnvironment.start_time_skipping()`` would download a binary; with
``test_server_existing_path`` pointing at this wrapper it runs the published
``io.temporal:temporal-test-server`` jar instead, so timers of days pass in milliseconds.
"""

from __future__ import annotations

from pathlib import Path

from taskfactory_stack.maven import cache_root, copy_dependencies, pom
from taskfactory_stack.settings import StackSettings

__all__ = ["TEST_SERVER_VERSION", "ensure_test_server"]

TEST_SERVER_VERSION = "1.38.0"


def ensure_test_server(settings: StackSettings, version: str = TEST_SERVER_VERSION) -> Path:
    """The wrapper script (fetching the jars with ``mvn`` the first time)."""
    home = cache_root(settings) / "temporal-test-server" / version
    wrapper = home / "temporal-test-server"
    if wrapper.exists():
        return wrapper
    copy_dependencies(
        "temporal-test-server",
        pom("temporal-test-server", version=version, group="io.temporal"),
        home,
        home / "libs",
        "-DincludeScope=runtime",
    )
    wrapper.write_text(
        "#!/usr/bin/env bash\n"
        f'exec java -Xmx256m -cp "{home / "libs"}/*" io.temporal.testserver.TestServer "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper
