// The pipeline's side of peers (pipeline/peer_follow.cpp, pipeline/hold.cpp), driven directly with
// an injected clock: which keeps are shared, how other agents' keeps are followed, and the hold.
#include <catch2/catch.hpp>

#include "pipeline/pipeline.hpp"
#include "support/pipeline_harness.hpp"
#include "support/span_builder.hpp"

using namespace tailgate;
using namespace std::chrono_literals;
using telemetry::DecisionTrigger;
using testing::kMs;

namespace {

config::SamplingConfig policies() {
  config::SamplingConfig c;
  c.decision_wait = 100ms;
  c.max_trace_age = 30s;
  c.policies = {config::ErrorPolicyConfig{}, config::LatencyPolicyConfig{},
                config::BasePolicyConfig{.probability = 0.0}};
  return c;
}

// Before the pipeline, which is given them.
struct PeerQueues {
  model::KeepQueue publish{64}, follow{64};
};

struct Harness : PeerQueues, testing::Harness {
  explicit Harness(std::chrono::milliseconds hold_time = 1s, std::size_t hold_bytes = 1 << 20,
                   const config::SamplingConfig& c = policies())
      : testing::Harness(c, 1 << 16, nullptr, {&publish, &follow, hold_time, hold_bytes}) {}

  void peer_keeps(std::uint64_t trace, const std::string& policy = "error") {
    REQUIRE(follow.try_push({testing::trace_id_of(trace), policy, 1.0}));
  }
  std::vector<model::Keep> published() {
    std::vector<model::Keep> keeps;
    publish.pop_all(keeps);
    return keeps;
  }
};

const auto kResource = testing::test_resource("orders");

/// This agent's part of a trace: a SERVER span whose parent is in another process, and a child.
model::Span server(std::uint64_t trace) {
  auto s = testing::make_span(trace, 1, kResource);
  s.status = model::StatusCode::Unset;
  s.kind = model::SpanKind::Server;
  s.parent_is_remote = true;
  return s;
}
model::Span child(std::uint64_t trace, bool error = false) {
  auto s = testing::make_span(trace, 2, kResource);
  s.parent_span_id = server(trace).span_id;
  s.kind = model::SpanKind::Internal;
  s.status = error ? model::StatusCode::Error : model::StatusCode::Unset;
  return s;
}

std::string policy_of(const model::Span& s) {
  for (const auto& a : s.attributes) {
    if (a.key == "sampling.policy") return std::get<std::string>(a.value);
  }
  return "";
}

}  // namespace

TEST_CASE("peers: a keep by error of a cross-process trace is published once, when it crosses",
          "[pipeline][peers]") {
  Harness h;
  h.send({child(1, true)}, 0);  // kept at once; nothing yet says the trace left this process
  CHECK(h.exported() == 1);
  CHECK(h.published().empty());
  h.send({server(1)}, 5);  // its parent is remote: other agents hold the rest
  const auto keeps = h.published();
  REQUIRE(keeps.size() == 1);
  CHECK(keeps[0].trace_id == testing::trace_id_of(1));
  CHECK(keeps[0].policy == "error");
  CHECK(keeps[0].probability == 1.0);
  h.send({server(2), child(2)}, 10);  // dropped (base 0): nothing to share
  h.at(200);
  CHECK(h.published().empty());
}

TEST_CASE("peers: a peer's keep takes a buffered trace whole, marked as the peer's",
          "[pipeline][peers]") {
  Harness h;
  h.send({child(3), server(3)}, 0);
  h.peer_keeps(3, "latency");
  h.at(10);  // before decision_wait
  REQUIRE(h.exported() == 2);
  for (const auto& s : h.delivered) CHECK(policy_of(s) == "peer:latency");
  CHECK(h.counters.decisions_of(DecisionTrigger::Peer) == 1);
  CHECK(h.published().empty());  // a followed keep is never published again
  CHECK(h.accounts());
}

TEST_CASE("peers: a peer's keep for a trace not seen yet keeps its spans when they come",
          "[pipeline][peers]") {
  Harness h;
  h.peer_keeps(4);
  h.at(0);
  h.send({child(4), server(4)}, 5);
  CHECK(h.exported() == 2);
  CHECK(policy_of(h.delivered[0]) == "peer:error");
  CHECK(h.accounts());
}

