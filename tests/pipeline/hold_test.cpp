// The peers hold (pipeline/hold.cpp): sampled-out spans of cross-process traces, bounded in bytes
// and in time, taken back by a peer's keep.
#include "pipeline/hold.hpp"

#include <catch2/catch.hpp>

#include "support/span_builder.hpp"

using namespace tailgate;

namespace {

constexpr std::uint64_t kSecond = 1'000'000'000;
const auto kResource = testing::test_resource("orders");

model::SpanBatch one_span(std::uint64_t trace) {
  model::SpanBatch b;
  b.push_back(testing::make_span(trace, 1, kResource));
  return b;
}

}  // namespace

TEST_CASE("hold: a rescue takes the trace's spans, and time and bytes let the rest go",
          "[pipeline][peers]") {
  pipeline::Hold hold(10 * kSecond, 1 << 20);
  CHECK(hold.add(testing::trace_id_of(1), one_span(1), 0) == 0);
  CHECK(hold.add(testing::trace_id_of(1), one_span(1), kSecond) == 0);
  CHECK(hold.add(testing::trace_id_of(2), one_span(2), kSecond) == 0);
  CHECK(hold.take(testing::trace_id_of(1)).size() == 2);
  CHECK(hold.expire(10 * kSecond) == 0);  // trace 2 entered at 1 s
  CHECK(hold.expire(11 * kSecond) == 1);
  CHECK(hold.take_too_late(testing::trace_id_of(2)) == 1);
  CHECK(hold.spans() == 0);
  CHECK(hold.bytes() == 0);
}

TEST_CASE("hold: rescues in a stream leave no unbounded bookkeeping behind", "[pipeline][peers]") {
  // A long hold_time and every trace rescued at once: nothing expires and nothing is let go for
  // its spans' bytes, yet the order the traces entered in must stay within hold_bytes too.
  constexpr std::size_t kBytes = 64 * 1024;
  pipeline::Hold hold(3600 * kSecond, kBytes);
  for (std::uint64_t t = 1; t <= 100'000; ++t) {
    hold.add(testing::trace_id_of(t), one_span(t), t);
    REQUIRE(hold.take(testing::trace_id_of(t)).size() == 1);
  }
  CHECK(hold.bytes() <= kBytes);
  CHECK(hold.arrivals() <= kBytes / 32);
  CHECK(hold.arrivals() > 0);
}
