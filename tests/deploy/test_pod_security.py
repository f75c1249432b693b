"""tools/check_pod_security.py: the shipped Kubernetes manifests pass the Pod Security Standard
"restricted", and each rule of it is caught when one container of the sidecar pod breaks it."""

import copy
import glob
import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import check_pod_security  # noqa: E402

MANIFESTS = sorted(glob.glob(os.path.join(ROOT, "deploy", "kubernetes", "*.yaml")))
SIDECAR = os.path.join(ROOT, "deploy", "kubernetes", "sidecar.yaml")


def sidecar_pod():
    with open(SIDECAR, encoding="utf-8") as f:
        return yaml.safe_load(f)["spec"]["template"]["spec"]


def named(pod, name):
    for field in check_pod_security.CONTAINER_LISTS:
        for c in pod.get(field) or []:
            if c["name"] == name:
                return c
    raise KeyError(name)


def rules(pod):
    return {rule for _, rule, _ in check_pod_security.check_pod(pod)}


def test_shipped_manifests_pass():
    assert MANIFESTS
    run = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "check_pod_security.py"),
                          *MANIFESTS], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_container_is_checked_including_the_native_sidecar():
    pod = sidecar_pod()
    assert named(pod, "tailgate").get("restartPolicy") == "Always"
    checked = {c["name"] for c in check_pod_security.containers(pod)}
    assert {"libtailgate", "tailgate", "trading-bot"} <= checked


def sc(pod, name):
    return named(pod, name).setdefault("securityContext", {})


# One break of each rule, in each kind of container: (rule, what it does to the pod).
BREAKS = {
    "seccomp unset": ("seccomp", lambda p: p["securityContext"].pop("seccompProfile")),
    "seccomp unconfined": ("seccomp", lambda p: sc(p, "tailgate").update(
        seccompProfile={"type": "Unconfined"})),
    "escalation unset": ("allow-privilege-escalation",
                         lambda p: sc(p, "trading-bot").pop("allowPrivilegeEscalation")),
    "escalation true": ("allow-privilege-escalation",
                        lambda p: sc(p, "tailgate").update(allowPrivilegeEscalation=True)),
    "capabilities kept": ("capabilities", lambda p: sc(p, "trading-bot").pop("capabilities")),
    "capability added": ("capabilities", lambda p: sc(p, "libtailgate")["capabilities"].update(
        add=["SYS_ADMIN"])),
    "root allowed": ("run-as-non-root", lambda p: p["securityContext"].pop("runAsNonRoot")),
    "root container": ("run-as-non-root", lambda p: sc(p, "tailgate").update(runAsUser=0)),
    "privileged": ("privileged", lambda p: sc(p, "libtailgate").update(privileged=True)),
    "host network": ("host-namespaces", lambda p: p.update(hostNetwork=True)),
    "host path": ("volume-types", lambda p: p["volumes"].append(
        {"name": "host", "hostPath": {"path": "/dev/shm"}})),
    "host port": ("host-ports", lambda p: named(p, "tailgate")["ports"][0].update(hostPort=14271)),
    "proc mount": ("proc-mount", lambda p: sc(p, "trading-bot").update(procMount="Unmasked")),
    "unsafe sysctl": ("sysctls", lambda p: p["securityContext"].update(
        sysctls=[{"name": "kernel.msgmax", "value": "65536"}])),
}


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_each_rule_is_caught(name):
    rule, mutate = BREAKS[name]
    pod = copy.deepcopy(sidecar_pod())
    assert rule not in rules(pod)
    mutate(pod)
    assert rule in rules(pod)
