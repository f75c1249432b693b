// The resources buffered traces keep alive, counted once each in the store's bytes
// (model/resource_ledger.hpp): a request's resource is shared by its spans, and the one span of
// it that a store still holds keeps all of it. Charged a share as the trace first named it, one
// held trace kept thousands of 3 MB resources for a few kilobytes of budget (outside attack:
// +890 MiB RSS past max_buffered_bytes, 14 MiB counted).
#include <catch2/catch.hpp>

#include "pipeline/hold.hpp"
#include "pipeline/pipeline.hpp"
#include "pipeline/trace_table.hpp"
#include "support/span_builder.hpp"

using namespace tailgate;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::size_t kResourceBytes = 256 * 1024;
constexpr std::uint64_t kHeldTrace = 7;  // never gets a root: waits for max_trace_age

std::shared_ptr<const model::Resource> big_resource(std::uint64_t n) {
  return std::make_shared<const model::Resource>(model::Resource{
      {{"service.name", std::string(kResourceBytes, static_cast<char>('a' + n % 26))},
       {"request", static_cast<std::int64_t>(n)}}});
}

/// One request: a child span of the held trace, then `others` one-span traces, all under one
/// large resource of its own.
model::SpanBatch request(std::uint64_t n, std::size_t others) {
  const auto resource = big_resource(n);
  model::SpanBatch batch;
  auto held = testing::make_span(kHeldTrace, n + 1, resource);
  held.status = model::StatusCode::Unset;
  batch.push_back(std::move(held));
  for (std::size_t i = 0; i < others; ++i) {
    auto root = testing::make_span(1000 + n * others + i, 0, resource);
    root.status = model::StatusCode::Unset;
    batch.push_back(std::move(root));
  }
  return batch;
}

}  // namespace

TEST_CASE("the trace table counts each resource its traces name once, in full", "[pipeline]") {
  pipeline::TraceTable table(2'000 * kMs);
  for (std::uint64_t n = 0; n < 8; ++n) {
    for (auto& span : request(n, 9)) table.add(std::move(span), 0);
  }
  CHECK(table.resources() == 8);
  CHECK(table.bytes() >= 8 * kResourceBytes);
  // The other traces go: the held one still keeps all eight resources, and counts them.
  for (std::uint64_t id = 1000; id < 1000 + 8 * 9; ++id) (void)table.take(testing::trace_id_of(id));
  CHECK(table.traces() == 1);
  CHECK(table.bytes() >= 8 * kResourceBytes);
  (void)table.take(testing::trace_id_of(kHeldTrace));
  CHECK(table.bytes() == 0);
  CHECK(table.resources() == 0);
}

TEST_CASE("a trace holding large resources past max_buffered_bytes is decided for memory",
          "[pipeline]") {
  config::SamplingConfig c;
  c.decision_wait = 1s;
  c.max_trace_age = 3600s;
  c.max_buffered_bytes = 4 << 20;
  c.stress_enter = 2.0;  // no shedding: the bound alone
  c.stress_exit = 1.5;
  c.policies = {config::ErrorPolicyConfig{}, config::BasePolicyConfig{.probability = 0.0}};
  telemetry::Counters counters;
  model::SpanQueue in(1 << 20), out(1 << 20);
  pipeline::Pipeline pipeline(c, in, 1 << 20, out, counters, [] { return 0; });
  std::uint64_t received = 0;
  // 64 requests of 100 spans, 2 s apart, each under its own 256 KiB resource (16 MiB in all).
  // Each request's other traces are decided (and dropped) 1 s after they came, so that soon the
  // held trace is all that is buffered, and it alone keeps every resource alive.
  for (std::uint64_t n = 0; n < 64; ++n) {
    auto batch = request(n, 99);
    received += batch.size();
    pipeline.ingest(batch, n * 2'000 * kMs);
    pipeline.flush();
    pipeline.tick(n * 2'000 * kMs + 1'500 * kMs);
    pipeline.flush();
    CHECK(pipeline.table().bytes() <= c.max_buffered_bytes);
  }
  CHECK(counters.decisions_of(telemetry::DecisionTrigger::Memory) > 0);
  CHECK(received == counters.spans_kept.load() + counters.spans_sampled_out.load() +
                        counters.dropped_after_decode() + pipeline.table().spans() +
                        pipeline.hold().spans());
}

TEST_CASE("hold: the resources held spans keep count in hold_bytes", "[pipeline][peers]") {
  constexpr std::uint64_t kSecond = 1'000'000'000;
  pipeline::Hold hold(3600 * kSecond, 1 << 20);
  std::size_t let_go = 0;
  for (std::uint64_t n = 0; n < 16; ++n) {
    // Only the request's first span is held; its 99 others still share the resource as it is.
    auto batch = request(n, 99);
    let_go += hold.add(testing::trace_id_of(100 + n), std::move(batch[0]), n);
    CHECK(hold.bytes() <= (1u << 20));
  }
  CHECK(let_go >= 12);  // four 256 KiB resources fit in 1 MiB, at most
  CHECK(hold.traces() <= 4);
  hold.release_all();
  CHECK(hold.bytes() == 0);
}
