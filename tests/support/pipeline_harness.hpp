#pragma once
// The pipeline stage driven directly with an injected clock (no thread, no sleeping), counting
// what it was sent so that a test can check the accounting identity.

#include <chrono>
#include <cstdint>
#include <vector>

#include "pipeline/pipeline.hpp"

namespace tailgate::testing {

inline constexpr std::uint64_t kMs = 1'000'000;

inline config::SamplingConfig keep_all() {
  config::SamplingConfig c;
  c.decision_wait = std::chrono::seconds(2);
  c.max_trace_age = std::chrono::seconds(30);
  c.policies = {config::ErrorPolicyConfig{}, config::LatencyPolicyConfig{},
                config::BasePolicyConfig{.probability = 1.0}};
  return c;
}

inline config::SamplingConfig keep_none_but_errors() {
  auto c = keep_all();
  c.policies = {config::ErrorPolicyConfig{}, config::LatencyPolicyConfig{},
                config::BasePolicyConfig{.probability = 0.0}};
  return c;
}

struct Harness {
  explicit Harness(const config::SamplingConfig& c, std::size_t out_capacity = 1 << 20,
                   scrub::Scrubber* scrubber = nullptr, pipeline::PeerLinks peers = {})
      : in(1 << 20),
        out(out_capacity),
        pipeline(
            c, in, 1 << 20, out, counters, [] { return 0; }, nullptr, scrubber, peers) {}

  void send(std::vector<model::Span> spans, std::uint64_t now_ms) {
    received += spans.size();
    pipeline.ingest(spans, now_ms * kMs);
    pipeline.flush();
  }
  void at(std::uint64_t now_ms) {
    pipeline.tick(now_ms * kMs);
    pipeline.flush();
  }
  std::size_t exported() {
    model::SpanBatch got;
    out.pop_all(got, std::chrono::milliseconds(0));
    for (auto& s : got) delivered.push_back(std::move(s));
    return delivered.size();
  }
  /// received = kept + sampled out + dropped + buffered + held, to the span.
  bool accounts() {
    exported();
    return received == counters.spans_kept.load() + counters.spans_sampled_out.load() +
                           counters.dropped_after_decode() + pipeline.table().spans() +
                           pipeline.hold().spans();
  }

  telemetry::Counters counters;
  model::SpanQueue in, out;
  pipeline::Pipeline pipeline;
  std::uint64_t received = 0;
  model::SpanBatch delivered;
};

}  // namespace tailgate::testing
