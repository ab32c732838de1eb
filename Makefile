# taskfactory — `make help` lists every target. The README names two: `make run`, `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
RUN := $(UV) run --frozen
PYTEST_ARGS ?=
# `make stack-up PROFILE=cluster` (or TASKFACTORY_STACK_PROFILE=cluster): the stack-* targets act
# on the cluster profile (three brokers, PostgreSQL, a Temporal server) instead of the default.
PROFILE ?=
ifneq ($(PROFILE),)
export TASKFACTORY_STACK_PROFILE := $(PROFILE)
endif

.PHONY: help
help: ## list every target
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: install
install: ## install uv (if missing) and every Python package of the workspace
	@command -v $(UV) >/dev/null 2>&1 || { echo "installing uv from PyPI"; python3 -m pip install --quiet --user uv; }
	@$(UV) sync --all-packages --frozen --quiet --compile-bytecode
	@# Our own packages are editable installs: compile them too, so a process that may not write
	@# bytecode (PYTHONDONTWRITEBYTECODE) does not recompile every workflow module the Temporal
	@# sandbox re-imports for each run (measured: a quarter of the orchestrator's CPU).
	@$(RUN) python -m compileall -q libs/*/src services/*/src deploy/local/src >/dev/null

.PHONY: run
run: install ## bring up Kafka + Temporal, start the three services, send example events, show results
	@$(RUN) taskfactory-stack run

.PHONY: test
test: install ## the full suite: unit + integration + e2e against a real Kafka and Temporal
	@$(RUN) taskfactory-stack prepare
	@bash deploy/helm/install-helm.sh >/dev/null
	@bash deploy/local/install-chromium.sh >/dev/null
	@$(RUN) pytest $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: install ## unit tests only (no stack)
	@$(RUN) pytest -m "not integration and not e2e and not chaos" $(PYTEST_ARGS)

.PHONY: test-integration
test-integration: install ## integration + e2e tests against the real stack
	@$(RUN) pytest -m "integration or e2e" $(PYTEST_ARGS)

FUZZ_EXAMPLES ?= 10000
.PHONY: fuzz
fuzz: install ## longer hostile-input property run of the ingress's record handler (not part of make test)
	@TASKFACTORY_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(RUN) pytest -q -p no:cacheprovider --timeout 3600 \
		--hypothesis-show-statistics \
		services/ingress/tests/test_handler_property.py services/ingress/tests/test_partition.py $(PYTEST_ARGS)

# The shared stack's addresses must not leak in: the tests would use it instead of the cluster.
CLUSTER_ENV := env -u TASKFACTORY_KAFKA_BOOTSTRAP -u TASKFACTORY_TEMPORAL_ADDRESS -u TASKFACTORY_SCHEMA_REGISTRY_URL \
	-u TASKFACTORY_OTLP_ENDPOINT -u TASKFACTORY_JAEGER_UI -u TASKFACTORY_STACK \
	TASKFACTORY_STACK_PROFILE=cluster

.PHONY: test-cluster
test-cluster: install ## integration + e2e tests and the leader-broker kills on the cluster profile (3 brokers, Temporal on PostgreSQL)
	@$(CLUSTER_ENV) $(RUN) taskfactory-stack prepare
	@# test_stack.py checks the default profile's command on a private stack of its own.
	@$(CLUSTER_ENV) $(RUN) pytest -m "integration or e2e or chaos" tests/integration tests/e2e \
	  tests/chaos/test_cluster_chaos.py --deselect tests/integration/test_stack.py $(PYTEST_ARGS)

.PHONY: lint
lint: install ## ruff format check and lint
	@$(RUN) ruff format --check .
	@$(RUN) ruff check .

.PHONY: fmt
fmt: install ## ruff format and autofix
	@$(RUN) ruff format .
	@$(RUN) ruff check --fix .

.PHONY: typecheck
typecheck: install ## mypy --strict over every package, its tests, the cross-service tests and the benchmarks
	@$(RUN) mypy libs/*/src libs/*/tests services/*/src services/*/tests deploy/local/src deploy/local/tests bench tests

.PHONY: schemas-check
schemas-check: install ## every schema version is backward and forward compatible with the previous one (and the registry agrees, if TASKFACTORY_KAFKA__SCHEMA_REGISTRY_URL is set)
	@$(RUN) python -m taskfactory_runtime.schemas_check schemas/avro

.PHONY: check
check: lint typecheck schemas-check test-unit ## ruff, mypy --strict, schema compatibility, unit tests

.PHONY: stack-up
stack-up: install ## start the local Kafka (KRaft) and Temporal dev server
	@$(RUN) taskfactory-stack up

.PHONY: stack-down
stack-down: install ## stop what stack-up started
	@$(RUN) taskfactory-stack down

.PHONY: stack-status
stack-status: install ## show each stack component, address, pid and health
	@$(RUN) taskfactory-stack status

.PHONY: stack-logs
stack-logs: install ## the last lines of every stack component's log
	@$(RUN) taskfactory-stack logs

