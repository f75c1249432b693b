#pragma once
// A keep decision shared between the agents of a fleet (docs/fleet.md), and the bounded queue that
// carries keeps between the pipeline thread and the peers stage's threads, both ways: the
// pipeline pushes the keeps it publishes and drains, at its tick, the keeps peers published.
// Many producers, one consumer; try_push never waits beyond the queue's short lock, and a full
// queue refuses (the caller counts it). Thread-safe.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include "model/span.hpp"

namespace tailgate::model {

struct Keep {
  TraceId trace_id{};
  std::string policy;        ///< the deciding policy's name at the agent that decided
  double probability = 1.0;  ///< that policy's probability (for sampling.probability)
  /// The publishing agent's number for it (1, 2, ...; 0: none): a follower reads a gap as keeps
  /// it missed (trimmed from the stream before it read them, or refused by Redis).
  std::uint64_t sequence = 0;
};

class KeepQueue final {
 public:
  explicit KeepQueue(std::size_t capacity);
  KeepQueue(const KeepQueue&) = delete;
  KeepQueue& operator=(const KeepQueue&) = delete;

  /// Queues `keep`, or returns false (leaving it) when the queue is full.
  [[nodiscard]] bool try_push(Keep&& keep);
  /// Moves every queued keep to the end of `out` without waiting; returns how many.
  std::size_t pop_all(std::vector<Keep>& out);
  /// pop_all, waiting up to `timeout` for the first keep (or close()).
  std::size_t wait_pop_all(std::vector<Keep>& out, std::chrono::milliseconds timeout);
  /// Wakes a waiting consumer; pushes still succeed.
  void close();
  [[nodiscard]] std::size_t size() const;

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable nonempty_;
  std::vector<Keep> keeps_;
  bool closed_ = false;
};

}  // namespace tailgate::model
