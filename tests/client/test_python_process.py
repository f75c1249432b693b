"""The Python client and its process through the real path (libtailgate.so -> segment -> the real
agent -> the real sink): init_tracing from the environment, fork, a tracer closed under a span,
whether an agent reads the ring. Run by ctest with tailgate._native's span and the pure-Python one."""

import json
import os
import subprocess
import sys
import tempfile
import time


# --- init_tracing, in a process of its own (one tracer per process) ----------------------------

INIT_SCRIPT = r"""
import json, logging, sys, tailgate

@tailgate.trace(name="worker.job.run", capture_args=1)   # decorated before init_tracing
def job(symbol):
    logging.getLogger("worker").warning("running")
    return tailgate.inject_context({})

untraced = job("BEFORE")                                  # no tracer yet: runs untraced
tracer = tailgate.init_tracing()
logging.basicConfig(format="%(trace_id)s|%(span_id)s|%(message)s", stream=sys.stderr)
assert tailgate.init_tracing("other") is tracer           # once per process
incoming = tailgate.extract_context(
    {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
with tracer.span("worker.request.handle", parent=incoming):
    headers = job("SOLUSDT")
logging.getLogger("worker").warning("idle")
print(json.dumps({"enabled": tracer.enabled, "type": type(tracer).__name__, "error": tracer.error,
                  "untraced": untraced, "headers": headers, "stats": tracer.stats()}))
"""


def run_init_script(stack, **env):
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("OTEL_", "SERVICE_", "TRACING_", "TAILGATE_RING"))}
    environment.update(env)
    done = subprocess.run(["/usr/bin/python3", "-c", INIT_SCRIPT], env=environment,
                          capture_output=True, text=True, timeout=60)
    return done


def test_init_tracing_reads_the_usual_variables(stack):
    done = run_init_script(stack, OTEL_SERVICE_NAME="risk-worker", SERVICE_VERSION="3.2.1",
                           OTEL_RESOURCE_ATTRIBUTES="deployment.environment=staging,team=risk%20desk",
                           TAILGATE_RING_DIRECTORY=stack.ring)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["enabled"] and result["error"] == ""
    assert result["untraced"] == {}
    [handle] = stack.spans("worker.request.handle")
    job = [s for s in stack.spans("worker.job.run") if s["attributes"]["arg.symbol"] == "SOLUSDT"]
    assert len(job) == 1 and len(stack.spans("worker.job.run")) == 1  # BEFORE was not traced
    [job] = job
    assert handle["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert job["parent_span_id"] == handle["span_id"]
    assert result["headers"]["traceparent"][36:52] == job["span_id"]
    resource = handle["resource"]
    assert resource["service.name"] == "risk-worker"
    assert resource["service.version"] == "3.2.1"
    assert resource["deployment.environment"] == "staging" and resource["team"] == "risk desk"
    # init_tracing turned on log correlation: the log line inside the job names its span.
    lines = done.stderr.splitlines()
    assert f"{job['trace_id']}|{job['span_id']}|running" in lines
    assert "||idle" in lines  # outside any span


def test_init_tracing_switched_off_records_nothing_but_passes_context_on(stack):
    done = run_init_script(stack, OTEL_SERVICE_NAME="quiet-worker", TRACING_ENABLED="false",
                           TAILGATE_RING_DIRECTORY=stack.ring)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["type"] == "DisabledTracer" and not result["enabled"]
    # The incoming context goes on to the next service unchanged (no span of ours in between).
    assert result["headers"]["traceparent"] == (
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    time.sleep(0.5)
    assert not [s for s in stack.spans("worker.job.run", count=2, seconds=0.5)
                if s["resource"]["service.name"] == "quiet-worker"]

    done = run_init_script(stack, TRACING_ENABLED="maybe")
    assert done.returncode != 0 and "TRACING_ENABLED='maybe'" in done.stderr
    done = run_init_script(stack, OTEL_SDK_DISABLED="true", TAILGATE_RING_DIRECTORY=stack.ring)
    assert json.loads(done.stdout)["type"] == "DisabledTracer"


def test_init_tracing_without_the_library_warns_and_runs_untraced(stack):
    done = run_init_script(stack, TAILGATE_LIBRARY="/nonexistent/libtailgate.so",
                           LD_LIBRARY_PATH="/nonexistent", TAILGATE_RING_DIRECTORY=stack.ring)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["type"] == "DisabledTracer"
    assert "tracing is off" in done.stderr


# --- the tracer and its process ----------------------------------------------------------------

def test_a_forked_child_makes_ids_of_its_own(tracer):
    with tracer.span("before.fork"):
        pass
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next trace id, then out without running pytest's teardown
        try:
            with tracer.span("in.child") as s:
                os.write(write, s.context.trace_id + s.context.span_id)
        finally:
            os._exit(0)
    os.close(write)
    child = os.read(read, 24)
    os.close(read)
    os.waitpid(pid, 0)
    with tracer.span("in.parent") as s:
        parent = s.context.trace_id + s.context.span_id
    assert len(child) == 24 and child[:16] != parent[:16] and child[16:] != parent[16:]


def test_a_span_ended_after_the_tracer_closed_is_dropped_not_a_crash(stack):
    code = """
import sys, tailgate
t = tailgate.Tracer("closing", directory=sys.argv[1])
s = t.span("late")
t.close()
print(s.end())
assert t.stats()["attached"] is False  # and stats() still answers
"""
    done = subprocess.run([sys.executable, "-c", code, stack.ring], capture_output=True,
                          text=True, timeout=30, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_the_resource_process_pid_is_an_int(stack, tracer):
    with tracer.span("resource.pid"):
        pass
    [span] = stack.spans("resource.pid")
    assert span["resource"]["process.pid"] == os.getpid()


def test_stats_say_whether_an_agent_reads_the_ring_directory(stack, tracer):
    # The stack's agent beats in its ring directory every second; a directory no agent reads
    # says "no agent", in stats() and once on stderr.
    now = tracer.stats()
    assert now["agent"] is True
    assert 0 <= now["agent_heartbeat_age_s"] < 5
    code = """
import sys, tailgate
t = tailgate.Tracer("lonely", directory=sys.argv[1])
s = t.stats(); t.stats()
print(s["agent"], s["agent_heartbeat_age_s"])
"""
    with tempfile.TemporaryDirectory(prefix="tailgate-py-lonely-") as tmp:
        done = subprocess.run([sys.executable, "-c", code, os.path.join(tmp, "ring")],
                              capture_output=True, text=True, timeout=30, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False None"
    assert done.stderr.count("no agent reads the ring directory") == 1
