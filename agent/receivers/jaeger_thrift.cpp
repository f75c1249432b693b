#include "receivers/jaeger_thrift.hpp"

#include <openssl/evp.h>
#include <thrift/TConfiguration.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <limits>
#include <memory>
#include <string_view>

#include "jaeger/Agent.h"
#include "receivers/base64.hpp"
#include "receivers/jaeger_mapping.hpp"
#include "receivers/jaeger_packed.hpp"

namespace tailgate::receivers::jaeger {
namespace {

namespace thrift = apache::thrift;
using thrift::transport::TMemoryBuffer;
using namespace ::tailgate::jaeger_idl;  // generated from proto/jaeger/jaeger_agent.thrift

// Batch > Span > Log > Tag is four deep; skipping unknown fields may nest a little more. Anything
// deeper is hostile.
constexpr int kRecursionLimit = 16;

model::AttributeValue value_of(const Tag& tag) {
  switch (tag.vType) {
    case TagType::DOUBLE:
      return tag.vDouble;
    case TagType::BOOL:
      return tag.vBool;
    case TagType::LONG:
      return static_cast<std::int64_t>(tag.vLong);
    case TagType::BINARY:
      return base64(tag.vBinary);
    case TagType::STRING:
    default:  // an unknown type number: keep whatever text came with it
      return tag.vStr;
  }
}

std::vector<model::Attribute> attributes_of(const std::vector<Tag>& tags) {
  std::vector<model::Attribute> out;
  out.reserve(tags.size());
  for (const auto& t : tags) out.push_back({t.key, value_of(t)});
  return out;
}

bool is_true(const Tag& tag) {
  return (tag.vType == TagType::BOOL && tag.vBool) ||
         (tag.vType == TagType::STRING && (tag.vStr == "true" || tag.vStr == "True"));
}

// Tags with a meaning in OTLP become span fields instead of attributes (as OpenTelemetry's own
// Jaeger translation does), so a Jaeger span and the same span sent over OTLP look alike.
void apply_tags(const std::vector<Tag>& tags, model::Span& span) {
  span.attributes.reserve(tags.size());
  bool error_tag = false;
  for (const auto& t : tags) {
    const std::string_view key = t.key;
    if (key == "span.kind" && t.vType == TagType::STRING) {
      span.kind = kind_of(t.vStr);
      if (span.kind != model::SpanKind::Unspecified) continue;
    } else if (key == "error") {
      error_tag = is_true(t);
      if (error_tag || t.vType == TagType::BOOL) continue;
    } else if (key == "otel.status_code" && t.vType == TagType::STRING) {
      if (t.vStr == "ERROR") {
        span.status = model::StatusCode::Error;
        continue;
      }
      if (t.vStr == "OK") {
        span.status = model::StatusCode::Ok;
        continue;
      }
    } else if (key == "otel.status_description" && t.vType == TagType::STRING) {
      span.status_message = t.vStr;
      continue;
    } else if (key == "w3c.tracestate" && t.vType == TagType::STRING) {
      span.trace_state = t.vStr;
      continue;
    }
    span.attributes.push_back({t.key, value_of(t)});
  }
  if (error_tag) span.status = model::StatusCode::Error;
}

// Appends the batch's spans; spans without usable ids are refused one by one.
void map_batch(const Batch& batch, model::SpanBatch& out, DecodeResult& result) {
  auto resource = std::make_shared<model::Resource>();
  resource->attributes.reserve(batch.process.tags.size() + 1);
  resource->attributes.push_back({"service.name", batch.process.serviceName});
  for (auto& a : attributes_of(batch.process.tags)) {
    if (a.key != "service.name") resource->attributes.push_back(std::move(a));
  }
  const std::shared_ptr<const model::Resource> shared = std::move(resource);

  for (const auto& in : batch.spans) {
    if ((in.traceIdLow == 0 && in.traceIdHigh == 0) || in.spanId == 0) {
      ++result.zero_ids;
      if (result.error.empty()) result.error = "span without a trace or span id";
      continue;
    }
    model::Span span;
    span.trace_id = trace_id_of(in.traceIdHigh, in.traceIdLow);
    span.span_id = span_id_of(in.spanId);
    if (in.parentSpanId != 0) span.parent_span_id = span_id_of(in.parentSpanId);
    span.name = in.operationName;
    span.trace_flags = static_cast<std::uint8_t>(in.flags & 0x1);
    set_times(in.startTime, in.duration, span);
    apply_tags(in.tags, span);
    for (const auto& ref : in.references) {
      const bool same_trace = ref.traceIdHigh == in.traceIdHigh && ref.traceIdLow == in.traceIdLow;
      if (ref.refType == SpanRefType::CHILD_OF && same_trace) {
        if (span.is_root()) {
          span.parent_span_id = span_id_of(ref.spanId);
          continue;
        }
        if (ref.spanId == in.parentSpanId) continue;  // the parent, said twice
      }
      span.links.push_back(
          {.trace_id = trace_id_of(ref.traceIdHigh, ref.traceIdLow),
           .span_id = span_id_of(ref.spanId),
           .trace_state = {},
           .attributes = {{"opentracing.ref_type",
                           std::string(ref_type_name(ref.refType == SpanRefType::FOLLOWS_FROM))}}});
    }
    span.events.reserve(in.logs.size());
    for (const auto& log : in.logs) {
      model::Event event;
      event.time_unix_ns = micros_to_nanos(log.timestamp);
      event.attributes.reserve(log.fields.size());
      for (const auto& f : log.fields) {
        if (f.key == "event" && f.vType == TagType::STRING && event.name.empty()) {
          event.name = f.vStr;
        } else {
          event.attributes.push_back({f.key, value_of(f)});
        }
      }
      span.events.push_back(std::move(event));
    }
    span.parent_is_remote = parent_is_remote(span);
    span.resource = shared;
    out.push_back(std::move(span));
    ++result.spans;
  }
}

std::optional<ClientStats> client_stats(const Batch& batch) {
  if (!batch.__isset.stats) return std::nullopt;
  ClientStats stats;
  for (const auto& t : batch.process.tags) {
    if (t.key == "client-uuid" && t.__isset.vStr) stats.client_uuid = t.vStr.substr(0, 128);
  }
  if (stats.client_uuid.empty()) return std::nullopt;  // no id: its totals cannot be told apart
  const auto count = [](std::int64_t n) { return n > 0 ? static_cast<std::uint64_t>(n) : 0u; };
  stats.full_queue = count(batch.stats.fullQueueDroppedSpans);
  stats.too_large = count(batch.stats.tooLargeDroppedSpans);
  stats.failed_to_emit = count(batch.stats.failedToEmitSpans);
  return stats;
}

template <typename Protocol>
DecodeResult decode_with(Protocol& protocol, model::SpanBatch& out) {
  DecodeResult result;
  std::string name;
  thrift::protocol::TMessageType type{};
  std::int32_t seqid = 0;
  protocol.readMessageBegin(name, type, seqid);
  if (name != "emitBatch") {
    // emitZipkinBatch (Zipkin's own format) is not served.
    result.malformed = 1;
    result.error = "unsupported call " + name.substr(0, 64);
    return result;
  }
  if (type != thrift::protocol::T_ONEWAY && type != thrift::protocol::T_CALL) {
    result.malformed = 1;
    result.error = "not a call: message type " + std::to_string(static_cast<int>(type));
    return result;
  }
  Agent_emitBatch_args args;
  args.read(&protocol);
  protocol.readMessageEnd();
  // Decoded whole before anything is appended: a datagram adds all of its spans or none.
  map_batch(args.batch, out, result);
  result.client = client_stats(args.batch);
  // Nothing to take (garbage often parses as an empty batch); a stats report alone is taken.
  result.empty = args.batch.spans.empty() && !result.client;
  return result;
}

}  // namespace

DecodeResult decode_emit_batch_thrift(std::span<const std::byte> datagram, Protocol protocol,
                                      model::SpanBatch& out) {
  const auto size = static_cast<std::int32_t>(
      std::min<std::size_t>(datagram.size(), std::numeric_limits<std::int32_t>::max()));
  // The datagram is the whole message: no length inside it may claim more than it holds, so a
  // hostile length fails before anything is allocated for it.
  auto config = std::make_shared<thrift::TConfiguration>(size, size, kRecursionLimit);
  auto* bytes = reinterpret_cast<std::uint8_t*>(const_cast<std::byte*>(datagram.data()));
  auto buffer = std::make_shared<TMemoryBuffer>(bytes, static_cast<std::uint32_t>(size),
                                                TMemoryBuffer::OBSERVE, config);
  const auto before = out.size();
  try {
    if (protocol == Protocol::Compact) {
      thrift::protocol::TCompactProtocolT<TMemoryBuffer> p(buffer, size, size);
      return decode_with(p, out);
    }
    thrift::protocol::TBinaryProtocolT<TMemoryBuffer> p(buffer, size, size, false, true);
    return decode_with(p, out);
  } catch (const std::exception& e) {  // thrift::TException, or bad_alloc from a hostile count
    out.resize(before);
    return {.spans = 0, .malformed = 1, .error = e.what()};
  }
}

std::uint64_t ClientLosses::add(const ClientStats& stats) {
  const auto total = stats.total();
  auto it = last_total_.find(stats.client_uuid);
  if (it == last_total_.end()) {
    if (last_total_.size() >= kMaxClients) last_total_.erase(last_total_.begin());
    last_total_.emplace(stats.client_uuid, total);
    return total;
  }
  const auto lost = total >= it->second ? total - it->second : total;
  it->second = total;
  return lost;
}

DatagramDecoder decoder(Protocol protocol) {
  // The receiver thread is the only caller; std::function needs a copyable state.
  auto losses = std::make_shared<ClientLosses>();
  auto packed = std::make_shared<PackedDecoder>();
  return [protocol, losses, packed](std::span<const std::byte> datagram, model::SpanBatch& out) {
    auto r = packed->decode(datagram, protocol, out);
    const std::uint64_t lost = r.client ? losses->add(*r.client) : 0;
    DatagramResult result{
        .spans = r.spans, .producer_losses = lost, .zero_ids = r.zero_ids, .error = r.error};
    if (r.malformed > 0) {
      result.refused = telemetry::RejectReason::Malformed;
    } else if (r.empty) {
      result.refused = telemetry::RejectReason::Empty;
      result.error = "a batch without spans";
    }
    return result;
  };
}

}  // namespace tailgate::receivers::jaeger
