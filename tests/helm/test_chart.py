"""The Helm chart as an SRE meets it: lint, schema, security, secrets, probes, scaling, hooks."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from taskfactory_contracts import ActivityDefinition
from taskfactory_executor.settings import ExecutorSettings
from taskfactory_ingress.settings import IngressSettings
from taskfactory_orchestrator.settings import AdminSection, OrchestratorSettings
from taskfactory_runtime.settings import ENV_PREFIX, HttpSettings, ServiceSettings

# The first test to use the `helm` fixture may build Helm from source (minutes on 2 cores in a
# fresh clone); every render after that takes well under a second.
pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "taskfactory"
EXAMPLES = sorted((CHART / "examples").glob("*.yaml"))
# Kubernetes versions we claim (Chart.yaml kubeVersion >=1.29) and validate against.
KUBE_VERSIONS = ("1.29.0", "1.32.0", "1.35.0")
# Kinds of the Prometheus Operator: no schema in kubernetes-validate, checked structurally.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
SERVICE_SETTINGS: dict[str, type[ServiceSettings]] = {
    "ingress": IngressSettings,
    "orchestrator": OrchestratorSettings,
    "executor": ExecutorSettings,
}
SENTINEL = "S3NTINEL-secret-value-4711"
Render = Callable[..., Any]  # conftest.render -> Rendered
Rendered = Any
Template = Callable[..., "subprocess.CompletedProcess[str]"]


def _values_doc() -> Any:
    spec = importlib.util.spec_from_file_location(
        "values_doc", Path(__file__).with_name("values_doc.py")
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["values_doc"] = module
    spec.loader.exec_module(module)
    return module


def _env_names(settings: type[ServiceSettings]) -> set[str]:
    """Every TASKFACTORY_* variable a settings class reads (sections nested one level)."""
    names = set()
    for field, info in settings.model_fields.items():
        sub = getattr(info.annotation, "model_fields", None)
        if sub:
            names |= {f"{ENV_PREFIX}{field}__{f}".upper() for f in sub}
        else:
            names.add(f"{ENV_PREFIX}{field}".upper())
    return names


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def _config(rendered: Rendered) -> dict[str, str]:
    data: dict[str, str] = rendered.one("ConfigMap", "tf-taskfactory-config")["data"]
    return data


# ---- lint and validation ------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, *EXAMPLES], ids=lambda p: p.stem if p else "defaults")
def test_helm_lint_is_clean_in_strict_mode(helm: str, values: Path | None) -> None:
    args = [helm, "lint", "--strict", str(CHART), *(["-f", str(values)] if values else [])]
    out = subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[WARNING]" not in out.stdout, out.stdout
    assert "[ERROR]" not in out.stdout, out.stdout


@pytest.mark.parametrize("values", [None, *EXAMPLES], ids=lambda p: p.stem if p else "defaults")
def test_every_rendered_manifest_validates_against_supported_kubernetes(
    render: Render, values: Path | None
) -> None:
    rendered = render([values] if values else [])
    problems = []
    for doc in rendered.docs:
        if doc["kind"] in CRD_KINDS:
            assert doc["apiVersion"] == "monitoring.coreos.com/v1"
            assert doc["spec"], f"{doc['kind']} has an empty spec"
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                problems.append(f"{doc['kind']}/{doc['metadata']['name']} on {version}: {exc}")
    assert not problems, "\n".join(problems)


# ---- values.schema.json -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sets", "where", "why"),
    [
        ({"topics.partitions": "many"}, "/topics/partitions", "integer"),
        ({"drainSeconds": "-5"}, "/drainSeconds", "exclusiveMinimum: got -5, want 0"),
        ({"kafka.sasl.mechanism": "GSSAPI"}, "/kafka/sasl/mechanism", "'SCRAM-SHA-512'"),
        ({"components.ingress.service": "worker"}, "/components/ingress/service", "'executor'"),
        ({"logging.level": "verbose"}, "/logging/level", "'WARNING'"),
    ],
)
def test_schema_rejects_a_wrong_value_naming_the_field(
    run_template: Template, sets: dict[str, str], where: str, why: str
) -> None:
    out = run_template(sets=sets)
    assert out.returncode != 0, f"{sets} was accepted"
    assert "values don't meet the specifications of the schema" in out.stderr
    assert where in out.stderr, out.stderr
    assert why in out.stderr, out.stderr


def test_schema_rejects_an_unknown_key_naming_it(run_template: Template, tmp_path: Path) -> None:
    typo = {"kafka": {"bootstrapServer": "kafka:9092"}}  # missing the trailing s
    out = run_template(values=typo, tmp=tmp_path)
    assert out.returncode != 0
    assert "additional properties 'bootstrapServer' not allowed" in out.stderr, out.stderr


@pytest.mark.parametrize(
    "key",
    [
        "kafka.sasl.password",
        "kafka.sasl.username",
        "temporal.apiKey.value",
        "temporal.tls.clientKey",
        "admin.token",
        "admin.tokenSecret.token",
    ],
)
def test_a_secret_literal_in_values_is_refused_and_never_rendered(
    run_template: Template, key: str
) -> None:
    out = run_template(sets={key: SENTINEL})
    assert out.returncode != 0, f"{key} was accepted as a value"
    assert SENTINEL not in out.stdout


# ---- security ---------------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, *EXAMPLES], ids=lambda p: p.stem if p else "defaults")
def test_no_container_runs_as_root_or_with_a_writable_root_fs(
    render: Render, values: Path | None
) -> None:
    rendered = render([values] if values else [], sets={"schedulesSync.enabled": "true"})
    specs = rendered.pod_specs()
    assert {name for name, _ in specs} >= {
        "tf-taskfactory-ingress",
        "tf-taskfactory-orchestrator",
        "tf-taskfactory-executor",
        "tf-taskfactory-schedules-sync",
    }
    for name, spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] != 0, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        for c in _containers(spec):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, f"{name}/{c['name']}"
            assert sc["allowPrivilegeEscalation"] is False, f"{name}/{c['name']}"
            assert sc["runAsNonRoot"] is True
            assert sc.get("runAsUser", 1) != 0
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert "add" not in sc["capabilities"]
            writable = {m["mountPath"] for m in c["volumeMounts"] if not m.get("readOnly")}
            assert writable == {"/tmp"}, f"{name}: writable mounts {writable}"


def test_secrets_are_referenced_by_name_never_inlined(render: Render) -> None:
    rendered = render(
        [CHART / "examples" / "kafka-sasl-tls.yaml"],
        sets={"temporal.apiKey.existingSecret": "tc-key"},
    )
    assert "Secret" not in rendered.kinds(), "the chart must not create Secrets"
    for name, spec in rendered.pod_specs():
        env = _env(spec["containers"][0])
        user = env["TASKFACTORY_KAFKA__SASL_USERNAME"]
        assert "value" not in user, f"{name}: the SASL user name is inlined"
        assert user["valueFrom"]["secretKeyRef"] == {
            "name": "taskfactory-kafka-user",
            "key": "username",
        }
        # Passwords, keys and certificates are files of Secret volumes (re-read when the
        # Secret rotates); the variables hold only their paths.
        assert "TASKFACTORY_KAFKA__SASL_PASSWORD" not in env
        assert "TASKFACTORY_TEMPORAL__API_KEY" not in env
        files = {
            "TASKFACTORY_KAFKA__SASL_PASSWORD_FILE": "/etc/taskfactory/kafka-sasl/password",
            "TASKFACTORY_TEMPORAL__API_KEY_FILE": "/etc/taskfactory/temporal-api-key/api-key",
        }
        for var, path in files.items():
            assert env[var] == {"name": var, "value": path}, name
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["kafka-tls"]["secret"]["secretName"] == "taskfactory-kafka-tls"
        assert volumes["temporal-tls"]["secret"]["secretName"] == "taskfactory-temporal-mtls"
        assert volumes["kafka-sasl"]["secret"]["secretName"] == "taskfactory-kafka-user"
        assert volumes["temporal-api-key"]["secret"]["secretName"] == "tc-key"
        mounts = {m["name"]: m for m in spec["containers"][0]["volumeMounts"]}
        for volume in ("kafka-sasl", "temporal-api-key"):
            assert mounts[volume] == {
                "name": volume,
                "mountPath": f"/etc/taskfactory/{volume}",
                "readOnly": True,
            }
        assert (
            env["TASKFACTORY_KAFKA__SSL_KEYFILE"]["value"] == "/etc/taskfactory/kafka-tls/tls.key"
        )
        assert (
            env["TASKFACTORY_TEMPORAL__TLS_CLIENT_KEY"]["value"]
            == "/etc/taskfactory/temporal-tls/tls.key"
        )
    assert not any("PASSWORD" in k or "API_KEY" in k for k in _config(rendered))


def test_oauth_encryption_and_api_key_are_wired_from_secrets(render: Render) -> None:
    rendered = render([CHART / "examples" / "secure.yaml"])
    config = _config(rendered)
    assert config["TASKFACTORY_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["TASKFACTORY_KAFKA__SASL_MECHANISM"] == "OAUTHBEARER"
    assert config["TASKFACTORY_KAFKA__SASL_OAUTH_TOKEN_URL"].startswith("https://")
    assert config["TASKFACTORY_KAFKA__SASL_OAUTH_CLIENT_ID"] == "taskfactory"
    assert config["TASKFACTORY_TEMPORAL__ENCRYPTION_KEY_ID"] == "k1"
    for name, spec in rendered.pod_specs():
        env = _env(spec["containers"][0])
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert (
            env["TASKFACTORY_TEMPORAL__ENCRYPTION_KEYS_FILE"]["value"]
            == "/etc/taskfactory/temporal-encryption/keys"
        )
        assert volumes["temporal-encryption"]["secret"]["secretName"] == "taskfactory-payload-keys"
        if name == "tf-taskfactory-codec-server":
            continue  # it reads the keyring, never Kafka (tests/helm/test_codec_server.py)
        assert "TASKFACTORY_KAFKA__SASL_USERNAME" not in env, name
        assert (
            env["TASKFACTORY_KAFKA__SASL_OAUTH_CLIENT_SECRET_FILE"]["value"]
            == "/etc/taskfactory/kafka-oauth/client-secret"
        )
        assert volumes["kafka-oauth"]["secret"]["secretName"] == "taskfactory-kafka-oauth"


def test_a_projected_service_account_token_is_the_oauthbearer_token_file(render: Render) -> None:
    rendered = render(
        sets={
            "kafka.sasl.enabled": "true",
            "kafka.sasl.mechanism": "OAUTHBEARER",
            "kafka.sasl.oauth.projectedTokenAudience": "kafka.example.internal",
        }
    )
    path = _config(rendered)["TASKFACTORY_KAFKA__SASL_OAUTH_TOKEN_FILE"]
    for name, spec in rendered.pod_specs():
        volume = next(v for v in spec["volumes"] if v["name"] == "kafka-token")
        [source] = volume["projected"]["sources"]
        assert source["serviceAccountToken"]["audience"] == "kafka.example.internal", name
        mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "kafka-token")
        assert path == f"{mount['mountPath']}/{source['serviceAccountToken']['path']}"


def test_oauthbearer_without_a_token_source_fails_with_a_clear_message(
    run_template: Template,
) -> None:
    out = run_template(sets={"kafka.sasl.enabled": "true", "kafka.sasl.mechanism": "OAUTHBEARER"})
    assert out.returncode != 0
    assert "OAUTHBEARER needs kafka.sasl.oauth.tokenUrl" in out.stderr
    out = run_template(
        sets={
            "kafka.sasl.enabled": "true",
            "kafka.sasl.mechanism": "OAUTHBEARER",
            "kafka.sasl.oauth.tokenUrl": "https://idp.example/token",
            "kafka.sasl.oauth.clientId": "tf",
        }
    )
    assert out.returncode != 0
    assert "kafka.sasl.oauth.clientSecretSecret is required" in out.stderr


def test_sasl_without_a_secret_reference_fails_with_a_clear_message(run_template: Template) -> None:
    out = run_template(sets={"kafka.sasl.enabled": "true"})
    assert out.returncode != 0
    assert "kafka.sasl.existingSecret is required when kafka.sasl.enabled" in out.stderr


@pytest.mark.parametrize(
    ("sasl", "tls", "protocol"),
    [
        (False, False, "PLAINTEXT"),
        (False, True, "SSL"),
        (True, False, "SASL_PLAINTEXT"),
        (True, True, "SASL_SSL"),
    ],
)
def test_kafka_security_protocol_follows_sasl_and_tls(
    render: Render, sasl: bool, tls: bool, protocol: str
) -> None:
    sets = {"kafka.sasl.enabled": str(sasl).lower(), "kafka.tls.enabled": str(tls).lower()}
    if sasl:
        sets["kafka.sasl.existingSecret"] = "kafka-user"
    assert _config(render(sets=sets))["TASKFACTORY_KAFKA__SECURITY_PROTOCOL"] == protocol


def test_temporal_cloud_api_key_turns_tls_on(render: Render) -> None:
    config = _config(render([CHART / "examples" / "temporal-cloud.yaml"]))
    assert config["TASKFACTORY_TEMPORAL__TLS"] == "true"
    assert config["TASKFACTORY_TEMPORAL__ADDRESS"].endswith(".tmprl.cloud:7233")


# ---- what the services really read and serve ---------------------------------------------


def test_probes_hit_the_port_and_paths_the_services_serve(render: Render) -> None:
    rendered = render()
    port = _config(rendered)["TASKFACTORY_HTTP__PORT"]
    assert int(port) == HttpSettings().port, "chart default differs from the services' default"
    for name, spec in rendered.pod_specs():
        c = spec["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports["http"] == int(port), name
        for probe, path in (
            ("livenessProbe", "/livez"),
            ("readinessProbe", "/readyz"),
            ("startupProbe", "/livez"),
        ):
            assert c[probe]["httpGet"] == {"path": path, "port": "http"}, f"{name} {probe}"
    for svc in rendered.of_kind("Service"):
        assert svc["spec"]["ports"][0]["port"] == int(port)


def test_a_changed_http_port_moves_container_port_probes_and_setting_together(
    render: Render,
) -> None:
    rendered = render(sets={"http.port": "9100"})
    assert _config(rendered)["TASKFACTORY_HTTP__PORT"] == "9100"
    for _, spec in rendered.pod_specs():
        assert spec["containers"][0]["ports"][0]["containerPort"] == 9100


@pytest.mark.parametrize("values", [None, *EXAMPLES], ids=lambda p: p.stem if p else "defaults")
def test_every_rendered_variable_is_one_the_service_reads(
    render: Render, values: Path | None
) -> None:
    rendered = render([values] if values else [])
    shared = _env_names(ServiceSettings)
    assert set(_config(rendered)) <= shared, set(_config(rendered)) - shared
    for deployment in rendered.of_kind("Deployment"):
        service = deployment["metadata"]["labels"]["taskfactory.io/service"]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        if service == "codec-server":  # a sub-command of `taskfactory`, on the shared settings
            assert container["command"] == ["taskfactory", "codec-server"]
            unknown = set(_env(container)) - shared
            assert not unknown, f"the codec server does not read {unknown}"
            continue
        assert container["command"] == [f"taskfactory-{service}"]
        unknown = set(_env(container)) - _env_names(SERVICE_SETTINGS[service])
        assert not unknown, f"{service} does not read {unknown}"


def test_component_settings_render_as_exact_env_values(render: Render) -> None:
    rendered = render(
        sets={
            "components.ingress.settings.max_record_bytes": "1048576",
            "components.ingress.settings.search_attributes": "false",
        }
    )
    env = _env(
        rendered.one("Deployment", "tf-taskfactory-ingress")["spec"]["template"]["spec"][
            "containers"
        ][0]
    )
    assert env["TASKFACTORY_INGRESS__MAX_RECORD_BYTES"]["value"] == "1048576"
    assert env["TASKFACTORY_INGRESS__SEARCH_ATTRIBUTES"]["value"] == "false"
    parsed = IngressSettings.model_validate(
        {"ingress": {"max_record_bytes": "1048576", "search_attributes": "false"}}
    )
    assert parsed.ingress.max_record_bytes == 1_048_576
    assert parsed.ingress.search_attributes is False


def test_console_scripts_the_chart_runs_exist(render: Render) -> None:
    scripts: set[str] = set()
    for pyproject in [
        *ROOT.glob("services/*/pyproject.toml"),
        ROOT / "libs/runtime/pyproject.toml",
    ]:
        scripts |= set(tomllib.loads(pyproject.read_text())["project"].get("scripts", {}))
    rendered = render(sets={"schedulesSync.enabled": "true"})
    for name, spec in rendered.pod_specs():
        assert spec["containers"][0]["command"][0] in scripts, name


# ---- definitions -----------------------------------------------------------------------


def test_definitions_are_a_mounted_folder_of_valid_definitions(render: Render) -> None:
    rendered = render()
    files = rendered.one("ConfigMap", "tf-taskfactory-definitions")["data"]
    assert files, "no definitions rendered"
    for text in files.values():
        ActivityDefinition.model_validate(yaml.safe_load(text))
    mount_path = _config(rendered)["TASKFACTORY_DEFINITIONS_DIR"]
    for name, spec in rendered.pod_specs():
        (mount,) = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "definitions"]
        # No subPath: the kubelet refreshes a directory mount when the ConfigMap changes.
        assert mount["mountPath"] == mount_path, name
        assert "subPath" not in mount, name


def test_an_existing_definitions_configmap_is_mounted_not_created(render: Render) -> None:
    rendered = render(sets={"definitions.existingConfigMap": "team-definitions"})
    assert rendered.names("ConfigMap") == ["tf-taskfactory-config"]
    for _, spec in rendered.pod_specs():
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["definitions"]["configMap"]["name"] == "team-definitions"


def _checksums(rendered: Rendered) -> dict[str, str]:
    deployment = rendered.one("Deployment", "tf-taskfactory-executor")
    annotations: dict[str, str] = deployment["spec"]["template"]["metadata"]["annotations"]
    return annotations


def test_changed_settings_or_definitions_roll_the_pods(render: Render) -> None:
    base = _checksums(render())
    assert _checksums(render()) == base, "checksums must be stable for identical values"
    level = _checksums(render(sets={"logging.level": "DEBUG"}))
    assert level["checksum/config"] != base["checksum/config"]
    assert level["checksum/definitions"] == base["checksum/definitions"]
    defs = _checksums(render(sets={"definitions.files.extra\\.yaml": "id: x"}))
    assert defs["checksum/definitions"] != base["checksum/definitions"]
    assert defs["checksum/config"] == base["checksum/config"]


# ---- scaling, availability, shutdown ------------------------------------------------------


def test_ingress_autoscaling_is_capped_at_the_partition_count(render: Render) -> None:
    rendered = render(
        sets={
            "componentDefaults.autoscaling.enabled": "true",
            "componentDefaults.autoscaling.minReplicas": "8",
            "componentDefaults.autoscaling.maxReplicas": "40",
            "topics.partitions": "6",
        }
    )
    ingress = rendered.one("HorizontalPodAutoscaler", "tf-taskfactory-ingress")["spec"]
    assert ingress["maxReplicas"] == 6
    assert ingress["minReplicas"] <= 6
    executor = rendered.one("HorizontalPodAutoscaler", "tf-taskfactory-executor")["spec"]
    assert executor["maxReplicas"] == 40, "only the ingress is bound by partitions"
    for d in rendered.of_kind("Deployment"):
        assert "replicas" not in d["spec"], "the HPA owns replicas"


@pytest.mark.parametrize("drain", [20, 45.5, 1])
def test_termination_grace_outlasts_the_drain_deadline(
    render: Render, drain: float, tmp_path: Path
) -> None:
    rendered = render(values={"drainSeconds": drain}, tmp=tmp_path)
    assert float(_config(rendered)["TASKFACTORY_DRAIN_SECONDS"]) == drain
    for name, spec in rendered.pod_specs():
        assert spec["terminationGracePeriodSeconds"] > drain, name


@pytest.mark.parametrize(
    ("flag", "kind"),
    [
        ("schedulesSync.enabled", "Job"),
        ("metrics.serviceMonitor.enabled", "ServiceMonitor"),
        ("metrics.prometheusRule.enabled", "PrometheusRule"),
        ("componentDefaults.autoscaling.enabled", "HorizontalPodAutoscaler"),
    ],
)
def test_optional_objects_render_only_when_enabled(render: Render, flag: str, kind: str) -> None:
    assert kind not in render().kinds()
    assert kind in render(sets={flag: "true"}).kinds()


def test_pdb_per_component_by_default_and_none_when_disabled(render: Render) -> None:
    assert len(render().of_kind("PodDisruptionBudget")) == 3
    assert (
        render(sets={"componentDefaults.podDisruptionBudget.enabled": "false"}).of_kind(
            "PodDisruptionBudget"
        )
        == []
    )


def test_hook_job_syncs_schedules_after_install_and_upgrade(render: Render) -> None:
    job = render(sets={"schedulesSync.enabled": "true"}).one("Job", "tf-taskfactory-schedules-sync")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "post-install,post-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["taskfactory", "schedules", "sync"]
    assert container["envFrom"] == [{"configMapRef": {"name": "tf-taskfactory-config"}}]


def test_prometheus_rules_alert_on_metrics_the_ingress_exports(render: Render) -> None:
    from taskfactory_ingress import metrics

    exported = {m._name for m in vars(metrics).values() if hasattr(m, "_name")}
    rule = render(sets={"metrics.prometheusRule.enabled": "true"}).of_kind("PrometheusRule")[0]
    exprs = " ".join(r["expr"] for g in rule["spec"]["groups"] for r in g["rules"])
    used = {name for name in exported if name in exprs}
    assert {
        "taskfactory_ingress_paused",
        "taskfactory_ingress_dead_lettered",
        "taskfactory_ingress_start_latency_seconds",
    } <= used


def _alerts_file() -> list[dict[str, Any]]:
    doc = yaml.safe_load((CHART / "files" / "alerts.yaml").read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_prometheus_rule_renders_the_promtool_tested_rules_file_for_its_namespace(
    render: Render,
) -> None:
    rule = render(sets={"metrics.prometheusRule.enabled": "true"}).of_kind("PrometheusRule")[0]
    rendered = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    for source in _alerts_file():
        ours = rendered.pop(source["alert"])
        assert ours["expr"] == source["expr"].replace('namespace=~".*"', 'namespace="payments"')
        assert 'namespace="payments"' in ours["expr"]
        assert {k: v for k, v in ours.items() if k != "expr"} == {
            k: v for k, v in source.items() if k != "expr"
        }
    assert set(rendered) == {"TaskfactoryComponentDown"}


def test_prometheus_rule_values_tune_the_rules_of_the_file(render: Render, tmp_path: Path) -> None:
    tuned = {
        "ingressPausedFor": "10m",
        "deadLetterRateThreshold": 0.5,
        "startLatencyP99Seconds": 2,
        "additionalLabels": {"team": "payments"},
    }
    values = {"metrics": {"prometheusRule": {"enabled": True, **tuned}}}
    rule = render(values=values, tmp=tmp_path).of_kind("PrometheusRule")[0]
    rendered = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert rendered["TaskfactoryIngressPaused"]["for"] == "10m"
    assert rendered["TaskfactoryDeadLetters"]["expr"].endswith(") > 0.5")
    assert rendered["TaskfactoryStartLatencyHigh"]["expr"].endswith(")) > 2")
    assert all(r["labels"]["team"] == "payments" for r in rendered.values())


def test_grafana_dashboard_configmap_carries_the_dashboard_for_the_sidecar(
    render: Render,
) -> None:
    name = "tf-taskfactory-dashboard"
    assert name not in render().names("ConfigMap")
    config_map = render(sets={"metrics.grafanaDashboard.enabled": "true"}).one("ConfigMap", name)
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads(config_map["data"]["taskfactory.json"])
    assert shipped == json.loads((CHART / "files" / "grafana-dashboard.json").read_text())


# ---- the components map ---------------------------------------------------------------


def test_components_map_adds_and_removes_deployments(render: Render, tmp_path: Path) -> None:
    values = {
        "components": {
            "orchestrator": {"enabled": False},
            "executor-heavy": {"enabled": True, "service": "executor", "replicas": 1},
        }
    }
    rendered = render(values=values, tmp=tmp_path)
    assert rendered.names("Deployment") == [
        "tf-taskfactory-executor",
        "tf-taskfactory-executor-heavy",
        "tf-taskfactory-ingress",
    ]
    heavy = rendered.one("Deployment", "tf-taskfactory-executor-heavy")
    assert heavy["spec"]["replicas"] == 1
    assert heavy["spec"]["template"]["spec"]["containers"][0]["command"] == ["taskfactory-executor"]
    assert "tf-taskfactory-orchestrator" not in rendered.names("PodDisruptionBudget")


def test_a_component_override_of_false_beats_a_true_default(render: Render) -> None:
    rendered = render(
        sets={
            "componentDefaults.autoscaling.enabled": "true",
            "components.ingress.autoscaling.enabled": "false",
            "components.ingress.probes.startup.enabled": "false",
        }
    )
    assert "tf-taskfactory-ingress" not in rendered.names("HorizontalPodAutoscaler")
    ingress = rendered.one("Deployment", "tf-taskfactory-ingress")["spec"]["template"]["spec"]
    assert "startupProbe" not in ingress["containers"][0]


# ---- documentation ---------------------------------------------------------------------


def test_every_value_is_documented_and_the_readme_table_is_current() -> None:
    doc = _values_doc()
    text = (CHART / "values.yaml").read_text(encoding="utf-8")
    values = yaml.safe_load(text)
    documented = {d.path for d in doc.documented(text)}
    undocumented = [
        leaf
        for leaf in doc.leaves(values)
        if not any(leaf == d or leaf.startswith(f"{d}.") for d in documented)
    ]
    assert not undocumented, f"values without a '# --' comment: {undocumented}"
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    assert doc.table(text) in readme, "chart README table is stale: run `make helm-docs`"


def test_readme_covers_the_official_temporal_chart_and_temporal_cloud() -> None:
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    assert "temporalio/helm-charts" in readme or "official Temporal chart" in readme
    assert "Temporal Cloud" in readme
    assert "tmprl.cloud" in readme
    for example in EXAMPLES:
        assert f"examples/{example.name}" in readme, f"README does not mention {example.name}"


def test_ingress_rolls_without_a_surge_pod_that_could_not_get_a_partition(render: Render) -> None:
    rendered = render()
    ingress = rendered.one("Deployment", "tf-taskfactory-ingress")["spec"]["strategy"]
    assert ingress["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    executor = rendered.one("Deployment", "tf-taskfactory-executor")["spec"]["strategy"]
    assert executor["rollingUpdate"]["maxUnavailable"] == 0, "workers keep capacity while rolling"


def _notes(helm: str, tmp_path: Path, sets: dict[str, str]) -> str:
    """NOTES.txt as `helm install` would print it (helm template skips it)."""
    # Rendered through a ConfigMap in a copy of the chart.
    chart = tmp_path / "taskfactory"
    if not chart.exists():
        shutil.copytree(CHART, chart)
        (chart / "templates" / "NOTES.txt").rename(chart / "notes.tpl")
        (chart / "templates" / "notes-preview.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: |\n"
            '{{ tpl (.Files.Get "notes.tpl") . | indent 4 }}\n',
            encoding="utf-8",
        )
    args = [helm, "template", "tf", str(chart)]
    args += [arg for k, v in sets.items() for arg in ("--set", f"{k}={v}")]
    out = subprocess.run(
        [*args, "--show-only", "templates/notes-preview.yaml"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    notes: str = yaml.safe_load(out.stdout)["data"]["notes"]
    return notes


def test_notes_warn_when_the_ingress_would_outnumber_partitions(helm: str, tmp_path: Path) -> None:
    notes = _notes(helm, tmp_path, {"components.ingress.replicas": "8", "topics.partitions": "6"})
    assert "WARNING: ingress.replicas=8 exceeds topics.partitions=6" in notes
    assert "run `taskfactory schedules sync` yourself" in notes


# ---- the admin API ----------------------------------------------------------------------

ADMIN_ON = {"admin.enabled": "true", "admin.tokenSecret.existingSecret": "tf-admin"}
ADMIN_TOKEN_VARS = ("TASKFACTORY_ADMIN__ADMIN_TOKEN", "TASKFACTORY_ADMIN__READ_TOKEN")


def _port_names(ports: list[dict[str, Any]]) -> list[str]:
    return [p["name"] for p in ports]


def _assert_no_admin(rendered: Rendered, component: str) -> None:
    name = f"tf-taskfactory-{component}"
    spec = rendered.one("Deployment", name)["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert _port_names(container["ports"]) == ["http"], name
    assert not [v for v in _env(container) if v.startswith("TASKFACTORY_ADMIN__")], name
    assert not [v["name"] for v in spec["volumes"] if v["name"].startswith("admin")], name
    assert _port_names(rendered.one("Service", name)["spec"]["ports"]) == ["http"], name


def _admin_rules(rendered: Rendered) -> list[dict[str, Any]]:
    rules = rendered.one("NetworkPolicy", "tf-taskfactory")["spec"]["ingress"]
    return [r for r in rules if any(p["port"] == "admin" for p in r["ports"])]


def test_admin_api_is_off_by_default_and_nothing_exposes_it(render: Render) -> None:
    rendered = render()
    for component in ("ingress", "orchestrator", "executor"):
        _assert_no_admin(rendered, component)
    assert not [k for k in _config(rendered) if k.startswith("TASKFACTORY_ADMIN__")]
    assert _admin_rules(rendered) == []


def test_admin_api_is_served_by_the_orchestrator_only_with_its_token_as_a_file(
    render: Render, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered = render(sets=ADMIN_ON)
    spec = rendered.one("Deployment", "tf-taskfactory-orchestrator")["spec"]["template"]["spec"]
    container = spec["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8080, "admin": AdminSection().port}, "chart and service defaults"
    service = rendered.one("Service", "tf-taskfactory-orchestrator")["spec"]["ports"]
    assert {"name": "admin", "port": 8081, "targetPort": "admin", "protocol": "TCP"} in service
    for component in ("ingress", "executor"):
        _assert_no_admin(rendered, component)
    # The token is a file of the Secret volume, its path the only thing in the env.
    env = _env(container)
    mount = next(m for m in container["volumeMounts"] if m["name"] == "admin-token")
    assert mount["readOnly"] is True
    assert (
        env["TASKFACTORY_ADMIN__ADMIN_TOKEN_FILE"]["value"] == f"{mount['mountPath']}/admin-token"
    )
    volume = next(v for v in spec["volumes"] if v["name"] == "admin-token")
    assert volume["secret"] == {"secretName": "tf-admin", "defaultMode": 0o440}
    for name, pod in rendered.pod_specs():
        for c in _containers(pod):
            for var in c.get("env", []):
                assert var["name"] not in ADMIN_TOKEN_VARS, f"{name}: {var['name']} in the env"
                assert "tf-admin" not in json.dumps(var), f"{name}: {var['name']} reads the Secret"
    # The orchestrator reads these variables as the chart means them.
    for var in ADMIN_TOKEN_VARS:
        monkeypatch.delenv(var, raising=False)
    for var, entry in env.items():
        if var.startswith("TASKFACTORY_ADMIN__"):
            monkeypatch.setenv(var, entry["value"])
    admin = OrchestratorSettings().admin
    assert (admin.enabled, admin.host, admin.port) == (True, "0.0.0.0", 8081)
    assert admin.admin_token_file == Path(mount["mountPath"]) / "admin-token"
    assert admin.admin_token is None
    assert admin.read_token_file is None


def test_a_read_only_admin_api_needs_only_the_read_token_secret(render: Render) -> None:
    rendered = render(
        sets={"admin.enabled": "true", "admin.readTokenSecret.existingSecret": "tf-reader"}
    )
    spec = rendered.one("Deployment", "tf-taskfactory-orchestrator")["spec"]["template"]["spec"]
    env = _env(spec["containers"][0])
    assert env["TASKFACTORY_ADMIN__READ_TOKEN_FILE"]["value"] == (
        "/etc/taskfactory/admin-read-token/read-token"
    )
    assert "TASKFACTORY_ADMIN__ADMIN_TOKEN_FILE" not in env
    volumes = {v["name"]: v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
    assert volumes == {"admin-read-token": "tf-reader"}


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        ({"admin.enabled": "true"}, "admin.tokenSecret.existingSecret is required when admin"),
        ({**ADMIN_ON, "admin.port": "8080"}, "admin.port must differ from http.port"),
    ],
    ids=["no-token-secret", "port-taken"],
)
def test_admin_api_without_a_token_secret_or_own_port_fails_naming_the_value(
    run_template: Template, sets: dict[str, str], message: str
) -> None:
    out = run_template(sets=sets)
    assert out.returncode != 0, f"{sets} rendered"
    assert message in out.stderr, out.stderr


def test_network_policy_opens_the_admin_port_only_to_admin_allowed_from(
    render: Render, tmp_path: Path
) -> None:
    default_rules = render().one("NetworkPolicy", "tf-taskfactory")["spec"]["ingress"]
    closed = render(sets=ADMIN_ON).one("NetworkPolicy", "tf-taskfactory")["spec"]["ingress"]
    assert closed == default_rules, "without admin.allowedFrom no pod may reach the admin port"
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ops"}}}]
    admin = {"enabled": True, "tokenSecret": {"existingSecret": "tf-admin"}, "allowedFrom": peers}
    opened = render(values={"admin": admin}, tmp=tmp_path)
    assert _admin_rules(opened) == [
        {"ports": [{"port": "admin", "protocol": "TCP"}], "from": peers}
    ]
    rules = opened.one("NetworkPolicy", "tf-taskfactory")["spec"]["ingress"]
    assert [r for r in rules if r not in _admin_rules(opened)] == default_rules


def test_notes_say_how_to_reach_the_admin_api(helm: str, tmp_path: Path) -> None:
    assert "port-forward" not in _notes(helm, tmp_path, {})
    notes = _notes(helm, tmp_path, ADMIN_ON)
    assert "kubectl -n default port-forward svc/tf-taskfactory-orchestrator 8081:8081" in notes
    assert "get secret tf-admin -o jsonpath='{.data.admin-token}'" in notes
    assert "the NetworkPolicy admits no pod to it (admin.allowedFrom)" in notes
