// The trace log's bookkeeping: what it remembers of kept and sampled-out traces, what it says of
// ones it never saw and of ones pushed out of its window, and the export outcome per trace.
#include "lookup/trace_log.hpp"

#include <catch2/catch.hpp>

namespace tailgate::lookup {
namespace {

model::TraceId id_of(std::uint64_t n) {
  model::TraceId id{};
  for (int i = 0; i < 8; ++i) id[15 - i] = static_cast<std::uint8_t>(n >> (8 * i));
  id[0] = 0xab;
  return id;
}

Decided decided(std::uint64_t n, bool kept, std::uint64_t at_ns = 1000) {
  Decided d;
  d.id = id_of(n);
  d.kept = kept;
  d.trigger = kept ? telemetry::DecisionTrigger::Root : telemetry::DecisionTrigger::Timeout;
  d.policy = kept ? 1 : 0;
  d.probability = kept ? 1.0 : 0.1;
  d.decided_ns = at_ns;
  d.first_arrival_ns = at_ns - 10;
  d.spans = 3;
  d.policy_names = std::make_shared<PolicyNames>(PolicyNames{"base", "errors"});
  d.export_state = kept ? ExportState::Queued : ExportState::None;
  return d;
}

}  // namespace

TEST_CASE("trace log: a kept trace is remembered with its policy, trigger and export outcome",
          "[lookup]") {
  TraceLog log(16);
  log.record(decided(1, true));
  auto found = log.find(id_of(1));
  REQUIRE(found);
  CHECK(found->kept);
  CHECK(found->policy_name() == "errors");
  CHECK(found->trigger == telemetry::DecisionTrigger::Root);
  CHECK(found->probability == 1.0);
  CHECK(found->spans == 3);
  CHECK(found->export_state == ExportState::Queued);

  const std::vector<model::TraceId> ids{id_of(1)};
  log.set_export_state(ids, ExportState::Retrying);
  CHECK(log.find(id_of(1))->export_state == ExportState::Retrying);
  log.set_export_state(ids, ExportState::Sent);
  CHECK(log.find(id_of(1))->export_state == ExportState::Sent);
}

TEST_CASE("trace log: a sampled-out trace is remembered, and export news does not touch it",
          "[lookup]") {
  TraceLog log(16);
  log.record(decided(2, false));
  const std::vector<model::TraceId> ids{id_of(2)};
  log.set_export_state(ids, ExportState::Sent);
  const auto found = log.find(id_of(2));
  REQUIRE(found);
  CHECK_FALSE(found->kept);
  CHECK(found->policy_name() == "base");
  CHECK(found->trigger == telemetry::DecisionTrigger::Timeout);
  CHECK(found->export_state == ExportState::None);
}

TEST_CASE("trace log: an id never recorded is unknown", "[lookup]") {
  TraceLog log(16);
  log.record(decided(1, true));
  CHECK_FALSE(log.find(id_of(99)));
  TraceLog off(0);
  off.record(decided(1, true));
  CHECK_FALSE(off.find(id_of(1)));
  CHECK(off.window().capacity == 0);
}

TEST_CASE("trace log: the oldest decisions are forgotten past the window, the rest kept",
          "[lookup]") {
  constexpr std::size_t kCapacity = 100;
  TraceLog log(kCapacity);
  // Several times round the ring: every lookup must still find exactly the last kCapacity.
  for (std::uint64_t n = 1; n <= 1000; ++n) log.record(decided(n, n % 3 == 0, n * 1000));
  for (std::uint64_t n = 1; n <= 900; ++n) CHECK_FALSE(log.find(id_of(n)));
  for (std::uint64_t n = 901; n <= 1000; ++n) {
    const auto found = log.find(id_of(n));
    REQUIRE(found);
    CHECK(found->decided_ns == n * 1000);
    CHECK(found->kept == (n % 3 == 0));
  }
  const auto w = log.window();
  CHECK(w.capacity == kCapacity);
  CHECK(w.held == kCapacity);
  CHECK(w.recorded == 1000);
  CHECK(w.oldest_decided_ns == 901 * 1000);
  // Export news of a forgotten trace is ignored, not misfiled onto another.
  const std::vector<model::TraceId> gone{id_of(5)};
  log.set_export_state(gone, ExportState::Failed);
  for (std::uint64_t n = 901; n <= 1000; ++n)
    CHECK(log.find(id_of(n))->export_state != ExportState::Failed);
}

TEST_CASE("trace log: a trace decided again keeps one record, the newer", "[lookup]") {
  TraceLog log(4);
  log.record(decided(1, false, 100));
  log.record(decided(1, true, 200));
  CHECK(log.find(id_of(1))->kept);
  CHECK(log.find(id_of(1))->decided_ns == 200);
  for (std::uint64_t n = 2; n <= 5; ++n) log.record(decided(n, false, 300 + n));
  CHECK_FALSE(log.find(id_of(1)));
  for (std::uint64_t n = 2; n <= 5; ++n) CHECK(log.find(id_of(n)));
}

TEST_CASE("trace log: a failure of any part of a trace's export is what it reports", "[lookup]") {
  TraceLog log(4);
  log.record(decided(1, true));
  const std::vector<model::TraceId> ids{id_of(1)};
  log.set_export_state(ids, ExportState::QueueFull);
  log.set_export_state(ids, ExportState::Sent);  // its other half went through
  CHECK(log.find(id_of(1))->export_state == ExportState::QueueFull);
}

TEST_CASE("trace log: recent kept traces, newest first", "[lookup]") {
  TraceLog log(32);
  for (std::uint64_t n = 1; n <= 20; ++n) log.record(decided(n, n % 2 == 0, n));
  const auto kept = log.recent_kept(3);
  REQUIRE(kept.size() == 3);
  CHECK(kept[0].id == id_of(20));
  CHECK(kept[1].id == id_of(18));
  CHECK(kept[2].id == id_of(16));
}

TEST_CASE("trace log: producers are counted once each", "[lookup]") {
  Decided d;
  const auto a = std::make_shared<const model::Resource>();
  const auto b = std::make_shared<const model::Resource>();
  for (int i = 0; i < 5; ++i) d.add_producer(a);
  d.add_producer(b);
  d.add_producer(a);
  CHECK(d.producer_count == 2);
  CHECK(d.producers[0] == a);
  CHECK(d.producers[1] == b);
}

TEST_CASE("trace ids: 32 hex digits, either case, not all zero", "[lookup]") {
  const auto id = parse_trace_id("4BF92F3577B34DA6a3ce929d0e0e4736");
  REQUIRE(id);
  CHECK(to_hex(*id) == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK_FALSE(parse_trace_id("4bf92f3577b34da6a3ce929d0e0e473"));
  CHECK_FALSE(parse_trace_id("4bf92f3577b34da6a3ce929d0e0e47366"));
  CHECK_FALSE(parse_trace_id("4bf92f3577b34da6a3ce929d0e0e473g"));
  CHECK_FALSE(parse_trace_id("00000000000000000000000000000000"));
}

}  // namespace tailgate::lookup
