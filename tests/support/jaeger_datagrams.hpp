#pragma once
// Jaeger emitBatch datagrams made with Apache Thrift's own writer (compact or binary protocol):
// from Thrift's generated objects (tags of each type, a two-span batch with the fields the mapping
// reads, a busy client's batch), or field by field for what the generated objects cannot say
// (fields twice, of the wrong type, unknown, enum values the IDL lacks). For the receiver tests.

#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "jaeger/Agent.h"
#include "receivers/jaeger_thrift.hpp"

namespace tailgate::testing::jaeger_datagrams {

namespace idl = tailgate::jaeger_idl;
namespace thrift = apache::thrift;
using receivers::jaeger::Protocol;

inline idl::Tag tag(const std::string& key, const std::string& v) {
  idl::Tag t;
  t.key = key;
  t.vType = idl::TagType::STRING;
  t.__set_vStr(v);
  return t;
}
inline idl::Tag tag(const std::string& key, std::int64_t v) {
  idl::Tag t;
  t.key = key;
  t.vType = idl::TagType::LONG;
  t.__set_vLong(v);
  return t;
}
inline idl::Tag tag(const std::string& key, bool v) {
  idl::Tag t;
  t.key = key;
  t.vType = idl::TagType::BOOL;
  t.__set_vBool(v);
  return t;
}
inline idl::Tag tag(const std::string& key, double v) {
  idl::Tag t;
  t.key = key;
  t.vType = idl::TagType::DOUBLE;
  t.__set_vDouble(v);
  return t;
}

inline idl::Batch sample_batch() {
  idl::Batch batch;
  batch.process.serviceName = "pricer";
  batch.process.__set_tags(
      {tag("hostname", std::string("box1")), tag("jaeger.version", std::string("Test-1"))});
  idl::Span root;
  root.traceIdHigh = 0x0102030405060708;
  root.traceIdLow = static_cast<std::int64_t>(0xF1F2F3F4F5F6F7F8ull);  // the high bit set
  root.spanId = 0x11;
  root.parentSpanId = 0;
  root.operationName = "quote";
  root.flags = 1;
  root.startTime = 1'700'000'000'000'000;  // µs
  root.duration = 2'500;
  root.__set_tags({tag("span.kind", std::string("server")), tag("qty", std::int64_t{5}),
                   tag("px", 101.5), tag("firm", true)});
  idl::Span child = root;
  child.spanId = 0x22;
  child.parentSpanId = 0;  // the parent only in a CHILD_OF reference, as some clients send it
  child.operationName = "lookup";
  child.startTime += 100;
  child.duration = 1'000;
  idl::SpanRef parent;
  parent.refType = idl::SpanRefType::CHILD_OF;
  parent.traceIdHigh = root.traceIdHigh;
  parent.traceIdLow = root.traceIdLow;
  parent.spanId = root.spanId;
  idl::SpanRef follows;
  follows.refType = idl::SpanRefType::FOLLOWS_FROM;
  follows.traceIdHigh = 0;
  follows.traceIdLow = 0x99;
  follows.spanId = 0x98;
  child.__set_references({parent, follows});
  child.__set_tags({tag("error", true), tag("venue", std::string("XNAS"))});
  idl::Log log;
  log.timestamp = child.startTime + 10;
  log.fields = {tag("event", std::string("cache_miss")), tag("key", std::string("BTCUSDT"))};
  child.__set_logs({log});
  batch.spans = {root, child};
  return batch;
}

template <typename Write>
std::vector<std::byte> message(Protocol protocol, const std::string& name,
                               thrift::protocol::TMessageType type, Write&& write_body) {
  auto buffer = std::make_shared<thrift::transport::TMemoryBuffer>();
  std::unique_ptr<thrift::protocol::TProtocol> p;
  if (protocol == Protocol::Compact) {
    p = std::make_unique<thrift::protocol::TCompactProtocol>(buffer);
  } else {
    p = std::make_unique<thrift::protocol::TBinaryProtocol>(buffer);
  }
  p->writeMessageBegin(name, type, 0);
  write_body(*p);
  p->writeMessageEnd();
  std::uint8_t* data = nullptr;
  std::uint32_t size = 0;
  buffer->getBuffer(&data, &size);
  const auto* b = reinterpret_cast<const std::byte*>(data);
  return {b, b + size};
}

inline std::vector<std::byte> emit_batch(Protocol protocol, const idl::Batch& batch) {
  return message(protocol, "emitBatch", thrift::protocol::T_ONEWAY,
                 [&batch](thrift::protocol::TProtocol& p) {
                   idl::Agent_emitBatch_pargs args;
                   args.batch = &batch;
                   args.write(&p);
                 });
}

// A batch like a busy client's: process tags of each type, client stats, and spans with every
// tag type, the tags with an OTLP meaning, references of each kind and logs with and without
// event names. Deterministic for a seed.
inline idl::Batch realistic_batch(std::uint64_t seed, int spans) {
  auto next = [&seed] {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return seed >> 33;
  };
  idl::Batch batch;
  batch.process.serviceName = "order-gateway";
  idl::Tag ip = tag("ip", std::int64_t{0x7F000001});
  idl::Tag raw;
  raw.key = "build.id";
  raw.vType = idl::TagType::BINARY;
  raw.__set_vBinary(std::string("\x01\xFF\x00\x80", 4));
  batch.process.__set_tags({tag("hostname", std::string("trade-7")), ip, raw,
                            tag("client-uuid", std::string("6f1c-client")),
                            tag("service.name", std::string("ignored: the process names it")),
                            tag("load", 0.75)});
  idl::ClientStats stats;
  stats.fullQueueDroppedSpans = 3;
  stats.tooLargeDroppedSpans = 1;
  stats.failedToEmitSpans = 0;
  batch.__set_stats(stats);
  static const char* kKinds[] = {"server", "client", "producer", "consumer", "internal", "other"};
  static const char* kErrors[] = {"true", "True", "false", "yes"};
  for (int i = 0; i < spans; ++i) {
    idl::Span s;
    s.traceIdHigh = static_cast<std::int64_t>(next() << 32 | next());
    s.traceIdLow = static_cast<std::int64_t>(next() << 32 | next()) | 1;
    s.spanId = static_cast<std::int64_t>(next() << 32 | next()) | 1;
    s.parentSpanId = next() % 3 == 0 ? 0 : static_cast<std::int64_t>(next() | 1);
    s.operationName = "op-" + std::to_string(next() % 50);
    s.flags = static_cast<std::int32_t>(next() % 4);
    s.startTime = 1'700'000'000'000'000 + static_cast<std::int64_t>(next());
    s.duration = static_cast<std::int64_t>(next() % 100'000);
    std::vector<idl::Tag> tags = {tag("span.kind", std::string(kKinds[next() % 6])),
                                  tag("qty", static_cast<std::int64_t>(next())),
                                  tag("px", static_cast<double>(next()) / 7.0),
                                  tag("venue", std::string("XNAS")), tag("firm", next() % 2 == 0)};
    if (next() % 4 == 0) tags.push_back(tag("error", std::string(kErrors[next() % 4])));
    if (next() % 4 == 0) tags.push_back(tag("error", next() % 2 == 0));
    if (next() % 5 == 0) tags.push_back(tag("otel.status_code", std::string("OK")));
    if (next() % 5 == 0) tags.push_back(tag("otel.status_code", std::string("ERROR")));
    if (next() % 5 == 0) tags.push_back(tag("otel.status_code", std::string("UNSET")));
    if (next() % 5 == 0) tags.push_back(tag("otel.status_description", std::string("rejected")));
    if (next() % 5 == 0) tags.push_back(tag("w3c.tracestate", std::string("ot=th:8")));
    if (next() % 3 == 0) tags.push_back(raw);
    s.__set_tags(tags);
    std::vector<idl::SpanRef> refs;
    for (std::uint64_t r = next() % 4; r > 0; --r) {
      idl::SpanRef ref;
      ref.refType = next() % 2 == 0 ? idl::SpanRefType::CHILD_OF : idl::SpanRefType::FOLLOWS_FROM;
      const bool same = next() % 2 == 0;
      ref.traceIdHigh = same ? s.traceIdHigh : 5;
      ref.traceIdLow = same ? s.traceIdLow : 6;
      ref.spanId = next() % 3 == 0 ? s.parentSpanId : static_cast<std::int64_t>(next());
      refs.push_back(ref);
    }
    if (!refs.empty()) s.__set_references(refs);
    std::vector<idl::Log> logs;
    for (std::uint64_t l = next() % 3; l > 0; --l) {
      idl::Log log;
      log.timestamp = s.startTime + static_cast<std::int64_t>(next() % 1000);
      if (next() % 2 == 0) log.fields.push_back(tag("event", std::string()));
      log.fields.push_back(tag("event", std::string("fill")));
      log.fields.push_back(tag("event", std::string("second name: an attribute")));
      log.fields.push_back(tag("size", static_cast<std::int64_t>(next() % 100)));
      logs.push_back(log);
    }
    if (!logs.empty()) s.__set_logs(logs);
    batch.spans.push_back(s);
  }
  return batch;
}

// Writes emitBatch's args around a Batch whose fields `write_batch` writes itself.
inline std::vector<std::byte> hand_written(
    Protocol protocol, const std::function<void(thrift::protocol::TProtocol&)>& write_batch) {
  return message(protocol, "emitBatch", thrift::protocol::T_ONEWAY, [&](auto& p) {
    p.writeStructBegin("args");
    p.writeFieldBegin("batch", thrift::protocol::T_STRUCT, 1);
    p.writeStructBegin("Batch");
    write_batch(p);
    p.writeFieldStop();
    p.writeStructEnd();
    p.writeFieldEnd();
    p.writeFieldStop();
    p.writeStructEnd();
  });
}

inline void write_spans(thrift::protocol::TProtocol& p, const std::vector<idl::Span>& spans) {
  p.writeFieldBegin("spans", thrift::protocol::T_LIST, 2);
  p.writeListBegin(thrift::protocol::T_STRUCT, static_cast<std::uint32_t>(spans.size()));
  for (const auto& s : spans) s.write(&p);
  p.writeListEnd();
  p.writeFieldEnd();
}

inline void write_process(thrift::protocol::TProtocol& p, const idl::Process& process) {
  p.writeFieldBegin("process", thrift::protocol::T_STRUCT, 1);
  process.write(&p);
  p.writeFieldEnd();
}

// A span with its required fields written by hand, then the fields `more` writes.
inline void write_span(thrift::protocol::TProtocol& p, const std::function<void()>& more) {
  p.writeStructBegin("Span");
  for (const auto& [id, v] : {std::pair{1, 0x51}, {2, 7}, {3, 9}, {4, 0}, {8, 1000}, {9, 20}}) {
    p.writeFieldBegin("i64", thrift::protocol::T_I64, static_cast<std::int16_t>(id));
    p.writeI64(v);
    p.writeFieldEnd();
  }
  p.writeFieldBegin("operationName", thrift::protocol::T_STRING, 5);
  p.writeString("by hand");
  p.writeFieldEnd();
  p.writeFieldBegin("flags", thrift::protocol::T_I32, 7);
  p.writeI32(1);
  p.writeFieldEnd();
  more();
  p.writeFieldStop();
  p.writeStructEnd();
}

// A field holding a list of `count` structs, each written by `write_element`.
inline void write_list(thrift::protocol::TProtocol& p, std::int16_t id, std::uint32_t count,
                       const std::function<void()>& write_element) {
  p.writeFieldBegin("list", thrift::protocol::T_LIST, id);
  p.writeListBegin(thrift::protocol::T_STRUCT, count);
  for (std::uint32_t i = 0; i < count; ++i) write_element();
  p.writeListEnd();
  p.writeFieldEnd();
}

inline void write_i32(thrift::protocol::TProtocol& p, std::int16_t id, std::int32_t v) {
  p.writeFieldBegin("i32", thrift::protocol::T_I32, id);
  p.writeI32(v);
  p.writeFieldEnd();
}

inline void write_string(thrift::protocol::TProtocol& p, std::int16_t id, const std::string& v) {
  p.writeFieldBegin("string", thrift::protocol::T_STRING, id);
  p.writeString(v);
  p.writeFieldEnd();
}

}  // namespace tailgate::testing::jaeger_datagrams
