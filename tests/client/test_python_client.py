"""The Python module through the real path: libtailgate.so -> a shared-memory segment -> the real
agent -> OTLP/gRPC -> the real tailgate-sink. Run by ctest (tests/CMakeLists.txt) with the paths
of the built binaries in the environment."""

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import pytest

import tailgate
from agent_stack import Stack  # tests/support: the real agent and sink in a temp dir


@pytest.fixture(scope="module")
def stack():
    with tempfile.TemporaryDirectory(prefix="tailgate-py-") as tmp:
        s = Stack(tmp)
        yield s
        s.close()


@pytest.fixture(scope="module")
def tracer(stack):
    t = tailgate.Tracer("signal-bot", service_version="2.1.0", directory=stack.ring,
                        resource={"deployment.environment": "test",
                                  "vault.token": "s.resource-secret"})
    assert t.error == ""
    yield t
    t.close()


def by_name(spans):
    return {s["name"]: s for s in spans}


def test_the_span_is_the_implementation_asked_for(tracer):
    # ctest runs this file twice: with tailgate._native (built beside libtailgate.so) and with
    # TAILGATE_PYTHON_NATIVE=0. A native module that fails to load must fail here, not pass
    # silently on the slower path.
    wanted = os.environ.get("TAILGATE_PYTHON_NATIVE", "1") != "0"
    assert tracer.native is wanted
    with tracer.span("which") as s:
        assert (type(s).__module__ == "tailgate") and (type(s).__name__ ==
                                                       ("NativeSpan" if wanted else "Span"))


def test_context_manager_span_with_attributes_and_events(stack, tracer):
    with tracer.span("signal_generation", symbol="BTCUSDT", strength=0.83, votes=3,
                     live=True) as s:
        s.set_attribute("signal.side", "buy")
        s.add_event("model.scored", model="momentum", score=0.9)
    [span] = stack.spans("signal_generation")
    assert span["attributes"] == {"symbol": "BTCUSDT", "strength": 0.83, "votes": 3, "live": True,
                                  "signal.side": "buy"} | {k: v for k, v in span["attributes"].items()
                                                             if k.startswith("sampling.")}
    assert span["events"][0]["name"] == "model.scored"
    assert span["events"][0]["attributes"] == {"model": "momentum", "score": 0.9}
    assert span["resource"]["service.name"] == "signal-bot"
    assert span["resource"]["service.version"] == "2.1.0"
    assert span["resource"]["deployment.environment"] == "test"
    assert span["resource"]["telemetry.sdk.language"] == "python"
    assert span["parent_span_id"] == ""
    assert 0 < span["end_unix_ns"] - span["start_unix_ns"] < 5_000_000_000


def test_nested_spans_are_parent_and_child(stack, tracer):
    with tracer.span("order.flow") as root:
        with tracer.span("risk.check") as child:
            assert tailgate.current_span() is child
        assert tailgate.current_span() is root
    assert tailgate.current_span() is tailgate.INVALID_SPAN
    spans = by_name(stack.spans("order.flow") + stack.spans("risk.check"))
    assert spans["risk.check"]["trace_id"] == spans["order.flow"]["trace_id"]
    assert spans["risk.check"]["parent_span_id"] == spans["order.flow"]["span_id"]


def test_an_escaping_exception_is_recorded_with_its_stack_trace(stack, tracer):
    with pytest.raises(ValueError):
        with tracer.span("order.place"):
            raise ValueError("price out of band")
    [span] = stack.spans("order.place")
    assert span["status"]["code"] == 2
    assert "price out of band" in span["status"]["message"]
    [event] = span["events"]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "ValueError"
    assert event["attributes"]["exception.message"] == "price out of band"
    assert "Traceback" in event["attributes"]["exception.stacktrace"]
    assert "test_an_escaping_exception" in event["attributes"]["exception.stacktrace"]


def test_asyncio_tasks_keep_their_parent(stack, tracer):
    async def leg(name):
        with tracer.span(name):
            await asyncio.sleep(0.01)

    async def main():
        with tracer.span("async.root"):
            await asyncio.gather(leg("async.leg.a"), leg("async.leg.b"))

    asyncio.run(main())
    spans = by_name(stack.spans("async.root") + stack.spans("async.leg.a") +
                    stack.spans("async.leg.b"))
    root = spans["async.root"]
    for leg_name in ("async.leg.a", "async.leg.b"):
        assert spans[leg_name]["parent_span_id"] == root["span_id"]
        assert spans[leg_name]["trace_id"] == root["trace_id"]


