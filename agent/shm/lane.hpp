#pragma once
// One single-producer/single-consumer lane of a ring segment (ring_layout.hpp draws it).
// LaneWriter is the producer half: one thread per lane, inline on purpose (the trading thread's
// hot path): no lock, no allocation, no syscall; a full lane drops the record and counts it, never
// waits. LaneReader is the consumer half: the agent's ring receiver thread.
//
// The commit is the tail: the producer copies whole records, then release-stores the new tail;
// the consumer acquire-loads it and reads only up to it. A record torn by a producer dying
// mid-copy is therefore never visible. The consumer publishes its head with a release store once
// per drain, after it has finished with the bytes; the producer acquire-loads the head only when
// the lane looks full (its cached copy says so).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
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
        tail_(control->tail.load(std::memory_order_relaxed)),  // own field: resume where we were
        head_cache_(control->head.load(std::memory_order_acquire)) {}

  [[nodiscard]] bool attached() const noexcept { return control_ != nullptr; }

  /// Copies one whole wire record (header included, length at most capacity / 2) into the lane.
  /// False when it does not fit: the record is dropped and counted.
  bool try_write(std::span<const std::byte> record) noexcept {
    const std::size_t size = wire::align_record(record.size());
    if (control_ == nullptr || unreported_ != 0 || record.size() < wire::kRecordHeaderSize ||
        size > capacity_ / 2) {
      return write_slow(record);
    }
    const std::size_t pos = tail_ & (capacity_ - 1);
    if (capacity_ - pos < size) return write_slow(record);  // needs a padding record first
    if (tail_ + size - head_cache_ > capacity_) {
      head_cache_ = control_->head.load(std::memory_order_acquire);  // pairs with publish()
      if (tail_ + size - head_cache_ > capacity_) return drop();
    }
    std::memcpy(data_ + pos, record.data(), record.size());
    tail_ += size;
    control_->tail.store(tail_, std::memory_order_release);  // commit; pairs with drain()'s acquire
    return true;
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
  std::uint64_t unreported_ = 0;  ///< drops not yet announced by a loss record
  std::uint64_t dropped_ = 0;
};

class LaneReader final {
 public:
  LaneReader(LaneControl* control, const std::byte* data, std::size_t capacity) noexcept
      : control_(control), data_(data), capacity_(capacity) {}

  struct Drained {
    std::size_t records = 0;          ///< span, resource and loss records handed to the callback
    std::uint64_t skipped_bytes = 0;  ///< bytes given up because a header was corrupt
  };
  using RecordFn = std::function<void(wire::RecordType, std::span<const std::byte> payload)>;

  /// Hands each committed record to `fn` (at most `max_records`), then publishes the new head.
  Drained drain(const RecordFn& fn, std::size_t max_records);
  /// Bytes committed and not yet read.
  [[nodiscard]] std::uint64_t backlog() const noexcept {
    return control_->tail.load(std::memory_order_acquire) -
           control_->head.load(std::memory_order_relaxed);
  }

 private:
  LaneControl* control_;
  const std::byte* data_;
  std::size_t capacity_;
};

}  // namespace tailgate::shm
