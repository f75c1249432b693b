#include "shm/lane.hpp"

#include <algorithm>
#include <atomic>
#include <vector>

#include "shm/fault_guard.hpp"

namespace tailgate::shm {
namespace {

constexpr std::size_t kLossSize = wire::kRecordHeaderSize + sizeof(std::uint64_t);

std::uint64_t header_word(std::size_t length, std::uint16_t type) noexcept {
  return static_cast<std::uint64_t>(length) | (static_cast<std::uint64_t>(type) << 32) |
         (static_cast<std::uint64_t>(wire::kSchemaVersion) << 48);
}

std::atomic_ref<std::uint64_t> header_at(std::byte* at) noexcept {
  // Records start at multiples of 8 from an 8-aligned lane: the header is one aligned word.
  return std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(at));
}

void put_header(std::byte* at, std::size_t length, wire::RecordType type) noexcept {
  const auto word = header_word(length, static_cast<std::uint16_t>(type));
  std::memcpy(at, &word, sizeof word);
}

/// Where `pieces` (record sizes, 0 = absent) written from `tail` end, a padding record standing
/// in wherever a piece would straddle the end of the lane.
std::uint64_t extent(std::uint64_t tail, std::span<const std::size_t> pieces,
                     std::size_t capacity) noexcept {
  for (const auto piece : pieces) {
    if (piece == 0) continue;
    const std::size_t room = capacity - (tail & (capacity - 1));
    if (room < piece) tail += room;
    tail += piece;
  }
  return tail;
}

void bump(std::atomic<std::uint64_t>& counter) noexcept {
  // Own lane: this thread is the field's only writer, so no locked instruction is needed.
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

}  // namespace

bool LaneWriter::drop() noexcept {
  ++dropped_;
  if (control_ != nullptr) {
    bump(control_->dropped);
    bump(control_->unreported);
  }
  return false;
}

// Everything the fast path leaves out: not attached, oversize, a padding record at the end of the
// lane, and a loss record announcing earlier drops. Both records must fit, or neither is written.
bool LaneWriter::write_slow(std::span<const std::byte> record) noexcept {
  const std::size_t size = wire::align_record(record.size());
  if (control_ == nullptr || record.size() < wire::kRecordHeaderSize || size > capacity_ / 2) {
    return drop();
  }
  const std::uint64_t unreported = control_->unreported.load(std::memory_order_relaxed);
  const std::size_t pieces[2] = {unreported != 0 ? kLossSize : 0, size};
  const std::uint64_t end = extent(tail_, pieces, capacity_);
  if (end - head_cache_ > capacity_) {
    head_cache_ = control_->head.load(std::memory_order_acquire);  // pairs with publish in drain()
    if (end - head_cache_ > capacity_) return drop();
  }
  control_->writing.store(writing_mark(end), std::memory_order_relaxed);
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
      std::memcpy(data_ + pos + wire::kRecordHeaderSize, &unreported, sizeof unreported);
      control_->unreported.store(0, std::memory_order_relaxed);
    } else {
      std::memcpy(data_ + pos, record.data(), record.size());
    }
    tail_ += piece;
  }
  control_->tail.store(tail_, std::memory_order_release);  // commit; pairs with drain()'s acquire
  control_->writing.store(0, std::memory_order_relaxed);
  return true;
}