TEST_CASE("peers: a keep after the local drop rescues the trace from the hold",
          "[pipeline][peers]") {
  Harness h(1s);
  h.send({child(5), server(5)}, 0);
  h.at(100);  // decided: sampled out, held
  CHECK(h.exported() == 0);
  CHECK(h.pipeline.hold().spans() == 2);
  CHECK(h.accounts());
  h.send({testing::make_span(5, 3, kResource)}, 150);  // a late span follows the drop: held too
  CHECK(h.pipeline.hold().spans() == 3);
  h.peer_keeps(5);
  h.at(900);
  CHECK(h.exported() == 3);
  CHECK(h.counters.peer_spans_rescued.load() == 3);
  CHECK(h.pipeline.hold().spans() == 0);
  h.send({testing::make_span(5, 4, kResource)}, 950);  // and later spans follow the keep
  CHECK(h.exported() == 4);
  CHECK(h.accounts());
}

TEST_CASE("peers: a keep after hold_time is counted too late, nothing else lost",
          "[pipeline][peers]") {
  Harness h(1s);
  h.send({child(6), server(6)}, 0);
  h.at(100);
  h.at(1100);  // held since 100 ms: let go at 1100
  CHECK(h.pipeline.hold().spans() == 0);
  CHECK(h.counters.spans_sampled_out.load() == 2);
  h.peer_keeps(6);
  h.at(1200);
  CHECK(h.exported() == 0);
  CHECK(h.counters.peer_spans_too_late.load() == 2);
  CHECK(h.accounts());
}

TEST_CASE("peers: the hold stays within hold_bytes, oldest let go first", "[pipeline][peers]") {
  Harness h(10s, 16 * 1024);
  for (std::uint64_t t = 100; t < 300; ++t) h.send({server(t), child(t)}, 0);
  h.at(100);
  CHECK(h.pipeline.hold().bytes() <= 16 * 1024);
  CHECK(h.pipeline.hold().spans() > 0);
  CHECK(h.accounts());
  h.peer_keeps(100);  // the oldest: let go
  h.peer_keeps(299);  // the newest: still held
  h.at(200);
  CHECK(h.exported() == 2);
  CHECK(h.counters.peer_spans_too_late.load() == 2);
}

TEST_CASE("peers off: nothing is held, shared or followed", "[pipeline][peers]") {
  telemetry::Counters counters;
  model::SpanQueue in(1024), out(1024);
  pipeline::Pipeline p(policies(), in, 1024, out, counters, [] { return 0; });
  model::SpanBatch spans = {child(7), server(7)};
  p.ingest(spans, 0);
  p.tick(100 * kMs);
  CHECK(p.hold().spans() == 0);
  CHECK(counters.spans_sampled_out.load() == 2);
}

TEST_CASE("peers: a keep rescues held spans even when a late span is buffered beside them",
          "[pipeline][peers]") {
  auto c = policies();
  c.decision_cache_entries = 8;  // one bucket: the drop below is soon forgotten
  Harness h(1s, 1 << 20, c);
  h.send({child(8), server(8)}, 0);
  h.at(100);  // sampled out, held
  for (std::uint64_t t = 1000; t < 1020; ++t) {
    auto local = testing::make_span(t, 0, kResource);  // a root here, no remote part: not held
    local.status = model::StatusCode::Unset;
    h.send({std::move(local)}, 110);
  }
  h.at(300);  // those decided: trace 8's drop is out of the cache
  h.send({testing::make_span(8, 3, kResource)}, 310);  // late: buffered as a new trace
  REQUIRE(h.pipeline.table().traces() == 1);
  h.peer_keeps(8);
  h.at(320);
  CHECK(h.exported() == 3);  // the held two and the buffered one
  CHECK(h.pipeline.hold().spans() == 0);
  CHECK(h.accounts());
}

TEST_CASE("peers: a late error after the local drop keeps the trace: held spans back, published",
          "[pipeline][peers]") {
  Harness h(1s);
  h.send({child(9), server(9)}, 0);
  h.at(100);  // decided: sampled out, held
  CHECK(h.exported() == 0);
  REQUIRE(h.pipeline.hold().spans() == 2);
  auto late = testing::make_span(9, 3, kResource);
  late.parent_span_id = server(9).span_id;
  late.status = model::StatusCode::Error;
  h.send({late}, 150);       // the error someone will look for revises the drop
  CHECK(h.exported() == 3);  // the held part comes back with it
  CHECK(h.pipeline.hold().spans() == 0);
  for (const auto& s : h.delivered) CHECK(policy_of(s) == "error");
  const auto keeps = h.published();  // other agents hold the rest: they hear of it
  REQUIRE(keeps.size() == 1);
  CHECK(keeps[0].trace_id == testing::trace_id_of(9));
  CHECK(keeps[0].policy == "error");
  h.send({testing::make_span(9, 4, kResource)}, 200);  // and later spans follow the keep
  CHECK(h.exported() == 4);
  CHECK(h.accounts());
}
