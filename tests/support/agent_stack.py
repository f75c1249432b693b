"""The real tailgate-sink and agent for Python tests: on 127.0.0.1 with kernel-picked ports, the
agent reading producers' segments from a ring directory in a temp dir and keeping every trace.
The binaries come from the environment ctest sets (TAILGATE_SINK_BIN, TAILGATE_AGENT_BIN)."""

import json
import os
import re
import signal
import subprocess
import time

from demo import wait_for  # tools/demo.py: polls a log file for a pattern

DROP_INS = ("jaeger_compact", "jaeger_binary", "otlp_grpc", "otlp_http", "jaeger_sampling")


def drop_ins_on_free_ports(receivers=""):
    """The drop-in receivers are on by default at the clients' fixed ports (6831, 4317, ...);
    tests run side by side move those `receivers` does not set to ports the kernel picks."""
    return "".join(f"  {n}:\n    endpoint: 127.0.0.1:0\n" for n in DROP_INS
                   if f"  {n}:" not in receivers)


KEEP_ALL = ("sampling:\n  decision_wait: 100ms\n"
            "  policies: [{name: all, type: base, probability: 1.0}]\n"
            "limits:\n  max_spans_per_trace: 50\n")


class Stack:
    """tailgate-sink and the agent, on 127.0.0.1 with kernel-picked ports, in a temp dir."""

    def __init__(self, tmp, receivers="", config_text=None):
        """`receivers`: more YAML under receivers: (two-space indented), e.g. the drop-in ones.
        `config_text`: the whole config instead, the exporter endpoint then coming from
        OTEL_EXPORTER_OTLP_ENDPOINT (as a deployment of the shipped config sets it)."""
        self.tmp = tmp
        self.ring = os.path.join(tmp, "ring")
        self.jsonl = os.path.join(tmp, "spans.jsonl")
        self.sink = subprocess.Popen(
            [os.environ["TAILGATE_SINK_BIN"], "--listen", "127.0.0.1:0", "--jsonl", self.jsonl],
            stdout=open(os.path.join(tmp, "sink.out"), "w"),
            stderr=open(os.path.join(tmp, "sink.err"), "w"))
        m = wait_for(os.path.join(tmp, "sink.err"), r"on port (\d+)", 10)
        assert m, "tailgate-sink did not start"
        config = os.path.join(tmp, "tailgate.yaml")
        env = dict(os.environ)
        if config_text is not None:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{m.group(1)}"
        with open(config, "w") as f:
            f.write(config_text if config_text is not None else
                    "receivers:\n  udp:\n    enabled: false\n"
                    f"  ring:\n    directory: {self.ring}\n    scan_interval: 50ms\n"
                    + receivers + drop_ins_on_free_ports(receivers) +
                    "admin:\n  endpoint: 127.0.0.1:0\n"
                    f"exporter:\n  endpoint: 127.0.0.1:{m.group(1)}\n  max_batch_delay: 50ms\n"
                    + KEEP_ALL)
        # The default spool and state file in this test's directory, not ~/.local/state.
        env["STATE_DIRECTORY"] = os.path.join(tmp, "state")
        self.agent = subprocess.Popen([os.environ["TAILGATE_AGENT_BIN"], "--config", config],
                                      env=env, stdout=subprocess.DEVNULL,
                                      stderr=open(os.path.join(tmp, "agent.err"), "w"))
        if not wait_for(os.path.join(tmp, "agent.err"), r"event=agent_ready", 10):
            self.close()  # no sink or agent outlives a test that could not start them
            raise AssertionError("the agent did not start:\n" + self.log())

    def endpoint(self, receiver):
        """Where a receiver was bound (kernel-picked ports), from the agent's log."""
        m = re.search(rf"event=receiver_bound receiver={receiver} endpoint=(\S+)", self.log())
        assert m, f"{receiver} not bound:\n" + self.log()
        return m.group(1)

    def port(self, receiver):
        return int(self.endpoint(receiver).rsplit(":", 1)[1])

    def log(self):
        with open(os.path.join(self.tmp, "agent.err")) as f:
            return f.read()

    def spans(self, name=None, count=1, seconds=10):
        """Spans at the sink (those named `name`), waiting until there are `count`."""
        deadline = time.monotonic() + seconds
        while True:
            found = []
            if os.path.exists(self.jsonl):
                # One read, then whole lines only: iterating a file the sink is still
                # appending to can yield the tail of a half-written line as a line of its own.
                with open(self.jsonl, "rb") as f:  # bytes: the tail may end mid-character
                    text = f.read()
                for line in text.split(b"\n")[:-1]:  # the last piece is partial or empty
                    s = json.loads(line)
                    if name is None or s["name"] == name:
                        found.append(s)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def close(self):
        for p in (self.agent, self.sink):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def by_name(spans):
    """Spans (from Stack.spans) by their names."""
    return {s["name"]: s for s in spans}
