#!/usr/bin/env bash
# Builds the real control plane used by the e2e tests (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl) from the Go module proxy and
# caches the binaries in a folder keyed by version. A second run is a no-op.
#
#   e2e/controlplane/build.sh [CACHE_DIR]
#
# CACHE_DIR defaults to $KUBEEDGE_E2E_CACHE or $HOME/.cache/kubeedge-e2e.
# The wrapper modules (k8s/ and etcd/ beside this script) pin the dependency
# graph; they are separate Go modules so that the project's go.mod never
# requires k8s.io/kubernetes.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache=${1:-${KUBEEDGE_E2E_CACHE:-$HOME/.cache/kubeedge-e2e}}/controlplane
export CGO_ENABLED=0 GOFLAGS=-mod=mod

build_k8s() {
  local dest=$cache/k8s-$K8S_VERSION
  if [ -x "$dest/bin/kubectl" ] && [ -x "$dest/bin/kube-apiserver" ]; then
    echo "control plane $K8S_VERSION: cached in $dest/bin"
    return
  fi
  echo "control plane $K8S_VERSION: building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (cold: ~12-15 min on 2 cores)"
  local minor ldf p
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  ldf="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ldf="$ldf -X $p.gitCommit=0000000000000000000000000000000000000000 -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  rm -rf "$dest/bin.tmp"; mkdir -p "$dest/bin.tmp"
  (cd "$here/k8s" && go build -trimpath -ldflags "$ldf" -o "$dest/bin.tmp/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  rm -rf "$dest/bin"; mv "$dest/bin.tmp" "$dest/bin"
  echo "control plane $K8S_VERSION: built into $dest/bin"
}

build_etcd() {
  local dest=$cache/etcd-$ETCD_VERSION
  if [ -x "$dest/bin/etcd" ]; then
    echo "etcd $ETCD_VERSION: cached in $dest/bin"
    return
  fi
  echo "etcd $ETCD_VERSION: building (cold: ~2 min)"
  rm -rf "$dest/bin.tmp"; mkdir -p "$dest/bin.tmp"
  (cd "$here/etcd" && go build -trimpath -ldflags '-s -w' -o "$dest/bin.tmp/etcd" .)
  rm -rf "$dest/bin"; mv "$dest/bin.tmp" "$dest/bin"
  echo "etcd $ETCD_VERSION: built into $dest/bin"
}

case "${2:-all}" in
  etcd) build_etcd ;;
  k8s) build_k8s ;;
  *) build_etcd; build_k8s ;;
esac