.PHONY: bench
bench: install ## every benchmark in one go on an emptied stack (never part of make test; ~50 min); tables in bench/README.md
	@$(RUN) taskfactory-stack down >/dev/null
	@$(RUN) taskfactory-stack reset >/dev/null
	@$(RUN) taskfactory-stack prepare >/dev/null
	@$(RUN) python bench/codec_bench.py
	@$(RUN) python bench/sandbox_bench.py
	@$(RUN) taskfactory-stack up >/dev/null
	@# The ingress bench last: the tens of thousands of runs it starts keep the stack's Temporal
	@# busy for minutes after it, which would slow whatever is measured next.
	@$(RUN) python bench/peers_bench.py
	@$(RUN) python bench/fastpath_bench.py --events 600
	@$(RUN) python bench/tracing_bench.py
	@$(RUN) python bench/ingress_bench.py
	@$(RUN) python bench/summary.py

.PHONY: bench-peers
bench-peers: install ## taskfactory vs DBOS vs Restate on the same Kafka (installs and starts the peers itself)
	@$(RUN) taskfactory-stack up >/dev/null
	@$(RUN) python bench/peers_bench.py

CHAOS_ARGS ?=
CHAOS_ROUNDS ?= executor-sigkill=10,orchestrator-restart=10

.PHONY: chaos
chaos: install ## every fault (kills, outages, restarts) on a PRIVATE Kafka + Temporal; table in bench/README.md
	@$(RUN) python bench/chaos.py --rounds=$(CHAOS_ROUNDS) $(CHAOS_ARGS)
	@$(RUN) python bench/summary.py >/dev/null

.PHONY: chaos-cluster
chaos-cluster: install ## the faults only a cluster has (leader broker SIGKILL) on the cluster profile; table in bench/README.md
	@$(CLUSTER_ENV) $(RUN) taskfactory-stack prepare >/dev/null
	@$(CLUSTER_ENV) $(RUN) python bench/chaos.py --cluster $(CHAOS_ARGS)

SCALE_ARGS ?=

.PHONY: bench-scale
bench-scale: install ## the scale curve (1/4/16 history shards × 1/2/4 replicas) on the cluster profile; stop the default stack first; table in bench/README.md
	@$(CLUSTER_ENV) $(RUN) taskfactory-stack prepare >/dev/null
	@$(CLUSTER_ENV) $(RUN) python bench/scale_bench.py $(SCALE_ARGS)

.PHONY: soak
soak: install ## 30-minute steady stream through all three services, RSS sampled (SOAK_ARGS="--minutes 30 --rate 3")
	@$(RUN) taskfactory-stack up >/dev/null
	@cd bench && $(RUN) python soak.py $(SOAK_ARGS)
	@$(RUN) python bench/summary.py >/dev/null

.PHONY: docs
docs: install ## regenerate the README's configuration table from the settings classes
	@$(RUN) python -c "from pathlib import Path; from taskfactory_runtime.docs import settings_table, update_readme; from taskfactory_ingress.settings import IngressSettings as I; from taskfactory_orchestrator.settings import OrchestratorSettings as O; from taskfactory_executor.settings import ExecutorSettings as E; print('README updated' if update_readme(Path('README.md'), settings_table(I, O, E)) else 'README up to date')"

# ---- Helm chart and image (deploy/helm/taskfactory, Dockerfile) ----------------------------
HELM_KUBE_VERSIONS ?= 1.29.0 1.32.0 1.35.0

.PHONY: helm-lint
helm-lint: install ## helm lint + template (defaults, examples/*) + kubernetes-validate; Helm is built with go install
	@set -euo pipefail; helm=$$(bash deploy/helm/install-helm.sh); chart=deploy/helm/taskfactory; \
	out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; \
	for values in "" $$chart/examples/*.yaml; do \
	  name=$$(basename "$${values:-defaults.yaml}" .yaml); \
	  "$$helm" lint --strict --quiet $$chart $${values:+-f "$$values"}; \
	  "$$helm" template tf $$chart --namespace taskfactory $${values:+-f "$$values"} >"$$out/$$name.yaml"; \
	  for k in $(HELM_KUBE_VERSIONS); do \
	    $(RUN) kubernetes-validate --strict --quiet --no-warn -k "$$k" "$$out/$$name.yaml"; \
	  done; \
	  echo "helm-lint: $$name renders and validates on Kubernetes $(HELM_KUBE_VERSIONS)"; \
	done
	@$(RUN) hadolint Dockerfile && echo "helm-lint: Dockerfile passes hadolint"

.PHONY: helm-docs
helm-docs: install ## regenerate the chart README's values table from the values.yaml comments
	@$(RUN) python tests/helm/values_doc.py

.PHONY: helm-test
helm-test: install ## the chart and Dockerfile tests (tests/helm)
	@$(RUN) pytest tests/helm $(PYTEST_ARGS)

# ---- Container image (Dockerfile, deploy/image) ---------------------------------------------
# PYTHON_IMAGE: a registry's Debian-based CPython 3.11 image (e.g. python:3.11-slim-bookworm);
# empty = a bookworm base made locally (debootstrap + docker import), for machines without one.
PYTHON_IMAGE ?=
IMAGE ?=

.PHONY: image
image: ## build the taskfactory image (Docker engine, base image and layers cached in /var/cache/taskfactory/image)
	@PYTHON_IMAGE="$(PYTHON_IMAGE)" IMAGE="$(IMAGE)" bash deploy/image/build.sh

.PHONY: image-smoke
image-smoke: install ## build the image, run its three services as the chart does (read-only, uid 10001) against the local stack: one event, one result
	@PYTHON_IMAGE="$(PYTHON_IMAGE)" IMAGE="$(IMAGE)" UV="$(UV)" bash deploy/image/smoke.sh $(PYTEST_ARGS)