def test_inject_and_extract_cross_a_process_boundary(stack, tracer):
    headers = {}
    with tracer.span("gateway.call", kind=tailgate.SpanKind.CLIENT):
        tracer.inject(headers)
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", headers["traceparent"])
    incoming = tailgate.Tracer.extract({"TraceParent": headers["traceparent"]})
    with tracer.span("orders.handle", parent=incoming, kind=tailgate.SpanKind.SERVER):
        pass
    spans = by_name(stack.spans("gateway.call") + stack.spans("orders.handle"))
    assert spans["orders.handle"]["parent_span_id"] == spans["gateway.call"]["span_id"]
    assert spans["orders.handle"]["kind"] == 2


def test_w3c_examples():
    c = tailgate.SpanContext.from_traceparent(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    assert c.trace_id_hex == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert c.span_id_hex == "00f067aa0ba902b7"
    assert c.traceparent() == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    for bad in ("00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
                "garbage"):
        assert tailgate.SpanContext.from_traceparent(bad) is None, bad
    assert tailgate.SpanContext.from_traceparent(
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future") is not None


def test_spans_ended_in_one_batch_call(stack, tracer):
    spans = [tracer.span("batch.item", seq=i) for i in range(20)]
    assert tracer.end_all(spans) == 20
    assert tracer.end_all(spans) == 0  # ended already
    arrived = stack.spans("batch.item", count=20)
    assert sorted(s["attributes"]["seq"] for s in arrived) == list(range(20))
    assert tracer.stats()["dropped"] == 0


# --- the decorator ------------------------------------------------------------------------------

def test_decorator_on_a_function_records_its_first_arguments(stack, tracer):
    @tracer.trace(name="signal-bot.risk.check", attributes={"risk.rule": "position"},
                  capture_args=2)
    def check(symbol, quantity, limit=10):
        assert tailgate.current_span().name == "signal-bot.risk.check"
        return quantity <= limit

    with tracer.span("signal-bot.order.flow"):
        assert check("BTCUSDT", 3, limit=5) is True
    assert check.__name__ == "check"  # functools.wraps
    spans = by_name(stack.spans("signal-bot.order.flow") + stack.spans("signal-bot.risk.check"))
    span, root = spans["signal-bot.risk.check"], spans["signal-bot.order.flow"]
    assert span["parent_span_id"] == root["span_id"] and span["trace_id"] == root["trace_id"]
    attrs = span["attributes"]
    assert attrs["arg.symbol"] == "BTCUSDT" and attrs["arg.quantity"] == 3
    assert "arg.limit" not in attrs  # the third argument is not captured
    assert attrs["risk.rule"] == "position"
    assert attrs["code.function"].endswith("check")
    assert attrs["code.namespace"] == __name__


def test_decorator_on_a_coroutine_keeps_the_parent_and_records_an_escaping_exception(stack,
                                                                                      tracer):
    @tracer.trace(capture_args=1)
    async def place_order(order, venue="binance"):
        await asyncio.sleep(0.001)
        if order["qty"] > 100:
            raise RuntimeError("order too large")
        return "filled"

    async def main():
        with tracer.span("async.decorated.root"):
            ok = await place_order({"qty": 1})
            with pytest.raises(RuntimeError):
                await place_order(order={"qty": 1000})
            return ok

    assert asyncio.run(main()) == "filled"
    name = f"{__name__}.{place_order.__qualname__}"  # module.qualname by default
    calls = stack.spans(name, count=2)
    [root] = stack.spans("async.decorated.root")
    assert len(calls) == 2
    assert all(c["parent_span_id"] == root["span_id"] for c in calls)
    by_status = {c["status"]["code"]: c for c in calls}
    assert by_status[0]["attributes"]["arg.order"] == "{'qty': 1}"
    failed = by_status[2]
    assert failed["attributes"]["arg.order"] == "{'qty': 1000}"  # passed by keyword
    [event] = failed["events"]
    assert event["attributes"]["exception.type"] == "RuntimeError"
    assert "place_order" in event["attributes"]["exception.stacktrace"]


def test_decorator_without_parentheses_on_a_method_leaves_self_out(stack, tracer):
    class Strategy:
        @tracer.trace
        def plain(self):
            return 1

        @tracer.trace("strategy.momentum.score", capture_args=5)
        def score(self, symbol, *rest, window=20, **extra):
            return 2

    assert Strategy().plain() == 1
    assert Strategy().score("ETHUSDT", 9, window=50, unused=True) == 2
    [plain] = stack.spans(f"{__name__}.{Strategy.plain.__qualname__}")
    assert plain["attributes"]["code.function"].endswith("Strategy.plain")
    [score] = stack.spans("strategy.momentum.score")
    args = {k: v for k, v in score["attributes"].items() if k.startswith("arg.")}
    assert args == {"arg.symbol": "ETHUSDT", "arg.window": 50}


def test_decorator_refuses_a_generator():
    with pytest.raises(TypeError, match="generator"):
        @tailgate.trace
        def ticks():
            yield 1
    with pytest.raises(ValueError):
        tailgate.trace(capture_args=-1)


# --- propagation ----------------------------------------------------------------------------

def test_inject_extract_round_trip_with_the_w3c_example_and_tracestate(stack, tracer):
    incoming = {"Traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "tracestate": "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"}
    parent = tailgate.extract_context(incoming)
    assert parent.trace_id_hex == "4bf92f3577b34da6a3ce929d0e0e4736"
    outgoing = {}
    with tracer.span("orders.gateway.forward", parent=parent, kind=tailgate.SpanKind.SERVER):
        assert tailgate.inject_context(outgoing) is outgoing
    assert outgoing["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert outgoing["traceparent"].endswith("-01")
    assert outgoing["traceparent"][36:52] != "00f067aa0ba902b7"  # our span is the new parent
    assert outgoing["tracestate"] == "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
    [span] = stack.spans("orders.gateway.forward")
    assert span["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span["parent_span_id"] == "00f067aa0ba902b7"
    assert span["span_id"] == outgoing["traceparent"][36:52]
    # The agent adds its sampling entry (ot=th:...) in front, as W3C has new entries go.
    assert span["trace_state"].endswith("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"), span
    # Frameworks that give header lists, and headers without a (valid) traceparent.
    assert tailgate.extract_context({"traceparent": [incoming["Traceparent"]]}) is not None
    assert tailgate.extract_context({"traceparent": "00-xyz"}) is None
    assert tailgate.extract_context({}) is None
    assert tailgate.inject_context({}) == {}  # no current span: nothing to pass on


# --- logs -----------------------------------------------------------------------------------

def test_the_log_filter_adds_trace_and_span_ids(tracer):
    import io
    import logging
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(tailgate.TraceContextFilter())
    handler.setFormatter(logging.Formatter("%(trace_id)s %(span_id)s %(message)s"))
    log = logging.getLogger("test.trading")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with tracer.span("logged.span") as s:
            log.info("inside")
        log.info("outside")
    finally:
        log.removeHandler(handler)
    inside, outside = out.getvalue().splitlines()
    assert inside == f"{s.context.trace_id_hex} {s.context.span_id_hex} inside"
    assert re.fullmatch(r"[0-9a-f]{32} [0-9a-f]{16} inside", inside)
    assert outside == "  outside"


def test_the_structlog_processor_adds_trace_and_span_ids(tracer):
    structlog = pytest.importorskip("structlog")  # Debian's python3-structlog: install-deps.sh
    import io
    out = io.StringIO()
    structlog.configure(processors=[tailgate.structlog_processor,
                                    structlog.processors.JSONRenderer(sort_keys=True)],
                        logger_factory=structlog.PrintLoggerFactory(out))
    try:
        log = structlog.get_logger()
        with tracer.span("structlog.span") as s:
            log.info("order.filled", symbol="BTCUSDT")
        log.info("idle")
    finally:
        structlog.reset_defaults()
    inside, outside = (json.loads(line) for line in out.getvalue().splitlines())
    assert inside == {"event": "order.filled", "symbol": "BTCUSDT",
                      "trace_id": s.context.trace_id_hex, "span_id": s.context.span_id_hex}
    assert outside == {"event": "idle"}


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


# --- what leaves the agent: redaction and limits (the agent's defaults) ---------------------

def test_secrets_never_reach_the_backend_and_long_values_are_cut(stack, tracer):
    with tracer.span("exchange.session.login", api_key="sk-live-4242", password="hunter2",
                     **{"user.id": 1234, "order.note": "é" * 1000, "order.symbol": "BTCUSDT"}) as s:
        s.add_event("auth.refreshed", {"auth.token": "sk-live-4242"})
    [span] = stack.spans("exchange.session.login")
    attrs = span["attributes"]
    raw = json.dumps(span)
    assert "sk-live-4242" not in raw and "hunter2" not in raw and "1234" not in raw
    assert "s.resource-secret" not in raw  # the resource's attributes leave the agent too
    assert re.fullmatch(r"hmac-sha256:[0-9a-f]{32}", span["resource"]["vault.token"])
    assert re.fullmatch(r"hmac-sha256:[0-9a-f]{32}", attrs["api_key"])
    assert re.fullmatch(r"hmac-sha256:[0-9a-f]{32}", attrs["password"])
    assert re.fullmatch(r"hmac-sha256:[0-9a-f]{32}", attrs["user.id"])
    # Same value, same hash: the event's token and the api_key are one secret.
    assert span["events"][0]["attributes"]["auth.token"] == attrs["api_key"]
    assert attrs["order.symbol"] == "BTCUSDT"
    note = attrs["order.note"]
    assert note.endswith("…") and len(note.encode()) <= 1024 and note[:-1] == "é" * len(note[:-1])


def test_each_limit_end_to_end(stack, tracer):
    with tracer.span("n" * 300, kind=tailgate.SpanKind.SERVER) as s:  # name past 256 bytes
        s.set_attributes({f"attr.{i}": i for i in range(140)})       # 12 past 128
        for i in range(130):                                          # 2 past 128
            s.add_event("tick", seq=i)
    [span] = stack.spans("n" * 253 + "…")
    assert len(span["attributes"]) <= 128 + 2  # sampling.policy/probability come after the cut
    assert span["dropped_attributes_count"] == 12
    assert len(span["events"]) == 128 and span["dropped_events_count"] == 2
    # A kept trace of 60 spans: the root and the first 49 children that arrived go
    # (limits.max_spans_per_trace: 50).
    with tracer.span("limits.big_trace"):
        for i in range(59):
            with tracer.span("limits.child", seq=i):
                pass
    children = stack.spans("limits.child", count=49)
    time.sleep(0.5)  # nothing more comes
    assert len(stack.spans("limits.big_trace")) == 1
    assert sorted(c["attributes"]["seq"] for c in stack.spans("limits.child")) == list(range(49))


# --- values, sizes and processes: the same from both implementations ----------------------------

def test_values_of_every_kind(stack, tracer):
    import enum

    class Side(enum.IntEnum):
        BUY = 1

    class Price(float):
        pass

    class Venue:
        def __str__(self):
            return "venue:XNAS"

    with tracer.span("values.kinds", kind=tailgate.SpanKind.PRODUCER) as s:
        s.set_attributes({"text": "BTCUSDT", "int": -7, "float": 0.25, "bool": False,
                          "enum": Side.BUY, "float_subclass": Price(1.5), "huge": 1 << 70,
                          "object": Venue(), "unicode": "€ и 東", "surrogate": "a\ud800b",
                          "empty": ""})
        s.set_attribute("order.id", 2**63 - 1).set_status_ok()
    [span] = stack.spans("values.kinds")
    a = span["attributes"]
    assert (a["text"], a["int"], a["float"], a["bool"]) == ("BTCUSDT", -7, 0.25, False)
    assert (a["enum"], a["float_subclass"], a["huge"]) == (1, 1.5, str(1 << 70))
    assert (a["object"], a["unicode"], a["surrogate"]) == ("venue:XNAS", "€ и 東", "a?b")
    assert a["empty"] == "" and a["order.id"] == 2**63 - 1
    assert span["status"]["code"] == 1 and span["kind"] == 4


def test_what_does_not_fit_a_record_is_left_out_and_counted_the_span_arrives(stack, tracer):
    before = tracer.stats()["dropped_items"]
    with tracer.span("too.big", first="kept") as s:
        s.set_attribute("blob", "x" * 70_000)  # past the 65,000-byte record
        s.set_attribute("last", "kept too")
    [span] = stack.spans("too.big")
    assert span["attributes"]["first"] == "kept" and span["attributes"]["last"] == "kept too"
    assert "blob" not in span["attributes"]
    assert span["dropped_attributes_count"] == 1  # said on the span itself, not only in stats
    assert tracer.stats()["dropped_items"] == before + 1


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


def test_span_takes_its_arguments_by_name_and_any_number_of_attributes(stack, tracer):
    many = {f"leg.{i}": i for i in range(40)}
    with tracer.span(name="call.forms", kind=tailgate.SpanKind.CLIENT, **many, parent=None):
        with tracer.span("call.forms.child", None, tailgate.SpanKind.SERVER, side="buy"):
            pass
    with pytest.raises(TypeError):
        tracer.span("call.forms.twice", None, parent=None)
    spans = by_name(stack.spans("call.forms") + stack.spans("call.forms.child"))
    parent, child = spans["call.forms"], spans["call.forms.child"]
    assert parent["kind"] == 3 and child["kind"] == 2
    assert {k: v for k, v in parent["attributes"].items() if k.startswith("leg.")} == many
    assert child["parent_span_id"] == parent["span_id"] and child["attributes"]["side"] == "buy"


def test_an_event_takes_a_mapping_and_keywords_and_at_most_255_attributes(stack, tracer):
    import types
    with tracer.span("events.forms") as s:
        s.add_event("merged", {"a": 1, "b": 2}, b=3, c="x")   # as dict(attributes, **more)
        s.add_event("proxy", types.MappingProxyType({"p": 1.5}))
        s.add_event("wide", {f"k{i}": i for i in range(300)})  # the wire format's 255
        s.add_event("bare")
    [span] = stack.spans("events.forms")
    merged, proxy, wide, bare = span["events"]
    assert merged["attributes"] == {"a": 1, "b": 3, "c": "x"}
    assert proxy["attributes"] == {"p": 1.5}
    assert wide["attributes"] == {f"k{i}": i for i in range(255)}
    assert bare["name"] == "bare" and bare["attributes"] == {}


def test_the_native_span_writes_the_same_record_as_the_pure_python_one(tracer):
    if not tracer.native:
        pytest.skip("one implementation in this run")
    parent = tailgate.SpanContext(bytes(range(1, 17)), bytes(range(20, 28)), 1, "desk=7",
                                  is_remote=True)
    attributes = {"order.symbol": "BTCUSDT", "order.qty": 5, "order.px": 43250.5,
                  "risk.passed": True, "note": "é" * 40, "huge": 1 << 70, "neg": -1}

    def record(span):
        span.set_attribute("late", "yes").set_status_error("rejected by venue")
        raw = bytearray(span._finish())
        # Not compared: the span id (payload 16..24) and the start and end times (32..48).
        raw[8 + 16:8 + 24] = bytes(8)
        raw[8 + 32:8 + 48] = bytes(16)
        return bytes(raw)

    native = record(tracer.span("compare.me", parent, tailgate.SpanKind.CLIENT, **attributes))
    pure = record(tailgate.Span(tracer, "compare.me", parent, tailgate.SpanKind.CLIENT,
                                attributes))
    assert native == pure


def test_an_exception_that_cannot_be_recorded_still_ends_the_span(stack, tracer):
    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError("no text for you")

    with pytest.raises(RuntimeError, match="no text for you"):
        with tracer.span("unprintable.outer"):
            raise Unprintable()
    assert tailgate.current_span() is tailgate.INVALID_SPAN  # no longer the current span
    [span] = stack.spans("unprintable.outer")
    assert span["name"] == "unprintable.outer"


def test_attributes_by_mapping_take_any_key(stack, tracer):
    # attributes= as OpenTelemetry takes them: dotted keys, and keys named as span()'s own
    # parameters, which as keywords would collide with them.
    with tracer.span("attrs.mapping", attributes={"order.id": 7, "name": "n", "kind": "k",
                                                  "parent": "p", "attributes": "a"},
                     more=1):
        pass
    [span] = stack.spans("attrs.mapping")
    attrs = {k: v for k, v in span["attributes"].items() if not k.startswith("sampling.")}
    assert attrs == {"order.id": 7, "name": "n", "kind": "k", "parent": "p", "attributes": "a",
                     "more": 1}


def test_record_exception_records_and_leaves_the_status(stack, tracer):
    with tracer.span("handled.exception") as s:
        try:
            raise KeyError("missing")
        except KeyError as e:
            s.record_exception(e)
    [span] = stack.spans("handled.exception")
    assert span["status"]["code"] == 0
    assert span["events"][0]["attributes"]["exception.type"] == "KeyError"


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
