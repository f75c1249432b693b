#pragma once
// One attached segment as the ring receiver holds it (ring_receiver.cpp drains it,
// ring_segments.cpp admits and reaps it). The receiver thread's only.

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "model/span.hpp"
#include "receivers/ring_receiver.hpp"
#include "shm/segment.hpp"

namespace tailgate::receivers {

struct RingReceiver::Attached {
  Attached() = default;
  Attached(const Attached&) = delete;
  Attached& operator=(const Attached&) = delete;
  ~Attached() {
    if (pidfd >= 0) ::close(pidfd);
  }
  std::unique_ptr<shm::Segment> segment;
  std::shared_ptr<const model::Resource> resource;
  int pidfd = -1;       ///< with the mapping, all a segment holds (attach keeps no descriptor)
  bool exited = false;  ///< the pidfd said so: reap at once, without waiting for the rescan
  bool gone = false;    ///< its file left the directory
  bool lost = false;    ///< its file shrank under a read: given up, never read again
  /// The overflow lane's uncommitted record that draining stopped at, and since when.
  std::optional<std::uint64_t> stalled_at;
  std::chrono::steady_clock::time_point stalled_since;
};

}  // namespace tailgate::receivers
