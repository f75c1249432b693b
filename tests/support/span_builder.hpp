#pragma once
// Test spans with every field set, deterministic from a seed: the same seed always gives the same
// span, so a test can rebuild what it sent and compare it with what arrived.

#include <cstdint>
#include <memory>
#include <string>

#include "model/span.hpp"

namespace tailgate::testing {

inline model::TraceId trace_id_of(std::uint64_t seed) {
  model::TraceId id{};
  for (std::size_t i = 0; i < id.size(); ++i)
    id[i] = static_cast<std::uint8_t>((seed * 131 + i * 7 + 1) & 0xFF);
  id[15] = static_cast<std::uint8_t>(seed & 0xFF);
  id[14] = static_cast<std::uint8_t>((seed >> 8) & 0xFF);
  id[13] = static_cast<std::uint8_t>((seed >> 16) & 0xFF);
  return id;
}

inline model::SpanId span_id_of(std::uint64_t seed) {
  model::SpanId id{};
  for (std::size_t i = 0; i < id.size(); ++i)
    id[i] = static_cast<std::uint8_t>(((seed >> (8 * i)) & 0xFF) ^ 0x5A);
  return id;
}

inline std::shared_ptr<const model::Resource> test_resource(const std::string& service) {
  return std::make_shared<const model::Resource>(model::Resource{{
      {"service.name", service},
      {"service.version", std::string("1.2.3")},
      {"host.name", std::string("trading-host-1")},
  }});
}

/// Span `index` of trace `trace`: index 0 is the root, the others its children.
inline model::Span make_span(std::uint64_t trace, std::uint64_t index,
                             std::shared_ptr<const model::Resource> resource) {
  model::Span s;
  s.trace_id = trace_id_of(trace);
  s.span_id = span_id_of(trace * 1000 + index + 1);
  if (index > 0) s.parent_span_id = span_id_of(trace * 1000 + 1);
  s.start_unix_ns = 1'700'000'000'000'000'000ULL + trace * 1'000'000 + index * 1000;
  s.end_unix_ns = s.start_unix_ns + 500'000 + index * 17;
  s.kind = index == 0 ? model::SpanKind::Server : model::SpanKind::Client;
  s.status = trace % 7 == 0 ? model::StatusCode::Error : model::StatusCode::Unset;
  if (s.status == model::StatusCode::Error) s.status_message = "exchange rejected: ÉCHEC 注文";
  s.trace_flags = 1;
  s.name = index == 0 ? "signal_generation" : "order.step." + std::to_string(index);
  s.attributes = {
      {"order.symbol", std::string("BTCUSDT")},
      {"order.quantity", static_cast<std::int64_t>(trace * 10 + index)},
      {"order.price", 43'250.5 + static_cast<double>(index)},
      {"risk.passed", trace % 2 == 0},
  };
  if (index == 1) {
    s.events.push_back({s.start_unix_ns + 10,
                        "order.sent",
                        {{"venue", std::string("binance")}, {"attempt", std::int64_t{1}}}});
  }
  s.resource = std::move(resource);
  return s;
}

}  // namespace tailgate::testing
