"""Least privilege on the network: egress denied but for what taskfactory needs, in step with
the executor's and orchestrator's own egress allow-list (both rendered from the same values)."""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helm.conftest import CHART, Rendered

from taskfactory_executor.settings import ExecutorSettings
from taskfactory_orchestrator.settings import OrchestratorSettings

Render = Any

EXECUTOR_EGRESS = {
    "components": {
        "executor": {
            "egress": {
                "allowedHosts": ["api.example.com", "203.0.113.0/24"],
                "allowedNetworks": ["10.20.0.0/16"],
                "redirects": "same-origin",
                "maxRedirects": 3,
                "ports": [443, 8443],
            }
        },
        "orchestrator": {"egress": {"allowedHosts": ["198.51.100.7/32"]}},
    },
    "tracing": {"otlpEndpoint": "http://otel-collector.observability:4318"},
    "kafka": {"bootstrapServers": "kafka-0:9093,kafka-1:9093,kafka-2:9094"},
    "temporal": {"address": "temporal-frontend:7234"},
}


def _policy(rendered: Rendered, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = rendered.one("NetworkPolicy", name)["spec"]
    return spec


def _ports(rule: dict[str, Any]) -> set[int | str]:
    return {p["port"] for p in rule.get("ports", [])}


def _env(rendered: Rendered, component: str) -> dict[str, str]:
    spec = rendered.one("Deployment", f"tf-taskfactory-{component}")["spec"]["template"]["spec"]
    return {e["name"]: e["value"] for e in spec["containers"][0].get("env", []) if "value" in e}


def _cidrs(rule: dict[str, Any]) -> set[str]:
    return {peer["ipBlock"]["cidr"] for peer in rule["to"] if "ipBlock" in peer}


def test_egress_is_denied_by_default_but_for_dns_kafka_temporal(render: Render) -> None:
    spec = _policy(render(), "tf-taskfactory")
    assert "Egress" in spec["policyTypes"]
    rules = spec["egress"]
    assert {} not in rules, "a rule allowing every destination"
    assert [_ports(r) for r in rules] == [{53}, {9092}, {7233}]
    # No OTLP rule without an endpoint; the ingress gets no task-host policy.
    assert render().names("NetworkPolicy") == [
        "tf-taskfactory",
        "tf-taskfactory-executor-tasks",
        "tf-taskfactory-orchestrator-tasks",
    ]


def test_ports_follow_the_addresses_the_services_use(render: Render, tmp_path: Path) -> None:
    rules = _policy(render(values=EXECUTOR_EGRESS, tmp=tmp_path), "tf-taskfactory")["egress"]
    assert [_ports(r) for r in rules] == [{53}, {9093, 9094}, {7234}, {4318}]


def test_task_hosts_policy_and_env_come_from_the_same_allow_list(
    render: Render, tmp_path: Path
) -> None:
    rendered = render(values=EXECUTOR_EGRESS, tmp=tmp_path)
    env = _env(rendered, "executor")
    settings = ExecutorSettings.model_validate({}).model_copy()
    egress = type(settings.egress).model_validate(
        {
            k.removeprefix("TASKFACTORY_EGRESS__").lower(): v
            for k, v in env.items()
            if k.startswith("TASKFACTORY_EGRESS__")
        }
    )
    # What the executor enforces …
    assert egress.allowed_hosts == ("api.example.com", "203.0.113.0/24")
    assert [str(n) for n in egress.allowed_networks] == ["10.20.0.0/16"]
    assert egress.redirects == "same-origin"
    assert egress.max_redirects == 3
    # … is what the network lets through: the CIDRs, and for the named host every public
    # address (a NetworkPolicy cannot match names), never the private ranges.
    [rule] = _policy(rendered, "tf-taskfactory-executor-tasks")["egress"]
    assert _ports(rule) == {443, 8443}
    cidrs = _cidrs(rule)
    assert {"203.0.113.0/24", "10.20.0.0/16", "0.0.0.0/0", "::/0"} <= cidrs
    public = next(p["ipBlock"] for p in rule["to"] if p["ipBlock"]["cidr"] == "0.0.0.0/0")
    refused = [ipaddress.ip_network(c) for c in public["except"]]
    for address in ("10.1.2.3", "169.254.169.254", "127.0.0.1", "192.168.1.1", "172.16.0.1"):
        assert any(ipaddress.ip_address(address) in net for net in refused), address

    # Only CIDRs: the orchestrator's pods reach exactly that address, nothing public.
    [only] = _policy(rendered, "tf-taskfactory-orchestrator-tasks")["egress"]
    assert _cidrs(only) == {"198.51.100.7/32"}
    orchestrator_env = _env(rendered, "orchestrator")
    assert orchestrator_env["TASKFACTORY_EGRESS__ALLOWED_HOSTS"] == "198.51.100.7/32"
    assert OrchestratorSettings.model_fields["egress"] is not None


def test_the_egress_settings_stay_out_of_the_shared_configmap_and_the_ingress(
    render: Render, tmp_path: Path
) -> None:
    rendered = render(values=EXECUTOR_EGRESS, tmp=tmp_path)
    config = rendered.one("ConfigMap", "tf-taskfactory-config")["data"]
    assert not [k for k in config if k.startswith("TASKFACTORY_EGRESS__")]
    assert not [k for k in _env(rendered, "ingress") if k.startswith("TASKFACTORY_EGRESS__")]


@pytest.mark.parametrize("bad", ["ftp", "gopher"])
def test_a_scheme_the_executor_refuses_is_refused_by_the_chart(run_template: Any, bad: str) -> None:
    out: subprocess.CompletedProcess[str] = run_template(
        sets={"components.executor.egress.allowedSchemes[0]": bad}
    )
    assert out.returncode != 0
    assert "allowedSchemes" in out.stderr


def test_the_chart_readme_documents_the_egress_values() -> None:
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    for key in ("componentDefaults.egress.allowedHosts", "networkPolicy.kafka.to"):
        assert key in readme, key