bool SharedLaneWriter::try_write(std::span<const std::byte> record) noexcept {
  const std::size_t size = wire::align_record(record.size());
  const auto drop = [this] {
    if (control_ == nullptr) return false;
    control_->dropped.fetch_add(1, std::memory_order_relaxed);
    control_->unreported.fetch_add(1, std::memory_order_relaxed);
    return false;
  };
  if (control_ == nullptr || record.size() < wire::kRecordHeaderSize || size > capacity_ / 2) {
    return drop();
  }
  // Claim: room for the record, and for a loss record if drops wait to be announced.
  bool with_loss = false;
  std::uint64_t start = control_->tail.load(std::memory_order_relaxed);
  for (;;) {
    with_loss = control_->unreported.load(std::memory_order_relaxed) != 0;
    const std::size_t pieces[2] = {with_loss ? kLossSize : 0, size};
    const std::uint64_t end = extent(start, pieces, capacity_);
    // Acquire: the consumer has read and zeroed everything before its head.
    if (end - control_->head.load(std::memory_order_acquire) > capacity_) return drop();
    if (control_->tail.compare_exchange_weak(start, end, std::memory_order_acq_rel,
                                             std::memory_order_relaxed)) {
      break;
    }
  }
  // Places a piece at `at`, committing a padding record first if it would straddle the end.
  const auto place = [&](std::uint64_t& at, std::size_t piece) {
    std::size_t pos = at & (capacity_ - 1);
    if (capacity_ - pos < piece) {
      header_at(data_ + pos)
          .store(
              header_word(capacity_ - pos, static_cast<std::uint16_t>(wire::RecordType::Padding)),
              std::memory_order_release);
      at += capacity_ - pos;
      pos = 0;
    }
    at += piece;
    return pos;
  };
  std::uint64_t at = start;
  if (with_loss) {
    const std::size_t pos = place(at, kLossSize);
    // Another writer may have announced them meanwhile: then this slot is padding.
    const std::uint64_t taken = control_->unreported.exchange(0, std::memory_order_relaxed);
    std::memcpy(data_ + pos + wire::kRecordHeaderSize, &taken, sizeof taken);
    header_at(data_ + pos)
        .store(header_word(kLossSize,
                           static_cast<std::uint16_t>(taken != 0 ? wire::RecordType::Loss
                                                                 : wire::RecordType::Padding)),
               std::memory_order_release);
  }
  const std::size_t pos = place(at, size);
  auto header = header_at(data_ + pos);
  std::uint64_t pending = header_word(record.size(), kPendingType);
  header.store(pending, std::memory_order_relaxed);  // from here on the agent knows its length
  if (between_claim_and_commit != nullptr) between_claim_and_commit();
  std::memcpy(data_ + pos + wire::kRecordHeaderSize, record.data() + wire::kRecordHeaderSize,
              record.size() - wire::kRecordHeaderSize);
  wire::RecordHeader own{};
  std::memcpy(&own, record.data(), sizeof own);
  // The commit. It fails only if the agent abandoned this claim: then the record is its loss.
  return header.compare_exchange_strong(pending, header_word(record.size(), own.type),
                                        std::memory_order_release, std::memory_order_relaxed);
}

// Records go through a private buffer: the agent reads a mapping that another process can shrink
// (SIGBUS on the next touch), and only plain copies may run where a fault can interrupt them
// (fault_guard.hpp). 256 KiB holds several of the largest records the encoder makes.
constexpr std::size_t kScratchBytes = 256u << 10;

LaneReader::Drained LaneReader::drain(const RecordFn& fn, std::size_t max_records) {
  thread_local std::vector<std::byte> scratch(kScratchBytes);  // the drain thread's, reused
  Drained result;
  const auto* begin = std::min<const void*>(control_, data_);
  const auto* end = std::max<const void*>(
      reinterpret_cast<const std::byte*>(control_) + lane_bytes(), data_ + capacity_);
  const auto span = static_cast<std::size_t>(static_cast<const std::byte*>(end) -
                                             static_cast<const std::byte*>(begin));
  while (result.records < max_records) {
    Collected c;
    const auto left = max_records - result.records;
    if (!guarded(begin, span, [&] {
          c = shared_ ? collect_shared(scratch.data(), scratch.size(), left)
                      : collect(scratch.data(), scratch.size(), left);
        })) {
      result.faulted = true;  // what this pass copied is incomplete and its head not published
      break;
    }
    result.skipped_bytes += c.skipped_bytes;
    result.stalled_at = c.stalled ? std::optional(c.stalled_at) : std::nullopt;
    for (std::size_t at = 0; at < c.bytes;) {
      wire::RecordHeader header{};
      std::memcpy(&header, scratch.data() + at, sizeof header);
      fn(static_cast<wire::RecordType>(header.type),
         std::span<const std::byte>(scratch.data() + at + wire::kRecordHeaderSize,
                                    header.length - wire::kRecordHeaderSize));
      at += wire::align_record(header.length);
    }
    result.records += c.records;
    if (!c.full) break;
  }
  return result;
}

LaneReader::Collected LaneReader::collect(std::byte* out, std::size_t room,
                                          std::size_t max_records) noexcept {
  Collected result;
  const std::uint64_t tail = control_->tail.load(std::memory_order_acquire);  // pairs with commit
  std::uint64_t head = control_->head.load(std::memory_order_relaxed);        // our own field
  // A producer never gets more than a lane ahead; a tail that is (a broken or hostile process)
  // would have the loop walk padding records round the lane for ever, since padding is not a
  // record that max_records counts (found by fuzz/fuzz_ring_segment). Skip it all, as corrupt.
  if (head < tail && tail - head > capacity_) {
    result.skipped_bytes += tail - head;
    head = tail;
  }
  while (head < tail && result.records < max_records) {
    const std::size_t pos = head & (capacity_ - 1);
    wire::RecordHeader header{};
    std::memcpy(&header, data_ + pos, sizeof header);
    const std::size_t size = wire::align_record(header.length);
    const bool padding = static_cast<wire::RecordType>(header.type) == wire::RecordType::Padding;
    if (header.length < wire::kRecordHeaderSize || header.length > capacity_ - pos ||
        head + size > tail || (!padding && size > room)) {
      // A corrupt header (or a record larger than any the encoder makes): the next record's
      // start is unknowable. Give up what is committed.
      result.skipped_bytes += tail - head;
      head = tail;
      break;
    }
    if (!padding && size > room - result.bytes) {
      result.full = true;  // the rest on the next call
      break;
    }
    head += padding ? header.length : size;
    if (padding) continue;
    std::memcpy(out + result.bytes, data_ + pos, header.length);
    result.bytes += size;
    ++result.records;
  }
  // Once per pass, after every byte above was copied: the producer may now reuse them.
  control_->head.store(head, std::memory_order_release);  // pairs with the writer's acquire
  return result;
}

