// OpenTelemetry's JavaScript SDK (sdk-trace-base with an OTLP exporter) sends one trace:
// a server root, a child with an event, a link, an ERROR status and an array attribute, and a
// client span; resource attributes and the instrumentation scope ride along.
// Usage: node otlp_node_client.js grpc|http-proto|http-json PORT|default (default: the
// exporter's own default URL, localhost:4317 or localhost:4318, as the guides leave it).
// Prints the ids it made, as JSON, for the test to compare.
'use strict';
const api = require('@opentelemetry/api');
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { Resource } = require('@opentelemetry/resources');

const [mode, port] = [process.argv[2], process.argv[3]];
const url = (path) => (port === 'default' ? undefined : `http://127.0.0.1:${port}${path}`);
let exporter;
if (mode === 'grpc') {
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');
  exporter = new OTLPTraceExporter({ url: url(''), compression: 'gzip' });
} else if (mode === 'http-proto') {
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
  exporter = new OTLPTraceExporter({ url: url('/v1/traces'), compression: 'gzip' });
} else if (mode === 'http-json') {
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
  exporter = new OTLPTraceExporter({ url: url('/v1/traces') });
} else {
  throw new Error(`unknown mode ${mode}`);
}

const provider = new BasicTracerProvider({
  resource: new Resource({
    'service.name': 'node-risk',
    'service.version': '2.4.1',
    'deployment.environment': 'interop',
  }),
  spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 50 })],
});
const tracer = provider.getTracer('risk-engine', '1.2.0');

async function main() {
  const earlier = tracer.startSpan('snapshot_positions');
  earlier.end();
  const root = tracer.startSpan('check_limits', {
    kind: api.SpanKind.SERVER,
    attributes: { 'order.id': 'ORD-7', 'order.qty': 250, 'order.px': 99.75, 'order.ioc': true },
  });
  const inRoot = api.trace.setSpan(api.context.active(), root);
  const child = tracer.startSpan('var_model', {
    attributes: { 'risk.books': ['fx', 'rates'] },
    links: [{ context: earlier.spanContext(), attributes: { 'link.reason': 'positions' } }],
  }, inRoot);
  child.addEvent('recomputed', { positions: 12 });
  child.setStatus({ code: api.SpanStatusCode.ERROR, message: 'limit breached' });
  child.end();
  const call = tracer.startSpan('fetch_prices', { kind: api.SpanKind.CLIENT }, inRoot);
  call.end();
  root.end();
  await provider.forceFlush();
  await provider.shutdown();
  const ids = (s) => s.spanContext();
  console.log(JSON.stringify({
    trace_id: ids(root).traceId,
    earlier: { trace_id: ids(earlier).traceId, span_id: ids(earlier).spanId },
    spans: {
      check_limits: ids(root).spanId, var_model: ids(child).spanId, fetch_prices: ids(call).spanId,
    },
  }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
