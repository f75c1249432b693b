#!/usr/bin/env python3
"""Checks Kubernetes manifests against the Pod Security Standard "restricted" (v1.25+), the
profile a namespace labelled pod-security.kubernetes.io/enforce=restricted admits.

    tools/check_pod_security.py deploy/kubernetes/*.yaml

Prints one line per violation (file, workload, container, rule) and exits 1 if there is any.
Every pod template is checked: Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod;
every container, init container (native sidecars included) and ephemeral container.
Needs only PyYAML (Debian: python3-yaml)."""

import sys

import yaml

# Volume types the restricted profile allows (everything else, hostPath first, is refused).
ALLOWED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                   "persistentVolumeClaim", "projected", "secret"}
# Sysctls the baseline profile (and so restricted) lets a pod set.
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}
SECCOMP_OK = {"RuntimeDefault", "Localhost"}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def pod_specs(doc):
    """(name, pod spec) of every pod template in one manifest document."""
    if not isinstance(doc, dict):
        return
    kind, name = doc.get("kind"), (doc.get("metadata") or {}).get("name", "?")
    spec = doc.get("spec") or {}
    if kind == "Pod":
        yield f"{kind}/{name}", spec
    elif kind == "CronJob":
        yield f"{kind}/{name}", spec["jobTemplate"]["spec"]["template"]["spec"]
    elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        yield f"{kind}/{name}", spec["template"]["spec"]
    elif kind == "List":
        for item in doc.get("items") or []:
            yield from pod_specs(item)


def containers(pod):
    for field in CONTAINER_LISTS:
        for c in pod.get(field) or []:
            yield c


def check_pod(pod):
    """Violations of one pod spec, as (container or '-', rule, detail)."""
    out = []
    psc = pod.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            out.append(("-", "host-namespaces", f"{field}: true"))
    for v in pod.get("volumes") or []:
        kinds = set(v) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            out.append(("-", "volume-types", f"volume {v.get('name')}: {sorted(kinds)}"))
    for s in psc.get("sysctls") or []:
        if s.get("name") not in SAFE_SYSCTLS:
            out.append(("-", "sysctls", s.get("name")))
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in SECCOMP_OK:
        out.append(("-", "seccomp", f"pod seccompProfile {pod_seccomp}"))
    if psc.get("runAsUser") == 0:
        out.append(("-", "run-as-non-root", "pod runAsUser: 0"))
    for c in containers(pod):
        out += [(c.get("name", "?"), rule, why) for rule, why in check_container(c, psc)]
    return out


def check_container(c, psc):
    csc = c.get("securityContext") or {}
    if csc.get("privileged"):
        yield "privileged", "privileged: true"
    if csc.get("allowPrivilegeEscalation") is not False:
        yield "allow-privilege-escalation", "allowPrivilegeEscalation must be false"
    caps = csc.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []):
        yield "capabilities", "capabilities.drop must include ALL"
    extra = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
    if extra:
        yield "capabilities", f"capabilities.add {sorted(extra)}"
    non_root = csc.get("runAsNonRoot", psc.get("runAsNonRoot"))
    if non_root is not True:
        yield "run-as-non-root", "runAsNonRoot: true on the pod or the container"
    if csc.get("runAsUser") == 0:
        yield "run-as-non-root", "runAsUser: 0"
    seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    if seccomp not in SECCOMP_OK:
        yield "seccomp", f"seccompProfile.type {seccomp} (RuntimeDefault or Localhost)"
    if csc.get("procMount", "Default") != "Default":
        yield "proc-mount", f"procMount {csc['procMount']}"
    for p in c.get("ports") or []:
        if p.get("hostPort"):
            yield "host-ports", f"hostPort {p['hostPort']}"


def check_file(path):
    found = []
    with open(path, encoding="utf-8") as f:
        for doc in yaml.safe_load_all(f):
            for workload, pod in pod_specs(doc):
                found += [(path, workload, c, rule, why) for c, rule, why in check_pod(pod)]
    return found


def main(paths):
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    found = [v for p in paths for v in check_file(p)]
    for path, workload, container, rule, why in found:
        print(f"{path}: {workload} container {container}: {rule}: {why}")
    print(f"pod security (restricted): {len(found)} violation(s) in {len(paths)} file(s)",
          file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
