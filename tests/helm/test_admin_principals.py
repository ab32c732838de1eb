"""Admin API principals in the chart: each token a file of its Secret, the mapping one variable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helm.conftest import Rendered

from taskfactory_orchestrator.settings import OrchestratorSettings

PRINCIPALS = {
    "admin": {
        "enabled": True,
        "principals": [
            {
                "name": "alice@example.com",
                "scope": "approve",
                "groups": ["credit-team"],
                "tokenSecret": {"existingSecret": "tf-alice", "key": "token"},
            },
            {"name": "ops", "scope": "admin", "tokenSecret": {"existingSecret": "tf-ops"}},
        ],
    }
}


def _orchestrator(rendered: Rendered) -> dict[str, Any]:
    deployment = rendered.one("Deployment", "tf-taskfactory-orchestrator")
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def test_principals_alone_enable_the_api_each_token_a_mounted_secret_file(
    render: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rendered = render(values=PRINCIPALS, tmp=tmp_path)
    spec = _orchestrator(rendered)
    container = spec["containers"][0]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    for index, secret in enumerate(("tf-alice", "tf-ops")):
        name = f"admin-principal-{index}"
        assert volumes[name]["secret"] == {"secretName": secret, "defaultMode": 0o440}
        assert mounts[name]["readOnly"] is True
    env = {e["name"]: e for e in container["env"]}
    assert "TASKFACTORY_ADMIN__ADMIN_TOKEN_FILE" not in env
    text = env["TASKFACTORY_ADMIN__PRINCIPALS"]["value"]
    assert "tf-alice" not in text, "the variable names files, never Secrets or tokens"
    # The orchestrator reads the variable as the chart means it.
    for var, entry in env.items():
        if var.startswith("TASKFACTORY_ADMIN__"):
            monkeypatch.setenv(var, entry["value"])
    admin = OrchestratorSettings().admin
    alice, ops = admin.principals
    assert (alice.name, alice.scope) == ("alice@example.com", "approve")
    assert alice.groups == ("credit-team",)
    assert alice.token_file == Path(mounts["admin-principal-0"]["mountPath"]) / "token"
    assert (ops.name, ops.scope, ops.groups) == ("ops", "admin", ())
    assert ops.token_file == Path(mounts["admin-principal-1"]["mountPath"]) / "token"


def test_a_principal_without_a_token_secret_is_refused(run_template: Any, tmp_path: Path) -> None:
    values = {"admin": {"enabled": True, "principals": [{"name": "x", "scope": "admin"}]}}
    out = run_template(values=values, tmp=tmp_path)
    assert out.returncode != 0
    assert "tokenSecret" in out.stderr
