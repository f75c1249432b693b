#pragma once
// One attached segment as the ring receiver holds it (ring_receiver.cpp drains it,
// ring_segments.cpp admits and reaps it). The receiver thread's only.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "model/span.hpp"
#include "receivers/ring_receiver.hpp"
#include "shm/segment.hpp"
#include "telemetry/counters.hpp"

namespace tailgate::receivers {

// More records a second than one producer thread can build and try to write: the most loss a
// lane may report (see Attached::credit_loss).
inline constexpr std::uint64_t kMaxWritesPerLaneSecond = 100'000'000;

struct RingReceiver::Attached {
  Attached() = default;
  Attached(const Attached&) = delete;
  Attached& operator=(const Attached&) = delete;
  ~Attached() {
    if (pidfd >= 0) ::close(pidfd);
  }
  std::unique_ptr<shm::Segment> segment;
  std::shared_ptr<const model::Resource> resource;
  int pidfd = -1;           ///< with the mapping, all a segment holds (attach keeps no descriptor)
  bool exited = false;      ///< the pidfd said so: reap at once, without waiting for the rescan
  bool gone = false;        ///< its file left the directory
  bool lost = false;        ///< its file shrank under a read: given up, never read again
  std::uint64_t spans = 0;  ///< decoded from it, for the status page (added per batch)
  std::string process;      ///< /proc/<pid>/comm when attached
  /// The overflow lane's uncommitted record that draining stopped at, and since when.
  std::optional<std::uint64_t> stalled_at;
  std::chrono::steady_clock::time_point stalled_since;
  /// Loss counts are the producer's word, in memory any process of the ring group can write (a
  /// count of 10^18, or 2^64 - 1 to wrap the counter). Credited at most at the rate its lanes
  /// could have been written, kMaxWritesPerLaneSecond per lane, with a burst of one second's
  /// worth (what piles up while the agent restarts); the rest is refused, the report counted as
  /// capped. Returns the loss to credit.
  std::uint64_t credit_loss(std::uint64_t claimed, std::chrono::steady_clock::time_point now,
                            bool& capped) {
    const std::uint64_t burst = (segment->lane_count() + 1ULL) * kMaxWritesPerLaneSecond;
    if (!loss_refilled) loss_allowance = burst;
    const auto elapsed_us =
        loss_refilled
            ? std::chrono::duration_cast<std::chrono::microseconds>(now - *loss_refilled).count()
            : 0;
    loss_refilled = now;
    loss_allowance = std::min<std::uint64_t>(
        burst, telemetry::saturating_add(
                   loss_allowance, static_cast<std::uint64_t>(elapsed_us) * (burst / 1'000'000)));
    const auto credited = std::min(claimed, loss_allowance);
    loss_allowance -= credited;
    capped = credited < claimed;
    return credited;
  }
  std::uint64_t loss_allowance = 0;
  std::optional<std::chrono::steady_clock::time_point> loss_refilled;
};

}  // namespace tailgate::receivers
