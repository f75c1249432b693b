#include "shm/lane.hpp"

namespace tailgate::shm {
namespace {

void put_header(std::byte* at, std::size_t length, wire::RecordType type) noexcept {
  const wire::RecordHeader header{static_cast<std::uint32_t>(length),
                                  static_cast<std::uint16_t>(type), wire::kSchemaVersion};
  std::memcpy(at, &header, sizeof header);
}

}  // namespace

bool LaneWriter::drop() noexcept {
  ++dropped_;
  ++unreported_;
  if (control_ != nullptr) control_->dropped.fetch_add(1, std::memory_order_relaxed);
  return false;
}

// Everything the fast path leaves out: not attached, oversize, a padding record at the end of the
// lane, and a loss record announcing earlier drops. Both records must fit, or neither is written.
bool LaneWriter::write_slow(std::span<const std::byte> record) noexcept {
  const std::size_t size = wire::align_record(record.size());
  if (control_ == nullptr || record.size() < wire::kRecordHeaderSize || size > capacity_ / 2) {
    return drop();
  }
  constexpr std::size_t kLossSize = wire::kRecordHeaderSize + sizeof(std::uint64_t);
  const std::size_t pieces[2] = {unreported_ != 0 ? kLossSize : 0, size};
  // Bytes needed from tail_, counting a padding record wherever a piece would straddle the end.
  std::uint64_t at = tail_;
  for (const auto piece : pieces) {
    if (piece == 0) continue;
    const std::size_t room = capacity_ - (at & (capacity_ - 1));
    if (room < piece) at += room;
    at += piece;
  }
  if (at - head_cache_ > capacity_) {
    head_cache_ = control_->head.load(std::memory_order_acquire);  // pairs with publish in drain()
    if (at - head_cache_ > capacity_) return drop();
  }
  for (std::size_t i = 0; i < 2; ++i) {
    const auto piece = pieces[i];
    if (piece == 0) continue;
    std::size_t pos = tail_ & (capacity_ - 1);
    if (capacity_ - pos < piece) {
      put_header(data_ + pos, capacity_ - pos, wire::RecordType::Padding);
      tail_ += capacity_ - pos;
      pos = 0;
    }
    if (i == 0) {
      put_header(data_ + pos, kLossSize, wire::RecordType::Loss);
      std::memcpy(data_ + pos + wire::kRecordHeaderSize, &unreported_, sizeof unreported_);
      unreported_ = 0;
    } else {
      std::memcpy(data_ + pos, record.data(), record.size());
    }
    tail_ += piece;
  }
  control_->tail.store(tail_, std::memory_order_release);  // commit; pairs with drain()'s acquire
  return true;
}

LaneReader::Drained LaneReader::drain(const RecordFn& fn, std::size_t max_records) {
  Drained result;
  const std::uint64_t tail = control_->tail.load(std::memory_order_acquire);  // pairs with commit
  std::uint64_t head = control_->head.load(std::memory_order_relaxed);        // our own field
  while (head < tail && result.records < max_records) {
    const std::size_t pos = head & (capacity_ - 1);
    wire::RecordHeader header{};
    std::memcpy(&header, data_ + pos, sizeof header);
    const std::size_t room = capacity_ - pos;
    if (header.length < wire::kRecordHeaderSize || header.length > room ||
        head + wire::align_record(header.length) > tail) {
      // A corrupt header: the next record's start is unknowable. Give up what is committed.
      result.skipped_bytes += tail - head;
      head = tail;
      break;
    }
    head += static_cast<wire::RecordType>(header.type) == wire::RecordType::Padding
                ? header.length
                : wire::align_record(header.length);
    if (static_cast<wire::RecordType>(header.type) == wire::RecordType::Padding) continue;
    fn(static_cast<wire::RecordType>(header.type),
       std::span(data_ + pos + wire::kRecordHeaderSize, header.length - wire::kRecordHeaderSize));
    ++result.records;
  }
  // Once per drain, after every byte above was read: the producer may now reuse them.
  control_->head.store(head, std::memory_order_release);  // pairs with the writer's acquire
  return result;
}

}  // namespace tailgate::shm
