#pragma once
// The spans the agent-side benchmarks feed in: trading-workflow traces like tailgate-load's, a
// root and children with order.* tags, 1% of spans failed. Deterministic for a seed. And the
// sampling stage fed as both benchmarks feed it.
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "model/span.hpp"
#include "pipeline/pipeline.hpp"

namespace tailgate::bench {

inline std::vector<model::Span> make_traces(std::size_t traces, std::size_t spans_per_trace,
                                            std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const auto resource = std::make_shared<const model::Resource>(model::Resource{
      {{"service.name", std::string("orders")}, {"host.name", std::string("trading-1")}}});
  std::vector<model::Span> out;
  out.reserve(traces * spans_per_trace);
  for (std::size_t t = 0; t < traces; ++t) {
    model::TraceId id{};
    for (auto& b : id) b = static_cast<std::uint8_t>(rng());
    model::SpanId root{};
    for (auto& b : root) b = static_cast<std::uint8_t>(rng());
    for (std::size_t i = 0; i < spans_per_trace; ++i) {
      model::Span s;
      s.trace_id = id;
      if (i == 0) {
        s.span_id = root;
      } else {
        for (auto& b : s.span_id) b = static_cast<std::uint8_t>(rng());
        s.parent_span_id = root;
      }
      s.start_unix_ns = 1'700'000'000'000'000'000ULL + i * 1000;
      s.end_unix_ns = s.start_unix_ns + 400'000;
      s.kind = model::SpanKind::Internal;
      s.name =
          i == 0 ? "signal_generation" : (i == 2 ? "api.exchange.place_order" : "order.validate");
      s.status = rng() % 100 == 0 ? model::StatusCode::Error : model::StatusCode::Unset;
      s.attributes = {{"order.symbol", std::string("BTCUSDT")}, {"order.side", std::string("buy")},
                      {"order.quantity", std::int64_t{10}},     {"order.price", 43250.5},
                      {"order.type", std::string("limit")},     {"risk.passed", true}};
      s.resource = resource;
      out.push_back(std::move(s));
    }
  }
  return out;
}

/// The sampling stage over `spans`, 512 at a time, letting each chunk's decision_wait (set to
/// 1 ms by the callers) pass before the next.
inline void feed_stage(pipeline::Pipeline& stage, model::SpanBatch& spans) {
  std::uint64_t now = 0;
  for (std::size_t at = 0; at < spans.size(); at += 512) {
    model::SpanBatch chunk(
        std::make_move_iterator(spans.begin() + static_cast<std::ptrdiff_t>(at)),
        std::make_move_iterator(spans.begin() +
                                static_cast<std::ptrdiff_t>(std::min(at + 512, spans.size()))));
    stage.ingest(chunk, now);
    now += 2'000'000;
    stage.tick(now);
    stage.flush();
  }
}

}  // namespace tailgate::bench
