#!/usr/bin/env python3
"""The order gateway of the example trading bot: takes orders from the strategy process over a
local (Unix) socket, places them with a simulated exchange and sends back the confirmation.

Each order carries W3C trace context in its headers: the gateway's spans join the strategy's
trace, so Jaeger shows one trace across both processes. Standard library only.

    python3 execution.py --socket /tmp/tailgate-bot.sock
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

log = logging.getLogger("genesis.orders")
tracer = tailgate.init_tracing("genesis-orders", "1.4.2")
MAX_NOTIONAL = 250_000.0  # the exchange refuses larger orders


class ExchangeRejected(Exception):
    pass


@tracer.trace("api.exchange.new_order", kind=tailgate.SpanKind.CLIENT, capture_args=2)
def send_to_exchange(symbol: str, side: str, quantity: float, price: float) -> dict:
    """The venue call (simulated: a few hundred microseconds, and a size limit)."""
    time.sleep(random.uniform(0.0002, 0.0008))
    if quantity * price > MAX_NOTIONAL:
        raise ExchangeRejected(f"notional {quantity * price:.0f} over {MAX_NOTIONAL:.0f}")
    return {"exchange_order_id": random.getrandbits(40), "fill_price": price * 1.0001}


def execute(order: dict, headers: dict) -> dict:
    parent = tailgate.extract_context(headers)  # the strategy's order.submit span
    with tracer.span("genesis.order.execute_market", parent=parent, kind=tailgate.SpanKind.SERVER,
                     **{"order.id": order["id"], "order.symbol": order["symbol"],
                        "order.side": order["side"], "order.type": "market",
                        "order.quantity": order["quantity"]}) as span:
        try:
            fill = send_to_exchange(order["symbol"], order["side"], order["quantity"],
                                    order["price"])
        except ExchangeRejected as e:
            span.record_exception(e)  # recorded; handled, so the status is set here
            span.set_status(tailgate.StatusCode.ERROR, str(e))
            span.set_attribute("order.status", "rejected")
            log.warning("order %s rejected: %s", order["id"], e)
            return {"id": order["id"], "status": "rejected", "reason": str(e)}
        with tracer.span("genesis.order.confirm") as confirm:
            confirm.set_attribute("order.fill_price", fill["fill_price"])
            confirm.add_event("order.filled", exchange_order_id=fill["exchange_order_id"])
        span.set_attribute("order.status", "filled")
        log.info("order %s filled at %.2f", order["id"], fill["fill_price"])
        return {"id": order["id"], "status": "filled", "fill_price": fill["fill_price"]}


def serve(path: str) -> None:
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    print(f"listening on {path}", flush=True)
    conn, _ = server.accept()
    with conn, conn.makefile("rwb") as stream:
        for line in stream:  # one JSON message a line: {"headers": {...}, "order": {...}}
            message = json.loads(line)
            reply = execute(message["order"], message["headers"])
            stream.write(json.dumps(reply).encode() + b"\n")
            stream.flush()
    server.close()
    os.unlink(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", required=True, help="Unix socket path to listen on")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s "
                               "[trace_id=%(trace_id)s span_id=%(span_id)s] %(message)s")
    serve(args.socket)
    tracer.close()


if __name__ == "__main__":
    main()
