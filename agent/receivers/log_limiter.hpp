#pragma once
// At most one log line a second for a kind of bad input, carrying how many happened since the
// last line: a flood of garbage must not become a flood of logs. Thread-safe.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>

namespace tailgate::receivers {

class LogLimiter {
 public:
  /// Counts `n` occurrences; returns how many to report now (these included), or 0 to stay quiet.
  std::uint64_t note(std::uint64_t n = 1) noexcept {
    pending_.fetch_add(n, std::memory_order_relaxed);
    const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    auto last = last_.load(std::memory_order_relaxed);
    if (now - last < kInterval) return 0;
    if (!last_.compare_exchange_strong(last, now, std::memory_order_relaxed)) return 0;
    return pending_.exchange(0, std::memory_order_relaxed);
  }

 private:
  static constexpr std::int64_t kInterval =
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::seconds(1))
          .count();
  std::atomic<std::int64_t> last_{std::numeric_limits<std::int64_t>::min() / 2};
  std::atomic<std::uint64_t> pending_{0};
};

}  // namespace tailgate::receivers
