#pragma once
// Drop and export-failure rates over sliding windows (1 min, 5 min, since start), from samples of
// the counters taken once a second. "Sampled out" is a decision, not a drop, and is reported
// apart. Owned by the admin thread; not thread-safe.

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "telemetry/counters.hpp"

namespace tailgate::telemetry {

struct Totals {
  std::uint64_t received = 0;  ///< decoded spans
  std::uint64_t dropped = 0;   ///< every drop reason, before and after decode
  /// Of those, dropped before they were decoded (a full ring lane, a full socket): never counted
  /// received, so they add to the spans that arrived.
  std::uint64_t dropped_before_decode = 0;
  std::uint64_t sampled_out = 0;
  std::uint64_t export_requests = 0;
  std::uint64_t export_failures = 0;
  /// Bad input refused by the receivers: shown, but not drops (nothing good was lost).
  std::uint64_t rejected_requests = 0;
  std::uint64_t rejected_spans = 0;
};
[[nodiscard]] Totals totals_of(const Counters& counters) noexcept;

struct WindowRates {
  std::string name;  ///< "1m", "5m", "since_start"
  double seconds = 0;
  Totals delta;
  /// dropped / the spans that arrived (received + dropped before decode). A span received and
  /// then lost (an export that failed) counted twice in the spans that arrived: all of 10 spans
  /// lost read 0.5 (outside attack).
  [[nodiscard]] double drop_rate() const noexcept;
  [[nodiscard]] double export_failure_rate() const noexcept;  ///< failures / requests
};

class DropRateWindows final {
 public:
  explicit DropRateWindows(std::uint64_t start_ns);
  /// Records the totals at `now_ns`; call about once a second.
  void sample(std::uint64_t now_ns, const Totals& totals);
  /// The windows ending now, from the oldest sample inside each (shorter at start-up).
  [[nodiscard]] std::vector<WindowRates> windows(std::uint64_t now_ns, const Totals& now) const;

 private:
  struct Sample {
    std::uint64_t at_ns;
    Totals totals;
  };
  std::uint64_t start_ns_;
  std::deque<Sample> samples_;  ///< at most 5 minutes' worth
};

}  // namespace tailgate::telemetry
