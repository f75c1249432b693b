#pragma once
// The lanes of a ring segment (ring_layout.hpp draws them). LaneWriter is the producer half of a
// lane of one's own: one thread, inline on purpose (the trading thread's hot path): no lock, no
// locked instruction, no allocation, no syscall; a full lane drops the record and counts it, never
// waits. SharedLaneWriter writes the overflow lane, shared by threads that found every lane taken:
// one CAS to claim, one to commit. LaneReader is the consumer half of either kind: the agent's
// ring receiver thread.
//
// Own lane: the commit is the tail. The producer copies whole records, then release-stores the new
// tail; the consumer acquire-loads it and reads only up to it, so a record torn by a producer
// dying mid-copy is never visible. The consumer publishes its head with a release store once per
// drain, after it has finished with the bytes; the producer acquire-loads the head only when the
// lane looks full (its cached copy says so).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <span>

#include "shm/ring_layout.hpp"
#include "wire/span_record.hpp"

namespace tailgate::shm {

class LaneWriter final {
 public:
  LaneWriter() = default;  ///< not attached: every write is dropped and counted
  LaneWriter(LaneControl* control, std::byte* data, std::size_t capacity) noexcept
      : control_(control),
        data_(data),
        capacity_(capacity),
        // Own fields, left by this lane's previous owner: the claim's acquire made them visible.
        tail_(control->tail.load(std::memory_order_relaxed)),
        head_cache_(control->head.load(std::memory_order_acquire)) {}

  [[nodiscard]] bool attached() const noexcept { return control_ != nullptr; }

  /// Copies one whole wire record (header included, length at most capacity / 2) into the lane.
  /// False when it does not fit: the record is dropped and counted.
  bool try_write(std::span<const std::byte> record) noexcept {
    // Fields in locals: the copy below may alias any memory, and these must not be read again.
    LaneControl* const control = control_;
    const std::size_t capacity = capacity_;
    const std::size_t size = wire::align_record(record.size());
    if (control == nullptr || record.size() < wire::kRecordHeaderSize || size > capacity / 2 ||
        control->unreported.load(std::memory_order_relaxed) != 0) {
      return write_slow(record);
    }
    const std::uint64_t tail = tail_;
    const std::size_t pos = tail & (capacity - 1);
    if (capacity - pos < size) return write_slow(record);  // needs a padding record first
    if (tail + size - head_cache_ > capacity) {
      head_cache_ = control->head.load(std::memory_order_acquire);  // pairs with publish()
      if (tail + size - head_cache_ > capacity) return drop();
    }
    // Read only once we are dead: "copying up to this tail" (ring_layout.hpp). Left as it is
    // after the commit: a mark equal to the tail's says idle as 0 does, one store fewer a record.
    control->writing.store(writing_mark(tail + size), std::memory_order_relaxed);
    std::memcpy(data_ + pos, record.data(), record.size());
    tail_ = tail + size;
    control->tail.store(tail + size, std::memory_order_release);  // commit; pairs with drain()
    return true;
  }

  /// Gives the lane back (thread exit): the next thread to claim it continues from its tail.
  void release() noexcept {
    if (control_ != nullptr) control_->owner.store(0, std::memory_order_release);
    control_ = nullptr;
  }

  /// Records dropped since this writer was made (the segment keeps the cumulative count).
  [[nodiscard]] std::uint64_t dropped() const noexcept { return dropped_; }

 private:
  [[gnu::noinline]] bool write_slow(std::span<const std::byte> record) noexcept;
  [[gnu::noinline]] bool drop() noexcept;

  LaneControl* control_ = nullptr;
  std::byte* data_ = nullptr;
  std::size_t capacity_ = 0;
  std::uint64_t tail_ = 0;
  std::uint64_t head_cache_ = 0;
  std::uint64_t dropped_ = 0;
};

class SharedLaneWriter final {
 public:
  SharedLaneWriter() = default;
  SharedLaneWriter(LaneControl* control, std::byte* data, std::size_t capacity) noexcept
      : control_(control), data_(data), capacity_(capacity) {}

  /// As LaneWriter::try_write, for any number of threads at once. Also false when the agent
  /// abandoned the claim because this thread stalled between claim and commit (the agent counts
  /// that record as lost).
  bool try_write(std::span<const std::byte> record) noexcept;

  /// Tests only: called between the claim and the commit, to stop a writer there.
  void (*between_claim_and_commit)() = nullptr;

 private:
  LaneControl* control_ = nullptr;
  std::byte* data_ = nullptr;
  std::size_t capacity_ = 0;
};

class LaneReader final {
 public:
  LaneReader(LaneControl* control, std::byte* data, std::size_t capacity,
             bool shared = false) noexcept
      : control_(control), data_(data), capacity_(capacity), shared_(shared) {}

  struct Drained {
    std::size_t records = 0;          ///< span, resource and loss records handed to the callback
    std::uint64_t skipped_bytes = 0;  ///< bytes given up because a header was corrupt
    /// Overflow lane: the position of a claimed record not committed yet, where draining stopped.
    std::optional<std::uint64_t> stalled_at;
    /// The lane's memory faulted (its file shrank under us: fault_guard.hpp). Records handed on
    /// before stay handed on; the lane must not be read again.
    bool faulted = false;
  };
  using RecordFn = std::function<void(wire::RecordType, std::span<const std::byte> payload)>;

  /// Hands each committed record to `fn` (at most `max_records`), then publishes the new head.
  /// The records are copied out of the lane first, under a fault guard, and `fn` sees the copy:
  /// it runs outside the guard, so it may allocate, and a record cannot change under it.
  Drained drain(const RecordFn& fn, std::size_t max_records);
  /// Overflow lane: gives up the pending record at `position` (it stalled there since an earlier
  /// drain). True if it was abandoned, so one record is lost; false if it was committed meanwhile,
  /// its writer has not even stored its header (then its length is unknown: keep waiting), or the
  /// lane faulted.
  bool abandon(std::uint64_t position) noexcept;
  /// Bytes committed (own lane) or claimed (overflow lane) and not yet read.
  [[nodiscard]] std::uint64_t backlog() const noexcept {
    return control_->tail.load(std::memory_order_acquire) -
           control_->head.load(std::memory_order_relaxed);
  }

 private:
  /// What one guarded pass copied out: whole records (header included) one after another, each
  /// at a multiple of 8. Trivial, so that a fault may abandon it half written.
  struct Collected {
    std::size_t bytes = 0;  ///< of the scratch buffer used
    std::size_t records = 0;
    std::uint64_t skipped_bytes = 0;
    std::uint64_t stalled_at = 0;
    bool stalled = false;
    bool full = false;  ///< stopped because the next record did not fit: call again
  };
  Collected collect(std::byte* out, std::size_t room, std::size_t max_records) noexcept;
  Collected collect_shared(std::byte* out, std::size_t room, std::size_t max_records) noexcept;
  [[nodiscard]] std::size_t lane_bytes() const noexcept {
    return kLaneControlBytes + capacity_;  // the control and the data, which follows it
  }

  LaneControl* control_;
  std::byte* data_;  ///< written only by drain_shared (it zeroes consumed headers) and abandon()
  std::size_t capacity_;
  bool shared_;
};

}  // namespace tailgate::shm