LaneReader::Collected LaneReader::collect_shared(std::byte* out, std::size_t room,
                                                 std::size_t max_records) noexcept {
  Collected result;
  const std::uint64_t tail = control_->tail.load(std::memory_order_acquire);  // claimed so far
  std::uint64_t head = control_->head.load(std::memory_order_relaxed);
  // Only a broken or hostile writer gets here: skip all that was claimed, and clear it (at most
  // one lane's worth, on 8-byte boundaries) so that positions read 0 again.
  const auto give_up = [&] {
    if (head % wire::kRecordAlignment == 0) {
      const std::uint64_t end = tail - head > capacity_ ? head + capacity_ : tail;
      for (std::uint64_t at = head; at + sizeof(std::uint64_t) <= end; at += sizeof(std::uint64_t))
        header_at(data_ + (at & (capacity_ - 1))).store(0, std::memory_order_relaxed);
    }
    result.skipped_bytes += tail - head;
    head = tail;
  };
  // Positions live in the segment, which other processes write: an honest writer keeps them
  // multiples of 8 and the tail at most a lane ahead of the head (found by fuzzing: a misaligned
  // head made the header an unaligned atomic).
  if (head < tail && (head % wire::kRecordAlignment != 0 || tail % wire::kRecordAlignment != 0 ||
                      tail - head > capacity_)) {
    give_up();
  }
  while (head < tail && result.records < max_records) {
    const std::size_t pos = head & (capacity_ - 1);
    auto word = header_at(data_ + pos);
    const std::uint64_t h = word.load(std::memory_order_acquire);  // pairs with the commit
    const auto length = static_cast<std::uint32_t>(h);
    const auto type = static_cast<std::uint16_t>(h >> 32);
    if (h == 0 || type == kPendingType) {
      result.stalled = true;  // claimed, not committed yet: records after it wait their turn
      result.stalled_at = head;
      break;
    }
    const bool padding = type == static_cast<std::uint16_t>(wire::RecordType::Padding);
    const std::size_t advance = padding ? length : wire::align_record(length);
    if (length < wire::kRecordHeaderSize || length > capacity_ - pos || head + advance > tail ||
        advance % wire::kRecordAlignment != 0 || (!padding && advance > room)) {
      give_up();
      break;
    }
    if (!padding) {
      if (advance > room - result.bytes) {
        result.full = true;
        break;
      }
      std::memcpy(out + result.bytes, &h, sizeof h);  // the committed header, as loaded
      std::memcpy(out + result.bytes + sizeof h, data_ + pos + sizeof h, length - sizeof h);
      result.bytes += advance;
      ++result.records;
    }
    // Back to zeros, all of it: any word may be the start of a later record, and a claimed
    // position must read 0 until its writer stores a header. Published by the head's release.
    std::memset(data_ + pos + sizeof(std::uint64_t), 0, advance - sizeof(std::uint64_t));
    word.store(0, std::memory_order_relaxed);
    head += advance;
  }
  control_->head.store(head, std::memory_order_release);  // pairs with the claim's acquire
  return result;
}

bool LaneReader::abandon(std::uint64_t position) noexcept {
  if (!shared_ || position % wire::kRecordAlignment != 0) return false;
  bool abandoned = false;
  const bool ok = guarded(control_, lane_bytes(), [&] {
    if (position != control_->head.load(std::memory_order_relaxed)) return;
    auto word = header_at(data_ + (position & (capacity_ - 1)));
    std::uint64_t h = word.load(std::memory_order_acquire);
    if (static_cast<std::uint16_t>(h >> 32) != kPendingType) return;
    const auto skip = wire::align_record(static_cast<std::uint32_t>(h));
    abandoned = word.compare_exchange_strong(
        h, header_word(skip, static_cast<std::uint16_t>(wire::RecordType::Padding)),
        std::memory_order_acq_rel, std::memory_order_relaxed);
  });
  return ok && abandoned;
}

}  // namespace tailgate::shm
