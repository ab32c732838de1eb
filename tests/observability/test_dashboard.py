"""The Grafana dashboard: loads as a dashboard, and every query reads catalogued metrics."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.timeout(1800)

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "observability" / "grafana-dashboard.json"
Promtool = Callable[..., "subprocess.CompletedProcess[str]"]
# What the issue asks the dashboard to show, by a metric family that shows it.
REQUIRED = {
    "ingest rate": "taskfactory_ingress_consumed_total",
    "lag per partition": "taskfactory_ingress_consumer_lag",
    "in-flight": "taskfactory_ingress_in_flight",
    "start latency": "taskfactory_ingress_start_latency_seconds",
    "duplicates": "taskfactory_ingress_duplicates_total",
    "DLQ rate": "taskfactory_ingress_dead_lettered_total",
    "run outcomes": "temporal_workflow_failed_total",
    "task durations by type": "taskfactory_executor_task_duration_seconds",
    "schedule last-run age": "taskfactory_schedule_last_action_age_seconds",
}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return doc


def _queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and templating query."""
    out = [
        (f"panel {panel['title']!r}", target["expr"])
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = re.fullmatch(r"label_values\((.+),\s*\w+\)", variable["query"]["query"])
            assert query, f"variable {variable['name']}: only label_values(metric, label) expected"
            out.append((f"variable {variable['name']!r}", query.group(1)))
    return out


def test_the_dashboard_has_grafanas_dashboard_shape(dashboard: dict[str, Any]) -> None:
    assert dashboard["title"]
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", dashboard["uid"])
    assert isinstance(dashboard["schemaVersion"], int)
    assert dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        where = panel["title"]
        assert panel["type"] in ("timeseries", "stat", "gauge", "table", "bargauge"), where
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) for k in ("x", "y", "w", "h")), where
        assert grid["x"] >= 0, where
        assert grid["x"] + grid["w"] <= 24, where
        assert grid["h"] > 0, where
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not mine & cells, f"{where} overlaps another panel"
        cells |= mine
        assert panel["targets"], where
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), where
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], where
            assert target["expr"].strip(), where


def test_every_query_names_only_catalogued_metrics(
    dashboard: dict[str, Any],
    promql_metric_names: Callable[[str], set[str]],
    family: Callable[[str], str],
    catalogue: dict[str, str],
) -> None:
    for where, expr in _queries(dashboard):
        names = promql_metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        unknown = {n for n in names if family(n) not in catalogue}
        assert not unknown, f"{where} names metrics not in docs/metrics.md: {unknown}"


def test_the_dashboard_shows_what_the_issue_asks_for(
    dashboard: dict[str, Any],
    promql_metric_names: Callable[[str], set[str]],
    family: Callable[[str], str],
) -> None:
    shown = {family(n) for _, expr in _queries(dashboard) for n in promql_metric_names(expr)}
    missing = {what: metric for what, metric in REQUIRED.items() if metric not in shown}
    assert not missing, f"the dashboard lacks {missing}"
    durations = [expr for _, expr in _queries(dashboard) if "task_duration_seconds_bucket" in expr]
    assert any(re.search(r"by \(type, le\)", expr) for expr in durations), "durations by type"


def test_every_query_is_valid_promql(
    dashboard: dict[str, Any], promtool: Promtool, tmp_path: Path
) -> None:
    # promtool parses each query as a recording rule, Grafana's variables filled in.
    rules = [
        {
            "record": f"dashboard:query_{i}",
            "expr": expr.replace("$__rate_interval", "5m").replace("$namespace", ".*"),
        }
        for i, (_, expr) in enumerate(_queries(dashboard))
    ]
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = promtool("check", "rules", path)
    assert out.returncode == 0, out.stdout + out.stderr
