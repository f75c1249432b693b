#include "telemetry/drop_rate.hpp"

#include <catch2/catch.hpp>

using namespace tailgate::telemetry;

namespace {
constexpr std::uint64_t kSecond = 1'000'000'000;
Totals totals(std::uint64_t received, std::uint64_t dropped) {
  return {.received = received,
          .dropped = dropped,
          .dropped_before_decode = dropped,
          .sampled_out = received / 2,
          .export_requests = received / 100,
          .export_failures = 0};
}
}  // namespace

TEST_CASE("windows are deltas over the last minute, five minutes and since start", "[telemetry]") {
  DropRateWindows w(0);
  // 1,000 spans a second, one drop a second, for ten minutes.
  for (std::uint64_t s = 1; s <= 600; ++s) w.sample(s * kSecond, totals(1000 * s, s));
  const auto now = totals(600'000, 600);
  const auto windows = w.windows(600 * kSecond, now);
  REQUIRE(windows.size() == 3);
  CHECK(windows[0].name == "1m");
  CHECK(windows[0].seconds == Approx(60));
  CHECK(windows[0].delta.received == 60'000);
  CHECK(windows[0].delta.dropped == 60);
  CHECK(windows[0].drop_rate() == Approx(60.0 / 60'060));
  CHECK(windows[1].name == "5m");
  CHECK(windows[1].delta.received == 300'000);
  CHECK(windows[2].name == "since_start");
  CHECK(windows[2].delta.received == 600'000);
}

TEST_CASE("at start-up a window covers what there is", "[telemetry]") {
  DropRateWindows w(0);
  w.sample(10 * kSecond, totals(100, 0));
  const auto windows = w.windows(20 * kSecond, totals(200, 1));
  CHECK(windows[0].seconds == Approx(20));
  CHECK(windows[0].delta.received == 200);
  CHECK(windows[0].export_failure_rate() == 0);
}

TEST_CASE("a span received and then lost counts once in the spans that arrived", "[telemetry]") {
  // Outside attack: all 10 spans received and then lost to a failing export read 0.5.
  Counters c;
  c.spans_received[static_cast<std::size_t>(Receiver::OtlpHttp)].fetch_add(10);
  c.add_dropped(DropReason::ExportFailed, 10);
  c.add_dropped(DropReason::ProducerLoss, 10);  // never received: arrived all the same
  const auto t = totals_of(c);
  CHECK(t.dropped == 20);
  CHECK(t.dropped_before_decode == 10);
  DropRateWindows w(0);
  const auto windows = w.windows(kSecond, t);
  CHECK(windows[2].drop_rate() == Approx(20.0 / 20));
}
