#!/usr/bin/env bash
# Build Helm from its Go module into .stack/bin/ unless the pinned build is already there.
# Prints the path of the helm binary on stdout (progress goes to stderr).
#   HELM_VERSION   the Helm release (default below); HELM_KUBE_MINOR the Kubernetes minor its
#                  client-go implements (helm template's default cluster version), e.g. 35 for 1.35
#   HELM_BIN_DIR   where to install (default .stack/bin of the repository)
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.20.2}"
HELM_KUBE_MINOR="${HELM_KUBE_MINOR:-35}"   # v3.20.x is built on k8s.io/client-go v0.35
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin_dir="${HELM_BIN_DIR:-$repo_root/.stack/bin}"
helm_bin="$bin_dir/helm"
stamp="$bin_dir/helm.build"
want="$HELM_VERSION kube-1.$HELM_KUBE_MINOR"

if [[ -x "$helm_bin" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "$helm_bin"
    exit 0
fi

# A non-login shell (CI) may lack Go's folder on PATH; the Go distribution lives there.
[[ -x /usr/local/go/bin/go ]] && PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null 2>&1 || {
    echo "install-helm.sh: 'go' is not on PATH; Helm is built with 'go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION'" >&2
    exit 1
}

mkdir -p "$bin_dir"
echo "install-helm.sh: building helm $HELM_VERSION into $bin_dir (several minutes the first time)" >&2
# The same -X flags as Helm's own Makefile: the reported version, and the Kubernetes version
# that `helm template` and `helm lint` assume (otherwise v1.20).
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$HELM_KUBE_MINOR"
done
GOBIN="$bin_dir" GOFLAGS="${GOFLAGS:-} -mod=mod" go install -ldflags "$ldflags" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
echo "$want" >"$stamp"
echo "$helm_bin"
