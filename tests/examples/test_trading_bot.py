"""The example trading bot (examples/trading_bot) end to end: the strategy and the order gateway
as two processes talking over a Unix socket, each with its own tracer and segment, through the
real agent to the real sink. Every cycle is one trace across both processes, whole, with the
right parents; the logs of both name that trace."""

import json
import os
import subprocess
import sys
import tempfile

import pytest

from agent_stack import Stack  # tests/support: the real agent and sink in a temp dir

BOT = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "trading_bot")
CYCLES = 30


@pytest.fixture(scope="module")
def run():
    with tempfile.TemporaryDirectory(prefix="tailgate-bot-") as tmp:
        stack = Stack(tmp)
        env = dict(os.environ, TAILGATE_RING_DIRECTORY=stack.ring)
        sock = os.path.join(tmp, "gateway.sock")
        gateway_log = open(os.path.join(tmp, "gateway.err"), "w+")
        gateway = subprocess.Popen([sys.executable, os.path.join(BOT, "execution.py"),
                                    "--socket", sock], env=env, stdout=subprocess.PIPE,
                                   stderr=gateway_log, text=True)
        try:
            assert gateway.stdout.readline().startswith("listening on"), "gateway did not start"
            bot = subprocess.run([sys.executable, os.path.join(BOT, "strategy.py"), "--socket",
                                  sock, "--cycles", str(CYCLES)], env=env, capture_output=True,
                                 text=True, timeout=120)
            assert bot.returncode == 0, bot.stderr
            assert gateway.wait(timeout=30) == 0
            gateway_log.seek(0)
            cycles = [json.loads(line) for line in bot.stdout.splitlines()]
            # cycle, generate_signal, risk.check; with an order: submit, execute_market,
            # new_order, confirmation; when filled: confirm.
            extra = {"no_order": 0, "rejected": 4, "filled": 5}
            expected = sum(3 + extra[c["outcome"]] for c in cycles)
            spans = stack.spans(count=expected, seconds=20)
            yield cycles, spans, bot.stderr, gateway_log.read(), expected
        finally:
            if gateway.poll() is None:
                gateway.kill()
            stack.close()


def test_every_outcome_happens(run):
    cycles, *_ = run
    assert len(cycles) == CYCLES
    outcomes = {c["outcome"] for c in cycles}
    assert outcomes == {"filled", "rejected", "no_order"}, outcomes  # seed 7 gives all three


def test_each_cycle_is_one_whole_trace_across_both_processes(run):
    cycles, spans, _, _, expected = run
    assert len(spans) == expected
    by_trace = {}
    for s in spans:
        by_trace.setdefault(s["trace_id"], []).append(s)
    assert set(by_trace) == {c["trace_id"] for c in cycles}
    for c in cycles:
        trace = {s["name"]: s for s in by_trace[c["trace_id"]]}
        root = trace["signal_bot.trade.cycle"]
        assert root["parent_span_id"] == ""
        assert trace["signal_bot.strategy.generate_signal"]["parent_span_id"] == root["span_id"]
        assert trace["signal_bot.risk.check"]["parent_span_id"] == root["span_id"]
        assert trace["signal_bot.strategy.generate_signal"]["attributes"]["arg.symbol"] == c["symbol"]
        if c["outcome"] == "no_order":
            assert set(trace) == {"signal_bot.trade.cycle", "signal_bot.strategy.generate_signal",
                                  "signal_bot.risk.check"}
            assert trace["signal_bot.risk.check"]["attributes"]["risk.passed"] is False
            continue
        submit = trace["signal_bot.order.submit"]
        server = trace["genesis.order.execute_market"]
        venue = trace["api.exchange.new_order"]
        # The process boundary: the gateway's span is the child of the strategy's submit span.
        assert submit["parent_span_id"] == root["span_id"] and submit["kind"] == 3
        assert server["parent_span_id"] == submit["span_id"] and server["kind"] == 2
        assert server["resource"]["service.name"] == "genesis-orders"
        assert submit["resource"]["service.name"] == "signal-bot"
        assert server["resource"]["process.pid"] != submit["resource"]["process.pid"]
        assert venue["parent_span_id"] == server["span_id"]
        confirmation = trace["signal_bot.order.confirmation"]
        assert confirmation["parent_span_id"] == root["span_id"]
        assert server["attributes"]["order.id"] == submit["attributes"]["order.id"]
        if c["outcome"] == "filled":
            assert trace["genesis.order.confirm"]["parent_span_id"] == server["span_id"]
            assert server["attributes"]["order.status"] == "filled"
            assert server["status"]["code"] == 0
        else:
            assert "genesis.order.confirm" not in trace
            assert venue["status"]["code"] == 2  # the exception escaped the venue call
            assert server["status"]["code"] == 2
            assert server["events"][0]["attributes"]["exception.type"] == "ExchangeRejected"
            assert confirmation["status"]["code"] == 2


def test_both_processes_logs_name_the_trace(run):
    cycles, _, strategy_log, gateway_log, _ = run
    for c in cycles:
        assert f"trace_id={c['trace_id']}" in strategy_log
        if c["outcome"] != "no_order":
            assert f"trace_id={c['trace_id']}" in gateway_log


@pytest.mark.parametrize("off", [{"TAILGATE_LIBRARY": "/nonexistent/libtailgate.so",
                                  "LD_LIBRARY_PATH": "/nonexistent"},
                                 {"TRACING_ENABLED": "false"}])
def test_the_bot_runs_untraced_when_tracing_is_off(off):
    # Without libtailgate.so (or switched off) the same code runs: every span it touches is a
    # span that records nothing (tailgate.current_span() in a decorated function included).
    with tempfile.TemporaryDirectory(prefix="tailgate-bot-off-") as tmp:
        env = dict(os.environ, **off)
        sock = os.path.join(tmp, "gateway.sock")
        gateway = subprocess.Popen([sys.executable, os.path.join(BOT, "execution.py"),
                                    "--socket", sock], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            assert gateway.stdout.readline().startswith("listening on"), gateway.stderr.read()
            bot = subprocess.run([sys.executable, os.path.join(BOT, "strategy.py"), "--socket",
                                  sock, "--cycles", "10"], env=env, capture_output=True,
                                 text=True, timeout=60)
            assert bot.returncode == 0, bot.stderr
            assert gateway.wait(timeout=30) == 0
        finally:
            if gateway.poll() is None:
                gateway.kill()
        cycles = [json.loads(line) for line in bot.stdout.splitlines()]
        assert len(cycles) == 10 and {c["outcome"] for c in cycles} >= {"filled"}
        assert all(c["trace_id"] == "0" * 32 for c in cycles)  # nothing was traced
