// The trace table against a plain std::map model: random adds and takes over ids that collide in
// the index on purpose (sequential, zero-padded 64-bit, random), through growth and back to empty.
#include "pipeline/trace_table.hpp"

#include <map>
#include <random>

#include <catch2/catch.hpp>

#include "support/span_builder.hpp"
#include "wire/pack.hpp"

using namespace tailgate;

namespace {

model::TraceId id_of(std::uint64_t kind, std::uint64_t n) {
  model::TraceId id{};
  if (kind == 0) {  // sequential in the last byte(s): neighbours in any low-bit index
    id[15] = static_cast<std::uint8_t>(n);
    id[14] = static_cast<std::uint8_t>(n >> 8);
  } else if (kind == 1) {  // a 64-bit id: the high half zero
    for (int i = 0; i < 8; ++i) id[8 + i] = static_cast<std::uint8_t>((n * 0x9E3779B1u) >> (i * 4));
  } else {
    id = testing::trace_id_of(n);
  }
  id[0] = static_cast<std::uint8_t>(id[0] ^ (kind << 6));  // kinds never share an id
  return id;
}

model::Span span_of(const model::TraceId& id, bool root) {
  auto s = testing::make_span(1, root ? 0 : 1, nullptr);
  s.trace_id = id;
  return s;
}

// The bytes each span of the last trace added to its block, traces first_trace.. packed in turn
// through one scratch, of lengths cycled from `lengths`.
std::vector<std::size_t> growth_of_last(const std::vector<std::size_t>& lengths, std::size_t traces,
                                        std::size_t first_trace = 0) {
  model::KeyGenerations keys;
  wire::PackScratch scratch;
  std::vector<std::size_t> grew;
  for (std::size_t t = first_trace; t < first_trace + traces; ++t) {
    model::PackedSpans trace;
    grew.clear();
    for (std::size_t i = 0; i < lengths[(t - first_trace) % lengths.size()]; ++i) {
      grew.push_back(wire::pack(testing::make_span(t, i, nullptr), trace, keys, scratch));
    }
  }
  return grew;
}

}  // namespace

TEST_CASE("a trace's block grows once for the spans traces of its length get, exactly else",
          "[pipeline]") {
  // After 199 traces of 4 spans, the first span's block holds the 200th trace.
  const auto usual = growth_of_last({4}, 200);
  REQUIRE(usual.size() == 4);
  CHECK(usual[0] > 0);
  CHECK(usual[1] == 0);
  CHECK(usual[2] == 0);
  CHECK(usual[3] == 0);
  // Traces of 4 and of 1 span alike: a second span is not all but sure, so a single span's block
  // is as exact as the very first trace's (nothing learnt).
  const auto mixed = growth_of_last({4, 1}, 200);
  REQUIRE(mixed.size() == 1);
  CHECK(mixed == growth_of_last({1}, 1, 199));
}

TEST_CASE("the trace table agrees with a map through growth, collisions and emptying",
          "[pipeline]") {
  pipeline::TraceTable table(1000);
  std::map<model::TraceId, std::size_t> model;  // id -> spans held
  std::mt19937_64 rng(7);
  std::uint64_t now = 0;
  std::vector<model::TraceId> ids;
  for (std::uint64_t kind = 0; kind < 3; ++kind)
    for (std::uint64_t n = 0; n < 3000; ++n) ids.push_back(id_of(kind, n));

  for (int round = 0; round < 4; ++round) {
    // Fill: most ids get spans, some several.
    for (int step = 0; step < 20'000; ++step) {
      const auto& id = ids[rng() % ids.size()];
      const bool root = rng() % 4 == 0;
      auto& t = table.add(span_of(id, root), ++now);
      ++model[id];
      REQUIRE(t.spans.size() == model[id]);
    }
    REQUIRE(table.traces() == model.size());
    // Take about half, checking every id on the way.
    for (const auto& id : ids) {
      const auto it = model.find(id);
      auto* found = table.find(id);
      REQUIRE((found != nullptr) == (it != model.end()));
      if (it == model.end()) continue;
      REQUIRE(found->spans.size() == it->second);
      if (rng() % 2 == 0 || round == 3) {
        REQUIRE(table.take(id).size() == it->second);
        REQUIRE(table.find(id) == nullptr);
        model.erase(it);
      }
    }
    REQUIRE(table.traces() == model.size());
    std::size_t spans = 0;
    for (const auto& [id, n] : model) spans += n;
    REQUIRE(table.spans() == spans);
  }
  // The last round took everything: empty, and usable again.
  CHECK(table.traces() == 0);
  CHECK(table.spans() == 0);
  CHECK(table.bytes() == 0);
  CHECK_FALSE(table.next_oldest().has_value());
  CHECK_FALSE(table.next_root_due(UINT64_MAX).has_value());
  table.add(span_of(ids[5], true), ++now);
  CHECK(table.find(ids[5]) != nullptr);
  CHECK(table.next_oldest() == ids[5]);
}

TEST_CASE("a trace taken and seen again is a new trace: its old deadlines are stale",
          "[pipeline]") {
  pipeline::TraceTable table(1000);
  const auto id = id_of(2, 42);
  table.add(span_of(id, true), 10);  // root due at 1010
  CHECK(table.take(id).size() == 1);
  table.add(span_of(id, false), 500);  // no root this time
  CHECK_FALSE(table.next_root_due(2000).has_value());
  CHECK(table.next_oldest(499) == std::nullopt);
  CHECK(table.next_oldest(500) == id);
}

// Found by an outside attack: one trace waiting for max_trace_age kept the queue entry of every
// trace that arrived after it and was decided early, +300 MiB in 30 s, none of it counted.
TEST_CASE("the arrival queues do not grow behind one trace that waits", "[pipeline]") {
  model::KeyGenerations keys;
  pipeline::TraceTable table(1'000'000'000, &keys);
  table.add(testing::make_span(1, 2, nullptr), 0);  // not a root: waits
  for (std::uint64_t t = 2; t < 100'000; ++t) {
    table.add(testing::make_span(t, 1, nullptr), t);
    (void)table.take(testing::make_span(t, 1, nullptr).trace_id);  // decided early
  }
  CHECK(table.traces() == 1);
  CHECK(table.queued() <= 2 * 4096 + 8);
  CHECK(table.next_oldest() == testing::make_span(1, 2, nullptr).trace_id);
}
