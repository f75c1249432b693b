#!/usr/bin/env python3
"""The strategy side of the example trading bot: for each market tick, signal generation -> risk
check -> order placement (sent to the order gateway, execution.py, over a local socket) ->
confirmation. One trace per cycle, across both processes; every log line names its trace.

Standard library only. Start the gateway first, then:

    python3 strategy.py --socket /tmp/tailgate-bot.sock --cycles 20

Prints one JSON line per cycle: {"trace_id", "symbol", "outcome"}.
"""

import argparse
import json
import logging
import os
import random
import socket
import sys
import time

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "client", "python"))
import tailgate  # noqa: E402  (the installed module, else the source tree's)

log = logging.getLogger("signal_bot")
tracer = tailgate.init_tracing("signal-bot", "2.1.0")
POSITION_LIMIT = 8.0  # the risk check refuses orders above this quantity


@tracer.trace("signal_bot.strategy.generate_signal", capture_args=2)
def generate_signal(symbol: str, mid_price: float) -> dict:
    """A momentum signal (simulated): side, strength and size."""
    strength = random.uniform(-1.0, 1.0)
    span = tailgate.current_span()
    span.set_attribute("signal.strength", round(strength, 3))
    span.set_attribute("signal.model", "momentum-v3")
    return {"side": "buy" if strength > 0 else "sell", "quantity": round(abs(strength) * 12, 3),
            "price": mid_price}


@tracer.trace("signal_bot.risk.check", capture_args=1)
def risk_check(signal: dict) -> bool:
    span = tailgate.current_span()
    passed = signal["quantity"] <= POSITION_LIMIT
    span.set_attributes({"risk.passed": passed, "risk.limit": POSITION_LIMIT,
                         "risk.check_type": "position"})
    if not passed:
        span.add_event("risk.limit_exceeded", quantity=signal["quantity"])
        log.warning("risk: %.3f over the position limit", signal["quantity"])
    return passed


class Gateway:
    """The order gateway at the other end of a Unix socket: one JSON line each way per order."""

    def __init__(self, path: str, seconds: float = 10.0):
        deadline = time.monotonic() + seconds
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.stream = self.sock.makefile("rwb")

    def place(self, order: dict) -> dict:
        with tracer.span("signal_bot.order.submit", kind=tailgate.SpanKind.CLIENT,
                         **{"order.id": order["id"], "order.symbol": order["symbol"],
                            "order.side": order["side"], "order.type": "market"}):
            headers = tailgate.inject_context({})  # traceparent of this span
            self.stream.write(json.dumps({"headers": headers, "order": order}).encode() + b"\n")
            self.stream.flush()
            return json.loads(self.stream.readline())

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


def cycle(gateway: Gateway, number: int, symbol: str, mid_price: float) -> dict:
    with tracer.span("signal_bot.trade.cycle", **{"market.symbol": symbol,
                                                  "market.type": "spot",
                                                  "strategy.name": "momentum",
                                                  "cycle": number}) as root:
        signal = generate_signal(symbol, mid_price)
        outcome = "no_order"
        if risk_check(signal):
            order = {"id": f"{number:06d}", "symbol": symbol, **signal}
            reply = gateway.place(order)
            with tracer.span("signal_bot.order.confirmation", **{"order.id": order["id"]}) as c:
                c.set_attribute("order.status", reply["status"])
                if reply["status"] != "filled":
                    c.set_status_error(reply.get("reason", "rejected"))
            outcome = reply["status"]
        log.info("cycle %d: %s %s", number, symbol, outcome)
        return {"trace_id": root.context.trace_id_hex, "symbol": symbol, "outcome": outcome}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", required=True, help="the gateway's Unix socket")
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s "
                               "[trace_id=%(trace_id)s span_id=%(span_id)s] %(message)s")
    random.seed(args.seed)
    prices = {"BTCUSDT": 43_250.0, "ETHUSDT": 2_310.0, "SOLUSDT": 61.5}
    gateway = Gateway(args.socket)
    for number in range(args.cycles):
        symbol = random.choice(sorted(prices))
        print(json.dumps(cycle(gateway, number, symbol, prices[symbol])), flush=True)
    gateway.close()
    tracer.close()


if __name__ == "__main__":
    main()
