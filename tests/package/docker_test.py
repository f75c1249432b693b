#!/usr/bin/env python3
"""Checks deploy/docker/Dockerfile without Docker (no daemon, no registry here): the build
context leaves out build trees and .git (.dockerignore), every COPY source is in the context,
the build stage installs tools/install-deps.sh's build set and that set holds no test tools, and
the image's default config is valid and listens on 0.0.0.0 on the ports it EXPOSEs.
Usage: docker_test.py SOURCE_DIR TAILGATE_BINARY"""
import fnmatch
import os
import re
import subprocess
import sys

src, agent = sys.argv[1], sys.argv[2]
failures = []


def check(ok, message):
    if not ok:
        failures.append(message)


def ignore_patterns():
    path = os.path.join(src, ".dockerignore")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [line.strip().lstrip("/") for line in f
                if line.strip() and not line.startswith("#")]


def matches(pattern, path):
    """Docker's rule for the patterns used here: ** matches any number of folders (none too)."""
    if pattern.startswith("**/"):
        parts = path.split("/")
        return any(fnmatch.fnmatchcase("/".join(parts[i:]), pattern[3:]) for i in range(len(parts)))
    return fnmatch.fnmatchcase(path, pattern)


def ignored(path, patterns):
    """A pattern that matches a path or one of its parent folders leaves it out."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(matches(p, prefix) for p in patterns for prefix in prefixes)


patterns = ignore_patterns()
check(patterns, ".dockerignore is missing or empty")
for path in ("build/CMakeCache.txt", "build-asan/agent/tailgate", ".git/HEAD",
             "client/python/build/lib/x.py", "tests/interop/node_modules/x/index.js",
             "client/python/tailgate/__pycache__/x.pyc"):
    check(ignored(path, patterns), f".dockerignore lets {path} into the build context")
for path in ("CMakeLists.txt", "agent/main.cpp", "tools/build.sh", "tools/install-deps.sh",
             "deploy/docker/tailgate.yaml", "client/python/tailgate/__init__.py"):
    check(not ignored(path, patterns), f".dockerignore leaves out {path}, which the build needs")

with open(os.path.join(src, "deploy/docker/Dockerfile"), encoding="utf-8") as f:
    dockerfile = f.read()
lines = re.sub(r"\\\n", " ", dockerfile).splitlines()
for line in lines:
    m = re.match(r"\s*COPY\s+(.*)", line)
    if not m or "--from=" in m.group(1):
        continue
    sources = m.group(1).split()[:-1]
    for source in sources:
        source = source.rstrip("/")
        if source == ".":
            continue
        check(os.path.exists(os.path.join(src, source)), f"COPY {source}: not in the repository")
        check(not ignored(source, patterns), f"COPY {source}: left out by .dockerignore")

# The build stage: the shared build set, nothing of the test toolchain.
build_stage = dockerfile.split("FROM debian:12-slim")[0]
check(re.search(r"RUN tools/install-deps\.sh build\b", build_stage),
      "the build stage does not run tools/install-deps.sh build")
check("npm" not in build_stage, "the build stage runs npm")
build_set = subprocess.run([os.path.join(src, "tools/install-deps.sh"), "build", "--list"],
                           check=True, capture_output=True, text=True).stdout.split()
for test_tool in ("clang", "prometheus", "ruby", "nodejs", "npm", "chromium", "catch2",
                  "lintian", "libbenchmark"):
    check(not any(p.startswith(test_tool) for p in build_set),
          f"tools/install-deps.sh build installs {test_tool}*")
check("TAILGATE_BUILD_TESTS=OFF" in build_stage, "the build stage configures the tests")

# The image's config: valid, and admin and UDP on 0.0.0.0 at the ports the image EXPOSEs.
config = os.path.join(src, "deploy/docker/tailgate.yaml")
check(re.search(r"COPY deploy/docker/tailgate\.yaml /etc/tailgate/tailgate\.yaml", dockerfile),
      "the image does not install deploy/docker/tailgate.yaml as its config")
# As a user runs it: with where kept traces go (the image sets no exporter endpoint).
result = subprocess.run([agent, "--validate", "--config", config], capture_output=True, text=True,
                        env=dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT="http://jaeger:4317"))
check(result.returncode == 0, f"deploy/docker/tailgate.yaml is not valid: {result.stderr}")
with open(config, encoding="utf-8") as f:
    text = f.read()
exposed = re.search(r"^EXPOSE (.*)$", dockerfile, re.M)
exposed = exposed.group(1).split() if exposed else []
for section, proto in (("admin", "tcp"), ("udp", "udp"), ("jaeger_compact", "udp"),
                       ("jaeger_binary", "udp"), ("jaeger_sampling", "tcp"), ("otlp_grpc", "tcp"),
                       ("otlp_http", "tcp")):
    m = re.search(section + r":\s*\n(?:\s*#.*\n)*\s*endpoint:\s*(\S+):(\d+)", text)
    check(m and m.group(1) == "0.0.0.0", f"the image's {section} endpoint is not on 0.0.0.0")
    if m:
        check(f"{m.group(2)}/{proto}" in exposed, f"{section}'s port {m.group(2)} not EXPOSEd")

for failure in failures:
    print("FAIL:", failure)
print("docker_test:", "ok" if not failures else f"{len(failures)} problems",
      "(the Dockerfile checked as text; no image built)")
sys.exit(1 if failures else 0)
