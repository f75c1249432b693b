#!/usr/bin/env bash
# Installs what tailgate needs from Debian 12's own packages, in three sets, each the one before
# plus its own:
#   build  building the agent, tailgate-sink, tailgate-load, libtailgate and the .deb
#          (the Docker image's build stage)
#   demo   build + redis-server (tools/demo.sh --fleet)              README's first command
#   all    demo + the test suite's tools, and the npm packages that tests/interop pins (default;
#          tools/test.sh, tools/bench.sh)
# Usage: tools/install-deps.sh [build|demo|all] [--list]   --list prints the set's packages.
# Idempotent: does nothing (and needs no network) when every package is already installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
set_name=${1:-all}
list_only=${2:-}

build_packages=(
  build-essential cmake pkg-config file  # file: CPack's dpkg-shlibdeps step looks at each binary
  libboost-dev libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  libspdlog-dev libyaml-cpp-dev nlohmann-json3-dev libsystemd-dev libssl-dev
  libcli11-dev  # the command lines (tailgate, tailgate-sink, tailgate-load)
  libthrift-dev thrift-compiler zlib1g-dev  # the Jaeger receivers; gzip bodies for OTLP/HTTP
  libhiredis-dev  # peers: keep decisions shared through Redis
  python3 python3-dev  # tools/demo.py; tailgate._native, the Python client's span in C++
)
demo_packages=(
  redis-server  # tools/demo.sh --fleet: three agents sharing keeps
)
test_packages=(
  git catch2 libbenchmark-dev python3-pytest python3-structlog python3-venv
  clang-14 libclang-rt-14-dev  # fuzz/: libFuzzer
  prometheus  # promtool: tests check /metrics with it
  openssl     # tests make TLS certificates
  systemd adduser  # the package test: systemd-analyze, and the postinst that adds the user
  lintian     # the package test: the .deb passes lintian
  redis-tools  # peers tests
  python3-yaml  # tools/check_pod_security.py: the Kubernetes manifests against Pod Security
  ruby-jaeger-client  # tests/interop: a real Jaeger client (Thrift compact)
  chromium  # tests/integration/lookup_test: the status page in a real headless browser
  valgrind  # bench/count_instructions.sh: instructions per span (callgrind)
)

case "$set_name" in
  build) packages=("${build_packages[@]}") ;;
  demo) packages=("${build_packages[@]}" "${demo_packages[@]}") ;;
  all)
    packages=("${build_packages[@]}" "${demo_packages[@]}" "${test_packages[@]}")
    # tests/interop also runs Node.js clients (jaeger-client, OpenTelemetry's SDK and
    # exporters); machines that already have a Node.js of their own keep it.
    command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
    ;;
  *) echo "usage: tools/install-deps.sh [build|demo|all] [--list]" >&2; exit 2 ;;
esac
if [ "$list_only" = --list ]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

# The npm packages of tests/interop, exactly as package-lock.json pins them, whenever the lock
# file is newer than what was installed. The test set only.
install_npm() {
  [ "$set_name" = all ] || return 0
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
echo "install-deps ($set_name): installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
install_npm
