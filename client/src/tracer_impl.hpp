#pragma once
// The Tracer's state behind its public face, and the hand-off of a finished record into the
// thread's lane. Internal to libtailgate.so: tracer.cpp makes and forks the segment, span.cpp
// emits into it.
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "shm/segment.hpp"
#include "tailgate/tailgate.hpp"
#include "thread_state.hpp"

namespace tailgate {

struct Tracer::Impl {
  std::uint64_t generation = 0;
  std::unique_ptr<shm::Segment> segment;
  std::string error;
  std::string path;
  std::atomic<std::uint64_t> dropped_unattached{0};  ///< no segment, or a record not encoded
  std::atomic<std::uint64_t> dropped_items{0};
  std::atomic<bool> warned_no_agent{false};  ///< "no agent" goes to stderr once per tracer
  /// What a forked child needs to make its own segment.
  shm::SegmentOptions segment_options;
  std::vector<std::pair<std::string, std::string>> resource;
  bool default_pid = false;  ///< process.pid was ours to fill in, so it is the child's there

  void make_segment() noexcept;
  /// In a forked child: its own segment in place of the parent's, made once by whichever thread
  /// gets here first (the others wait for it: a few milliseconds, once per fork).
  void adopt_fork() noexcept;
  /// Gives this thread its lane; false if there is no segment to take one from.
  [[gnu::noinline]] bool attach_thread(client::ThreadState& t) noexcept;
  /// Counts one record dropped before any lane saw it, and says so.
  bool drop() noexcept {
    dropped_unattached.fetch_add(1, std::memory_order_relaxed);
    return false;
  }

  /// Into this thread's lane (claimed at its first record). Inline: Span::end() hands its record
  /// here with the thread's state already at hand. The generation is checked first: a thread
  /// holds this tracer's generation only while it has a lane in this tracer's segment.
  [[gnu::always_inline]] bool emit_from(client::ThreadState& t,
                                        std::span<const std::byte> record) noexcept {
    if (t.generation != generation) [[unlikely]] {
      if (!segment || !attach_thread(t)) return drop();  // none, or a forked child's not made
    }
    return t.own.attached() ? t.own.try_write(record) : t.overflow.try_write(record);
  }
};

}  // namespace tailgate
