"""The Python client's spans through the real path: libtailgate.so -> a shared-memory segment ->
the real agent -> OTLP/gRPC -> the real tailgate-sink: attributes, events, nesting, exceptions,
asyncio, the decorator. Run by ctest with tailgate._native's span and with the pure-Python one."""

import asyncio
import os

import pytest

import tailgate
from agent_stack import by_name  # tests/support


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


def test_record_exception_records_and_leaves_the_status(stack, tracer):
    with tracer.span("handled.exception") as s:
        try:
            raise KeyError("missing")
        except KeyError as e:
            s.record_exception(e)
    [span] = stack.spans("handled.exception")
    assert span["status"]["code"] == 0
    assert span["events"][0]["attributes"]["exception.type"] == "KeyError"


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


def test_spans_ended_in_one_batch_call(stack, tracer):
    spans = [tracer.span("batch.item", seq=i) for i in range(20)]
    assert tracer.end_all(spans) == 20
    assert tracer.end_all(spans) == 0  # ended already
    arrived = stack.spans("batch.item", count=20)
    assert sorted(s["attributes"]["seq"] for s in arrived) == list(range(20))
    assert tracer.stats()["dropped"] == 0


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
