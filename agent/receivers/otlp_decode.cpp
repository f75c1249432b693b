#include "receivers/otlp_decode.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "receivers/base64.hpp"
#include "receivers/log_limiter.hpp"
#include "telemetry/log_escape.hpp"

namespace tailgate::receivers::otlp {
namespace {

namespace common = opentelemetry::proto::common::v1;
namespace trace = opentelemetry::proto::trace::v1;

nlohmann::json json_of(const common::AnyValue& v, int depth);

nlohmann::json json_of(const common::KeyValueList& list, int depth) {
  auto out = nlohmann::json::object();
  for (const auto& kv : list.values()) out[kv.key()] = json_of(kv.value(), depth + 1);
  return out;
}

// Depth is bounded by protobuf's own parse limit (100); the check keeps the recursion honest.
nlohmann::json json_of(const common::AnyValue& v, int depth) {
  if (depth > 100) return nullptr;
  switch (v.value_case()) {
    case common::AnyValue::kStringValue:
      return v.string_value();
    case common::AnyValue::kBoolValue:
      return v.bool_value();
    case common::AnyValue::kIntValue:
      return v.int_value();
    case common::AnyValue::kDoubleValue:
      return std::isfinite(v.double_value()) ? nlohmann::json(v.double_value()) : nullptr;
    case common::AnyValue::kBytesValue:
      return base64(v.bytes_value());
    case common::AnyValue::kArrayValue: {
      auto out = nlohmann::json::array();
      for (const auto& item : v.array_value().values()) out.push_back(json_of(item, depth + 1));
      return out;
    }
    case common::AnyValue::kKvlistValue:
      return json_of(v.kvlist_value(), depth);
    default:
      return nullptr;
  }
}

// An ArrayValue whose values are all of one scalar type as the model's array; nothing for any
// other (mixed, nested, bytes, kvlists, unset values), which stays JSON text.
std::optional<model::ArrayValue> scalar_array_of(const common::ArrayValue& array) {
  const auto& values = array.values();
  if (values.empty()) return model::ArrayValue{};
  const auto type = values[0].value_case();
  if (std::any_of(values.begin(), values.end(),
                  [type](const common::AnyValue& e) { return e.value_case() != type; })) {
    return std::nullopt;
  }
  const auto collect = [&values]<typename T>(auto get) {
    std::vector<T> out;
    out.reserve(static_cast<std::size_t>(values.size()));
    for (const auto& e : values) out.push_back(get(e));
    return model::ArrayValue(std::move(out));
  };
  switch (type) {
    case common::AnyValue::kStringValue:
      return collect.operator()<std::string>([](const auto& e) { return e.string_value(); });
    case common::AnyValue::kBoolValue:
      return collect.operator()<bool>([](const auto& e) { return e.bool_value(); });
    case common::AnyValue::kIntValue:
      return collect.operator()<std::int64_t>(
          [](const auto& e) { return static_cast<std::int64_t>(e.int_value()); });
    case common::AnyValue::kDoubleValue:
      return collect.operator()<double>([](const auto& e) { return e.double_value(); });
    default:
      return std::nullopt;
  }
}

}  // namespace

template <std::size_t N>
bool id_of(std::string_view bytes, std::array<std::uint8_t, N>& out) {
  static_assert(N % 8 == 0);
  if (bytes.size() != N) return false;
  std::memcpy(out.data(), bytes.data(), N);
  // Not all zero: checked a word at a time (two ids a span, every span of every request).
  std::uint64_t any = 0;
  for (std::size_t i = 0; i < N; i += 8) {
    std::uint64_t word = 0;
    std::memcpy(&word, out.data() + i, 8);
    any |= word;
  }
  return any != 0;
}

template bool id_of(std::string_view, model::TraceId&);
template bool id_of(std::string_view, model::SpanId&);

namespace {

// An id refused for its length is malformed; one of the right length was refused for its zeros.
Refusal id_refusal(const char* why, std::string_view bytes, std::size_t size) {
  return {why, bytes.size() == size ? telemetry::RejectReason::ZeroId
                                    : telemetry::RejectReason::Malformed};
}

}  // namespace

model::AttributeValue value_of(const common::AnyValue& v) {
  switch (v.value_case()) {
    case common::AnyValue::kStringValue:
      return v.string_value();
    case common::AnyValue::kBoolValue:
      return v.bool_value();
    case common::AnyValue::kIntValue:
      return static_cast<std::int64_t>(v.int_value());
    case common::AnyValue::kDoubleValue:
      return v.double_value();
    case common::AnyValue::kBytesValue:
      return base64(v.bytes_value());
    case common::AnyValue::kArrayValue:
      if (auto array = scalar_array_of(v.array_value())) return *std::move(array);
      [[fallthrough]];
    case common::AnyValue::kKvlistValue:
      return json_of(v, 0).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    default:
      return std::string();
  }
}

std::vector<model::Attribute> attributes_of(const Attributes& in, std::size_t room) {
  std::vector<model::Attribute> out;
  out.reserve(static_cast<std::size_t>(in.size()) + room);
  for (const auto& kv : in) out.push_back({kv.key(), value_of(kv.value())});
  return out;
}

std::optional<Refusal> map_ids(std::string_view trace_id, std::string_view span_id,
                               std::string_view parent_span_id, model::Span& span) {
  if (!id_of(trace_id, span.trace_id)) {
    return id_refusal("trace_id must be 16 bytes, not all zero", trace_id, 16);
  }
  if (!id_of(span_id, span.span_id)) {
    return id_refusal("span_id must be 8 bytes, not all zero", span_id, 8);
  }
  if (!parent_span_id.empty() && !id_of(parent_span_id, span.parent_span_id)) {
    return Refusal{"parent_span_id must be empty or 8 bytes", telemetry::RejectReason::Malformed};
  }
  return std::nullopt;
}

void map_codes(std::uint32_t flags, int kind, int status_code, model::Span& span) {
  span.trace_flags = static_cast<std::uint8_t>(flags & 0xFF);
  span.kind =
      kind >= 0 && kind <= 5 ? static_cast<model::SpanKind>(kind) : model::SpanKind::Unspecified;
  span.status = status_code >= 0 && status_code <= 2 ? static_cast<model::StatusCode>(status_code)
                                                     : model::StatusCode::Unset;
  // OTLP's flags say whether the parent is remote (bit 8: known, bit 9: remote); SDKs that do not
  // set them get the convention that a server or consumer span is where a trace enters.
  constexpr std::uint32_t kHasIsRemote = 0x100, kIsRemote = 0x200;
  if (!span.is_root()) {
    span.parent_is_remote =
        (flags & kHasIsRemote) != 0
            ? (flags & kIsRemote) != 0
            : span.kind == model::SpanKind::Server || span.kind == model::SpanKind::Consumer;
  }
}

std::optional<Refusal> map_span(const trace::Span& in, model::Span& span) {
  if (auto refused = map_ids(in.trace_id(), in.span_id(), in.parent_span_id(), span)) {
    return refused;
  }
  span.trace_state = in.trace_state();
  span.name = in.name();
  span.start_unix_ns = in.start_time_unix_nano();
  span.end_unix_ns = in.end_time_unix_nano();
  // Room for the two attributes a kept span gets (sampling.policy, sampling.probability): else
  // the pipeline doubles the vector, and a kept span of 50 attributes holds room for 100.
  span.attributes = attributes_of(in.attributes(), 2);
  span.dropped_attributes = in.dropped_attributes_count();
  span.events.reserve(static_cast<std::size_t>(in.events_size()));
  for (const auto& e : in.events()) {
    span.events.push_back({.time_unix_ns = e.time_unix_nano(),
                           .name = e.name(),
                           .attributes = attributes_of(e.attributes())});
  }
  span.dropped_events = in.dropped_events_count();
  span.links.reserve(static_cast<std::size_t>(in.links_size()));
  for (const auto& l : in.links()) {
    model::Link link;
    if (!id_of(l.trace_id(), link.trace_id) || !id_of(l.span_id(), link.span_id)) continue;
    link.trace_state = l.trace_state();
    link.attributes = attributes_of(l.attributes());
    span.links.push_back(std::move(link));
  }
  span.status_message = in.status().message();
  map_codes(in.flags(), static_cast<int>(in.kind()), static_cast<int>(in.status().code()), span);
  return std::nullopt;
}

IngestResult from_otlp(const pb::ExportTraceServiceRequest& request, model::SpanBatch& out) {
  IngestResult result;
  for (const auto& rs : request.resource_spans()) {
    auto resource_attributes = attributes_of(rs.resource().attributes());
    for (const auto& ss : rs.scope_spans()) {
      if (ss.spans().empty()) continue;
      auto resource = std::make_shared<model::Resource>();
      resource->attributes = resource_attributes;
      resource->scope = {ss.scope().name(), ss.scope().version()};
      const std::shared_ptr<const model::Resource> shared = std::move(resource);
      for (const auto& in : ss.spans()) {
        model::Span span;
        if (const auto refused = map_span(in, span)) {
          note_refusal(*refused, result);
          continue;
        }
        span.resource = shared;
        out.push_back(std::move(span));
        ++result.spans;
      }
    }
  }
  return result;
}

void note_refusal(const Refusal& refusal, IngestResult& result) {
  ++result.rejected;
  if (refusal.reason == telemetry::RejectReason::ZeroId) ++result.zero_ids;
  if (result.error.empty()) result.error = refusal.why;
}

std::optional<pb::ExportTraceServiceResponse> accept(const pb::ExportTraceServiceRequest& request,
                                                     model::SpanQueue& out,
                                                     telemetry::Counters& counters,
                                                     telemetry::Receiver receiver) {
  model::SpanBatch batch;
  const auto result = from_otlp(request, batch);
  return respond(batch, result, out, counters, receiver);
}

std::optional<pb::ExportTraceServiceResponse> respond(model::SpanBatch& batch,
                                                      const IngestResult& result,
                                                      model::SpanQueue& out,
                                                      telemetry::Counters& counters,
                                                      telemetry::Receiver receiver) {
  const auto spans = batch.size();
  if (spans > 0 && !out.try_push(batch)) {
    counters.otlp_requests_refused.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  counters.add_received(receiver, spans);
  pb::ExportTraceServiceResponse response;
  if (result.rejected > 0) {
    // Refusals of bad input, apart from drops: nothing the sender meant to keep was lost here.
    counters.add_rejected_spans(receiver, telemetry::RejectReason::ZeroId, result.zero_ids);
    counters.add_rejected_spans(receiver, telemetry::RejectReason::Malformed,
                                result.rejected - result.zero_ids);
    response.mutable_partial_success()->set_rejected_spans(
        static_cast<std::int64_t>(result.rejected));
    response.mutable_partial_success()->set_error_message(result.error);
    static LogLimiter rejected_log;
    if (const auto n = rejected_log.note()) {
      spdlog::warn("event=otlp_spans_rejected receiver={} requests={} error={}",
                   telemetry::to_string(receiver), n, telemetry::quoted(result.error));
    }
  }
  return response;
}

void route_protobuf_logs() {
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
        static LogLimiter limiter;
        if (level == google::protobuf::LOGLEVEL_FATAL) {
          spdlog::critical("event=protobuf_log file={}:{} message={}", file, line,
                           telemetry::quoted(message));
          return;
        }
        if (const auto n = limiter.note()) {
          spdlog::warn("event=protobuf_log lines={} last={}", n, telemetry::quoted(message));
        }
      });
}

std::string to_json(const pb::ExportTraceServiceResponse& response) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  (void)google::protobuf::util::MessageToJsonString(response, &out, options);
  return out;
}

}  // namespace tailgate::receivers::otlp
