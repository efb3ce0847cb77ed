#!/usr/bin/env bash
# Twin round-trip latency, end to end on this machine: a desired value set in
# the API server → DeviceController → CloudHub → EdgeHub → DeviceTwin → MQTT
# (built-in broker) → the sample mapper (a pod under containerd) → its report →
# DeviceTwin → outbox → DeviceController → Device status in the API server.
# Prints p50/p99 over TWIN_ROUNDS rounds (default 50). Needs `make deps build images`.
set -euo pipefail
cd "$(dirname "$0")/.."
export TWIN_ROUNDS="${TWIN_ROUNDS:-50}"
go test -tags e2e -count=1 -v -run 'TestDevices/built-in' -timeout 15m ./e2e/ | grep -E 'twin round trip|^(ok|FAIL|--- FAIL)'
