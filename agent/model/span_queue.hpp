#pragma once
// The hand-off between pipeline threads: receivers → pipeline, pipeline → exporter. Many producers,
// one consumer; bounded in spans and, optionally, in the bytes those spans hold, so a stalled
// consumer costs memory up to the bound and then drops (the caller counts the drop with its
// reason). Thread-safe.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <vector>

#include "model/span.hpp"

namespace tailgate::model {

class SpanQueue final {
 public:
  /// `max_bytes` 0: bounded in spans only (the bytes are then not even measured).
  explicit SpanQueue(std::size_t max_spans, std::size_t max_bytes = 0);
  SpanQueue(const SpanQueue&) = delete;
  SpanQueue& operator=(const SpanQueue&) = delete;

  /// Moves the whole batch in, or leaves it untouched and returns false when it does not fit.
  /// An empty batch is accepted and ignored. Never blocks beyond the queue's own short lock.
  [[nodiscard]] bool try_push(SpanBatch& batch);

  /// Waits up to `timeout` for spans, then moves every queued batch, whole, to the end of `out`.
  /// Returns the number of spans taken; 0 on timeout or after close() once empty. The spans stay
  /// where their producer put them: joining batches moved each span (250 bytes) into a fresh,
  /// ever larger block (perf: a sixth of the pipeline thread, and most of its page faults).
  std::size_t pop_batches(std::vector<SpanBatch>& out, std::chrono::milliseconds timeout);
  /// pop_batches, joined into one batch (which may already hold spans): for consumers that want
  /// one list and see few spans.
  std::size_t pop_all(SpanBatch& out, std::chrono::milliseconds timeout);

  /// Wakes the consumer; later pushes still succeed so that a draining stage loses nothing.
  void close();
  [[nodiscard]] bool closed() const;
  [[nodiscard]] std::size_t size_spans() const;
  [[nodiscard]] std::size_t size_bytes() const;

 private:
  const std::size_t max_spans_;
  const std::size_t max_bytes_;
  mutable std::mutex mutex_;
  std::condition_variable nonempty_;
  std::vector<SpanBatch> batches_;
  std::size_t spans_ = 0;
  std::size_t bytes_ = 0;
  bool closed_ = false;
};

}  // namespace tailgate::model
