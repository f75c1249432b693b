// The npm jaeger-client (Thrift binary protocol over UDP, as it sends to port 6832) sends one trace
// with 128-bit ids: a server root, a child with a log and error=true.
// Usage: node jaeger_node_client.js PORT. Prints the ids it made, as JSON, for the test.
'use strict';
const { initTracer } = require('jaeger-client');

const port = Number(process.argv[2]);
const tracer = initTracer(
  {
    serviceName: 'node-router',
    sampler: { type: 'const', param: 1 },
    reporter: { agentHost: '127.0.0.1', agentPort: port, flushIntervalMs: 50 },
  },
  { tags: { team: 'routing' }, traceId128bit: true, logger: { info() {}, error: console.error } },
);

const root = tracer.startSpan('route_order', {
  tags: { 'span.kind': 'server', symbol: 'ETHUSDT', qty: 3, urgent: false },
});
const child = tracer.startSpan('venue_select', { childOf: root });
child.log({ event: 'venue_rejected', venue: 'XLON' });
child.setTag('error', true);
child.finish();
root.finish();
tracer.close(() => {
  console.log(JSON.stringify({
    trace_id: root.context().toTraceId(),
    spans: { route_order: root.context().toSpanId(), venue_select: child.context().toSpanId() },
  }));
});
