// Key table generations: a table that junk filled is replaced for new traces, the old one lives
// while a trace refers to it and is freed with the last, and few live at once.
#include "model/key_generations.hpp"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "model/packed_spans.hpp"

using namespace tailgate;

namespace {

// Keys never seen before, `n` of them from `first` on, offered to `table`.
void offer_junk(model::KeyTable& table, std::size_t first, std::size_t n) {
  for (std::size_t i = first; i < first + n; ++i) (void)table.intern("junk." + std::to_string(i));
}

// Fills the current table and turns away one key short of its renewal.
void fill_to_the_brink(model::KeyGenerations& keys, std::size_t first) {
  offer_junk(keys.current(), first,
             model::KeyTable::kMaxKeys + model::KeyGenerations::kMissesToRenew - 1);
}

}  // namespace

TEST_CASE("a full table is replaced for new traces and freed with its last trace", "[model]") {
  model::KeyGenerations keys;
  model::PackedSpans old_trace;
  old_trace.start(model::TraceId{1}, keys.for_new_trace());
  const auto* old_table = old_trace.keys();
  fill_to_the_brink(keys, 0);
  CHECK(keys.current().misses() == model::KeyGenerations::kMissesToRenew - 1);
  CHECK(keys.for_new_trace().get() == old_table);  // not yet: one miss short
  offer_junk(keys.current(), 1'000'000, 1);
  const auto* new_table = keys.for_new_trace().get();
  CHECK(new_table != old_table);
  CHECK(keys.renewals() == 1);
  // Known keys intern again in the new table.
  CHECK(keys.current().intern("order.symbol") == std::uint16_t{0});
  // The old trace's table lives on, found for its later spans, and is counted.
  CHECK(keys.live() == 2);
  CHECK(keys.find(old_table) == old_table);
  CHECK(keys.find(new_table) == new_table);
  CHECK(keys.retired_bytes() == old_table->memory_bytes());
  CHECK(keys.retired_bytes() > model::KeyTable::kMaxKeys * 16);
  // Its last trace gone, it is freed: nothing counted, nothing found.
  old_trace = model::PackedSpans{};
  CHECK(keys.live() == 1);
  CHECK(keys.retired_bytes() == 0);
  CHECK(keys.find(old_table) == nullptr);
}

TEST_CASE("a full table no trace refers to is freed when replaced", "[model]") {
  model::KeyGenerations keys;
  fill_to_the_brink(keys, 0);
  offer_junk(keys.current(), 1'000'000, 1);
  (void)keys.for_new_trace();
  CHECK(keys.renewals() == 1);
  CHECK(keys.live() == 1);
  CHECK(keys.retired_bytes() == 0);
}

// An attacker who keeps a trace open in every table cannot make more than kMaxLive of them live:
// past that, keys stay inline until an old table's traces go.
TEST_CASE("at most kMaxLive key tables are live", "[model]") {
  model::KeyGenerations keys;
  std::vector<model::PackedSpans> open(model::KeyGenerations::kMaxLive + 2);
  for (std::size_t g = 0; g < open.size(); ++g) {
    open[g].start(model::TraceId{static_cast<std::uint8_t>(g + 1)}, keys.for_new_trace());
    fill_to_the_brink(keys, g * 100'000);
    offer_junk(keys.current(), g * 100'000 + 99'999, 1);
    CHECK(keys.live() <= model::KeyGenerations::kMaxLive);
  }
  (void)keys.for_new_trace();
  CHECK(keys.live() == model::KeyGenerations::kMaxLive);
  CHECK(keys.renewals() == model::KeyGenerations::kMaxLive - 1);
  // The oldest table's trace gone, the next trace gets a fresh table.
  open[0] = model::PackedSpans{};
  const auto* before = &keys.current();
  CHECK(keys.for_new_trace().get() != before);
  CHECK(keys.renewals() == model::KeyGenerations::kMaxLive);
  CHECK(keys.live() <= model::KeyGenerations::kMaxLive);
}
