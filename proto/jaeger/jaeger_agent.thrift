// tailgate's subset of the Jaeger Thrift IDL (jaeger-idl: jaeger.thrift and agent.thrift), written
// from Jaeger's documentation of the agent's UDP protocol. Struct and field ids, types and the
// required/optional markers are the wire contract; everything else here is ours. Clients send one
// `emitBatch` oneway call per UDP datagram: in the compact protocol to port 6831, in the binary
// protocol to port 6832.

namespace cpp tailgate.jaeger_idl

enum TagType { STRING, DOUBLE, BOOL, LONG, BINARY }

// A typed key/value: exactly the member named by vType is meaningful.
struct Tag {
  1: required string  key
  2: required TagType vType
  3: optional string  vStr
  4: optional double  vDouble
  5: optional bool    vBool
  6: optional i64     vLong
  7: optional binary  vBinary
}

// A timestamped event (OpenTracing's span log); timestamp in microseconds since the epoch.
struct Log {
  1: required i64       timestamp
  2: required list<Tag> fields
}

enum SpanRefType { CHILD_OF, FOLLOWS_FROM }

struct SpanRef {
  1: required SpanRefType refType
  2: required i64         traceIdLow
  3: required i64         traceIdHigh
  4: required i64         spanId
}

// Ids are unsigned values carried in signed fields; times are microseconds.
struct Span {
  1:  required i64           traceIdLow
  2:  required i64           traceIdHigh   // 0 for 64-bit trace ids
  3:  required i64           spanId
  4:  required i64           parentSpanId  // 0 for a root (a CHILD_OF reference may say it instead)
  5:  required string        operationName
  6:  optional list<SpanRef> references
  7:  required i32           flags         // bit 0 sampled, bit 1 debug
  8:  required i64           startTime
  9:  required i64           duration
  10: optional list<Tag>     tags
  11: optional list<Log>     logs
}

// The emitting service: its name and process-wide tags (hostname, ip, client version...).
struct Process {
  1: required string    serviceName
  2: optional list<Tag> tags
}

// Spans the client itself failed to send, cumulative since it started.
struct ClientStats {
  1: required i64 fullQueueDroppedSpans
  2: required i64 tooLargeDroppedSpans
  3: required i64 failedToEmitSpans
}

struct Batch {
  1: required Process    process
  2: required list<Span> spans
  3: optional i64        seqNo
  4: optional ClientStats stats
}

service Agent {
  oneway void emitBatch(1: Batch batch)
}
