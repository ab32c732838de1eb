"""The README's configuration table is the one the settings classes produce."""

from __future__ import annotations

from pathlib import Path

from taskfactory_executor.settings import ExecutorSettings
from taskfactory_ingress.settings import IngressSettings
from taskfactory_orchestrator.settings import OrchestratorSettings
from taskfactory_runtime.docs import settings_table

README = Path(__file__).parents[1] / "README.md"


def test_readme_lists_every_setting_with_its_default() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- settings-table:start -->") + len("<!-- settings-table:start -->")
    end = text.index("<!-- settings-table:end -->")
    expected = settings_table(IngressSettings, OrchestratorSettings, ExecutorSettings)
    assert text[start:end].strip() == expected, (
        "README configuration table is stale: run `make docs` to regenerate it"
    )
