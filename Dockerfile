# One image for the three services: taskfactory-ingress, taskfactory-orchestrator and
# taskfactory-executor are console scripts on PATH; the chart picks one per Deployment with
# `command`. No HEALTHCHECK: Kubernetes probes /livez and /readyz (see deploy/helm/taskfactory).
#
#   make image          builds taskfactory:<appVersion> (deploy/image/build.sh); with no
#                       registry, on a base image made locally (deploy/image/base-image.sh)
#   make image-smoke    runs the three services from it against the local stack
#   docker build -t taskfactory:0.1.0 --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
#   docker run --rm taskfactory:0.1.0 taskfactory --help
#
# PYTHON_IMAGE must be a Debian-based CPython 3.11 image (the venv built in the first stage
# is copied into the second, so both stages must share the same interpreter path): the
# registry's python:3.11-slim-bookworm (/usr/local/bin/python3.11) or Debian bookworm's own
# python3 (/usr/bin/python3.11). No `# syntax=` line: it makes BuildKit fetch a frontend
# image from a registry; this file builds with BuildKit's built-in frontend or the classic
# builder alike.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: resolve uv.lock into a self-contained virtualenv at /opt/taskfactory ----------
FROM ${PYTHON_IMAGE} AS build

ARG UV_VERSION=0.13.9
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/taskfactory \
    UV_SYSTEM_CERTS=1

# uv comes from PyPI, so the build needs no registry besides the base image's. It trusts the
# base image's CA store (UV_SYSTEM_CERTS), so a CA added there for a TLS-inspecting proxy works.
RUN python3 -m venv /opt/uv \
 && /opt/uv/bin/pip install "uv==${UV_VERSION}"

WORKDIR /src

# Third-party dependencies first: this layer is reused until uv.lock or a pyproject changes.
COPY pyproject.toml uv.lock ./
COPY libs/contracts/pyproject.toml libs/contracts/pyproject.toml
COPY libs/runtime/pyproject.toml libs/runtime/pyproject.toml
COPY services/ingress/pyproject.toml services/ingress/pyproject.toml
COPY services/orchestrator/pyproject.toml services/orchestrator/pyproject.toml
COPY services/executor/pyproject.toml services/executor/pyproject.toml
COPY deploy/local/pyproject.toml deploy/local/pyproject.toml
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-install-workspace \
        --package taskfactory-ingress \
        --package taskfactory-orchestrator \
        --package taskfactory-executor

# Then our own packages, installed as wheels (not editable), so /src is not needed at run time.
COPY schemas/ schemas/
COPY libs/ libs/
COPY services/ services/
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-editable \
        --package taskfactory-ingress \
        --package taskfactory-orchestrator \
        --package taskfactory-executor \
 && /opt/taskfactory/bin/taskfactory --help >/dev/null

# ---- runtime: the interpreter, the virtualenv and the example definitions; nothing else ----
FROM ${PYTHON_IMAGE} AS runtime

# A fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --system --gid 10001 taskfactory \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin taskfactory

COPY --from=build /opt/taskfactory /opt/taskfactory
COPY examples/definitions/ /app/examples/definitions/

# Bytecode was compiled at build time; the root filesystem is read-only in Kubernetes.
ENV PATH=/opt/taskfactory/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TASKFACTORY_DEFINITIONS_DIR=/app/examples/definitions

WORKDIR /app
USER 10001:10001
EXPOSE 8080
CMD ["taskfactory-ingress"]

# Last: a commit that changes no packaged file (REVISION only) reuses every layer above.
ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="taskfactory" \
      org.opencontainers.image.description="Kafka events to Temporal workflows to Kafka results: ingress, orchestrator and executor in one image" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
