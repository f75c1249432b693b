#!/usr/bin/env bash
# Installs everything tailgate builds and tests with: Debian 12's own packages, and the npm packages
# that tests/interop pins.
# Idempotent: does nothing (and needs no network) when every package is already installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

packages=(
  build-essential cmake pkg-config git
  libboost-dev libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  libspdlog-dev libyaml-cpp-dev nlohmann-json3-dev libsystemd-dev libssl-dev
  libcli11-dev  # the command lines (tailgate, tailgate-sink, tailgate-load)
  catch2 libbenchmark-dev python3 python3-dev python3-pytest python3-structlog
  clang-14 libclang-rt-14-dev  # fuzz/: libFuzzer
  prometheus  # promtool: tests check /metrics with it
  openssl     # tests make TLS certificates
  systemd adduser  # the package test: systemd-analyze, and the postinst that adds the user
  libthrift-dev thrift-compiler zlib1g-dev  # the Jaeger receivers; gzip bodies for OTLP/HTTP
  libhiredis-dev redis-server redis-tools  # peers: keep decisions shared through Redis
  python3-yaml  # tools/check_pod_security.py: the Kubernetes manifests against Pod Security
  ruby-jaeger-client  # tests/interop: a real Jaeger client (Thrift compact)
  chromium  # tests/integration/lookup_test: the status page in a real headless browser
)
# tests/interop also runs Node.js clients (jaeger-client, OpenTelemetry's SDK and exporters);
# machines that already have a Node.js of their own keep it.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)

# The npm packages of tests/interop, exactly as package-lock.json pins them, whenever the lock
# file is newer than what was installed.
install_npm() {
  local dir="$root/tests/interop"
  if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
     [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "install-deps: npm ci in tests/interop"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  install_npm
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root (or install sudo): ${missing[*]}" >&2; exit 1; }
  as_root=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
install_npm
