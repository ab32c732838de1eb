"""The alert rules as an on-call SRE meets them: valid, firing on faults, silent when healthy."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

# The first test may build promtool from its Go module (minutes on 2 cores in a fresh clone).
pytestmark = pytest.mark.timeout(1800)

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "observability" / "alerts.yaml"
UNIT_TESTS = Path(__file__).with_name("alerts.test.yaml")
Promtool = Callable[..., "subprocess.CompletedProcess[str]"]
# What the issue asks the alerts to catch, by the alert that catches it.
REQUIRED = {
    "TaskfactoryConsumerLagGrowing",  # consumer lag growing
    "TaskfactoryDeadLetters",  # DLQ rate > 0
    "TaskfactoryIngressPaused",  # ingress paused
    "TaskfactoryScheduleMissed",  # schedule missed (last-run age)
    "TaskfactoryResultPublishFailing",  # result publish failures
}


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_promtool_check_rules_passes_on_the_alert_rules(promtool: Promtool) -> None:
    out = promtool("check", "rules", "--lint=all", "--lint-fatal", RULES)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in out.stdout


def test_the_rules_cover_what_an_sre_must_be_paged_for() -> None:
    alerts = {rule["alert"] for rule in _rules()}
    assert alerts >= REQUIRED
    for rule in _rules():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["description"], rule["alert"]


def test_each_alert_fires_on_its_fault_and_stays_silent_when_healthy(promtool: Promtool) -> None:
    out = promtool("test", "rules", UNIT_TESTS)
    assert out.returncode == 0, out.stdout + out.stderr
    # Every alert has a case where it fires and one where it stays silent.
    doc = yaml.safe_load(UNIT_TESTS.read_text(encoding="utf-8"))
    cases = [case for test in doc["tests"] for case in test["alert_rule_test"]]
    for alert in (rule["alert"] for rule in _rules()):
        mine = [case for case in cases if case["alertname"] == alert]
        assert any(case["exp_alerts"] for case in mine), f"{alert}: no case where it fires"
        assert any(not case["exp_alerts"] for case in mine), f"{alert}: no silent case"


def test_a_broken_unit_test_fails(promtool: Promtool, tmp_path: Path) -> None:
    # promtool really evaluates: expecting a healthy series to page makes the run fail.
    doc = yaml.safe_load(UNIT_TESTS.read_text(encoding="utf-8"))
    doc["rule_files"] = [str(RULES)]
    paused = doc["tests"][0]
    paused["alert_rule_test"][-1]["exp_alerts"][0]["exp_labels"]["instance"] = "ingress-b"
    broken = tmp_path / "broken.test.yaml"
    broken.write_text(yaml.safe_dump(doc), encoding="utf-8")
    out = promtool("test", "rules", broken)
    assert out.returncode != 0
    assert "TaskfactoryIngressPaused" in out.stdout + out.stderr


def test_every_metric_the_rules_name_is_in_the_catalogue(
    promql_metric_names: Callable[[str], set[str]],
    family: Callable[[str], str],
    catalogue: dict[str, str],
) -> None:
    for rule in _rules():
        names = promql_metric_names(rule["expr"])
        assert names, f"{rule['alert']}: no metric found in {rule['expr']!r}"
        unknown = {n for n in names if family(n) not in catalogue}
        assert not unknown, f"{rule['alert']} names metrics not in docs/metrics.md: {unknown}"
