#pragma once
// The OTLP requests of the OTLP benchmarks (otlp_grpc_load, otlp_decode_bench): 512 spans in
// traces of 4 (the root last), 6 attributes each, 5% of traces with an error span, 5% slow.

#include <chrono>
#include <cstdint>
#include <random>
#include <string>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace tailgate::bench {

namespace pb = opentelemetry::proto;
using Request = pb::collector::trace::v1::ExportTraceServiceRequest;

constexpr int kSpansPerTrace = 4;
constexpr int kTracesPerRequest = 128;

inline void attribute(pb::trace::v1::Span& span, const char* key, const std::string& value) {
  auto* kv = span.add_attributes();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(value);
}

/// With `roots` false no span is a root: each trace waits (max_trace_age) with all its spans held.
inline Request make_request(std::uint64_t first_trace, std::mt19937_64& random, bool roots = true) {
  Request request;
  auto* rs = request.add_resource_spans();
  auto* service = rs->mutable_resource()->add_attributes();
  service->set_key("service.name");
  service->mutable_value()->set_string_value("checkout");
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("io.opentelemetry.bench");
  const auto now = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch() /
                                              std::chrono::nanoseconds(1));
  for (int t = 0; t < kTracesPerRequest; ++t) {
    const auto trace = first_trace + static_cast<std::uint64_t>(t);
    const auto roll = random() % 100;
    for (int s = 0; s < kSpansPerTrace; ++s) {
      auto* span = ss->add_spans();
      std::string trace_id(16, '\0'), span_id(8, '\0'), parent(8, '\0');
      for (int i = 0; i < 8; ++i) trace_id[8 + i] = static_cast<char>(trace >> (8 * i));
      trace_id[0] = 1;
      span_id[0] = static_cast<char>(s + 2);
      parent[0] = 1;  // the root's span id (1); the root itself comes last, without parent
      const bool root = roots && s == kSpansPerTrace - 1;
      if (root) span_id[0] = 1;
      span->set_trace_id(trace_id);
      span->set_span_id(span_id);
      if (!root) span->set_parent_span_id(parent);
      span->set_name(root ? "POST /checkout" : "SELECT orders");
      span->set_kind(root ? pb::trace::v1::Span::SPAN_KIND_SERVER
                          : pb::trace::v1::Span::SPAN_KIND_CLIENT);
      const std::uint64_t duration = root && roll >= 95 ? 5'000'000'000 : 2'000'000;
      span->set_start_time_unix_nano(now - duration);
      span->set_end_time_unix_nano(now);
      attribute(*span, "http.method", "POST");
      attribute(*span, "http.route", "/checkout/{cart_id}");
      attribute(*span, "net.peer.name", "orders-db.internal.example.com");
      attribute(*span, "db.system", "postgresql");
      attribute(*span, "user.tier", "gold");
      auto* n = span->add_attributes();
      n->set_key("http.status_code");
      n->mutable_value()->set_int_value(root && roll < 5 ? 500 : 200);
      if (s == 0 && roll < 5) {
        span->mutable_status()->set_code(pb::trace::v1::Status::STATUS_CODE_ERROR);
        span->mutable_status()->set_message("connection reset");
      }
    }
  }
  return request;
}

}  // namespace tailgate::bench
