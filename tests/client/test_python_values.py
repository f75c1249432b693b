"""The Python client's attribute values through the real path (libtailgate.so -> segment -> the
real agent -> OTLP/gRPC -> the real sink): every kind of value, arrays as OTLP arrays, what
leaves the agent (redaction, limits) and what does not fit a record. Run by ctest with
tailgate._native's span and with the pure-Python one, which must write the same bytes."""

import json
import re
import time

import pytest

import tailgate


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


def test_lists_of_one_type_arrive_as_otlp_arrays_and_others_as_text(stack, tracer):
    import enum

    class Venue(enum.IntEnum):
        XNAS = 7

    peer = tailgate.SpanContext(bytes(range(1, 17)), bytes(range(20, 28)), 1)
    with tracer.span("values.arrays", attributes={
            "order.venues": ["binance", "okx", "€ и 東"], "order.qtys": (5, -2, 2**63 - 1),
            "order.prices": [43250.5, 0.25], "risk.checks": [True, False],
            "venue.codes": [Venue.XNAS, 3], "surrogates": ["a\ud800b"], "empty": []}) as s:
        s.set_attribute("mixed", [1, "a", 2.5])     # not one type: text, as before arrays
        s.set_attribute("int_and_bool", [1, True])  # bool is not an int here, as in OpenTelemetry
        s.set_attribute("nested", [[1, 2], [3]])
        s.set_attribute("with_none", ["a", None])
        s.set_attribute("past_int64", [1, 1 << 70])
        s.add_event("fills", {"fill.qtys": [5, 7], "fill.venues": ("okx",)})
        s.add_link(peer, {"link.ids": [1, 2]})
    [span] = stack.spans("values.arrays")
    a = span["attributes"]
    assert a["order.venues"] == ["binance", "okx", "€ и 東"]
    assert a["order.qtys"] == [5, -2, 2**63 - 1] and all(type(q) is int for q in a["order.qtys"])
    assert a["order.prices"] == [43250.5, 0.25]
    assert all(type(p) is float for p in a["order.prices"])
    assert a["risk.checks"] == [True, False] and a["venue.codes"] == [7, 3]
    assert a["surrogates"] == ["a?b"] and a["empty"] == []
    assert a["mixed"] == '[1,"a",2.5]' and a["int_and_bool"] == "[1,true]"
    assert a["nested"] == "[[1,2],[3]]" and a["with_none"] == '["a",null]'
    assert a["past_int64"] == f"[1,{1 << 70}]"
    [event] = span["events"]
    assert event["attributes"] == {"fill.qtys": [5, 7], "fill.venues": ["okx"]}
    [link] = span["links"]
    assert link["attributes"] == {"link.ids": [1, 2]}


def test_array_elements_are_redacted_and_cut_one_by_one(stack, tracer):
    with tracer.span("values.arrays.scrubbed", attributes={
            "api_key": ["sk-live-1", "sk-live-2"], "password": [1234, 5678],
            "db.urls": ["postgres://u:SECRET@h/db", "redis://h:6379"],
            "order.notes": ["é" * 1000, "short"]}):
        pass
    [span] = stack.spans("values.arrays.scrubbed")
    a = span["attributes"]
    assert "sk-live" not in json.dumps(span) and "SECRET" not in json.dumps(span)
    for secret in ("api_key", "password"):
        assert len(a[secret]) == 2 and a[secret][0] != a[secret][1]
        assert all(re.fullmatch(r"hmac-sha256:[0-9a-f]{32}", h) for h in a[secret])
    assert a["db.urls"] == ["postgres://u:REDACTED@h/db", "redis://h:6379"]
    long_note, short = a["order.notes"]
    assert long_note.endswith("…") and len(long_note.encode()) <= 1024 and short == "short"


def test_the_native_span_writes_the_same_record_as_the_pure_python_one(tracer):
    if not tracer.native:
        pytest.skip("one implementation in this run")
    parent = tailgate.SpanContext(bytes(range(1, 17)), bytes(range(20, 28)), 1, "desk=7",
                                  is_remote=True)
    attributes = {"order.symbol": "BTCUSDT", "order.qty": 5, "order.px": 43250.5,
                  "risk.passed": True, "note": "é" * 40, "huge": 1 << 70, "neg": -1,
                  "venues": ["okx", "é" * 3], "qtys": (1, -2), "pxs": [0.5], "checks": [True],
                  "empty": [], "mixed": [1, "a", None], "surrogate": ["a\ud800"]}

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


def leaf_values(node):
    if isinstance(node, dict):
        return [v for child in node.values() for v in leaf_values(child)]
    if isinstance(node, list):
        return [v for child in node for v in leaf_values(child)]
    return [node]


# --- what leaves the agent: redaction and limits (the agent's defaults) ---------------------

def test_secrets_never_reach_the_backend_and_long_values_are_cut(stack, tracer):
    with tracer.span("exchange.session.login", api_key="sk-live-4242", password="hunter2",
                     **{"user.id": 1234, "order.note": "é" * 1000, "order.symbol": "BTCUSDT"}) as s:
        s.add_event("auth.refreshed", {"auth.token": "sk-live-4242"})
    [span] = stack.spans("exchange.session.login")
    attrs = span["attributes"]
    raw = json.dumps(span)
    assert "sk-live-4242" not in raw and "hunter2" not in raw
    # 1234 may occur inside a hash or an id by chance: no value anywhere is the user id itself.
    assert 1234 not in leaf_values(span) and "1234" not in leaf_values(span)
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
