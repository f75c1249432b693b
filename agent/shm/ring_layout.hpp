#pragma once
// The shared-memory segment a producer process creates and the agent drains: its bytes, drawn.
// One file per producer under the ring directory, named <pid>-<start time>.ring, so a reused pid
// can never be taken for a dead process. All integers little-endian; the agent and its producers
// share one host.
//
// Segment (file offsets):
//
//   0     SegmentHeader (4096 bytes: one page)
//           0  magic u64 "TGRING01"   written last, with release: the segment is complete
//           8  layout_version u32      16  lane_bytes u64 (power of two)
//          12  lane_count u32          24  pid u32   28 reserved
//          32  start_time u64 (/proc/<pid>/stat field 22, clock ticks since boot)
//          40  reserved u32            44  resource_bytes u32      48 reserved
//          64  resource record (wire format, type Resource), up to kMaxResourceBytes
//   4096  lane 0: LaneControl (256 bytes) then lane_bytes of records
//   ...   lane i at 4096 + i * (256 + lane_bytes), for i < lane_count: one writer thread each
//   ...   lane lane_count: the overflow lane, shared by threads that found every lane taken
//
// LaneControl, fields grouped by the thread that writes them (producer and consumer never share
// a cache line):
//
//     0  tail u64        producer: own lane: position after the last whole record (release
//                        store = commit); overflow lane: position after the last claimed record
//     8  dropped u64     producer: records dropped because the lane was full (cumulative)
//    16  owner u32       own lane: tid of the thread holding it, 0 = free (claimed by CAS once
//                        per thread, released at thread exit)
//    20  writing u32     own lane: while a record is copied, the low 32 bits of the tail that will
//                        commit it, | 1 (tails are multiples of 8); when idle, 0 or the mark of
//                        the tail it committed (left set after a commit). A producer found dead
//                        with it set and its tail short of it tore one record, which the agent
//                        counts as lost (a death after the commit is not)
//    24  unreported u64  drops not yet announced by a loss record (survives a lane's release)
//    64  head u64        consumer: position after the last record the agent has taken (release)
//
// Positions grow without wrapping (2^64 bytes is centuries); the byte offset is pos % lane_bytes.
// Records use the wire format (wire/span_record.hpp) and never straddle the end: a padding record
// fills the gap. A producer that dropped records writes a loss record (its count) before the next
// record that fits, so the agent knows exactly what was lost and when.
//
// The overflow lane has several writers, so the tail cannot be the commit. A writer claims bytes
// by CAS on the tail, stores the record header with type kPendingType, copies the payload and
// commits by CAS of the header to its real type (release). The consumer reads a header with
// acquire: 0 means claimed and not yet begun, pending means begun; it stops there. It zeroes each
// record it has consumed before publishing its head, so a reused position reads 0 until claimed.
// A record left pending for longer than a timeout (its writer stopped, or died with the process)
// is abandoned: the consumer CASes it to padding and counts one record lost; the writer's commit
// CAS then fails and it drops the record.

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace tailgate::shm {

inline constexpr std::uint64_t kMagic = 0x31304749'52474754ULL;  // "TGRING01", little-endian
inline constexpr std::uint32_t kLayoutVersion = 2;
inline constexpr std::size_t kHeaderBytes = 4096;
inline constexpr std::size_t kLaneControlBytes = 256;
inline constexpr std::size_t kResourceOffset = 64;
inline constexpr std::size_t kMaxResourceBytes = kHeaderBytes - kResourceOffset;
inline constexpr std::size_t kCacheLine = 64;
/// The record type of an overflow-lane record whose writer has not committed it yet.
inline constexpr std::uint16_t kPendingType = 0xFFFF;

struct SegmentHeader {
  std::atomic<std::uint64_t> magic;
  std::uint32_t layout_version;
  std::uint32_t lane_count;
  std::uint64_t lane_bytes;
  std::uint32_t pid;
  std::uint32_t reserved0;
  std::uint64_t start_time;
  std::uint32_t reserved1;
  std::uint32_t resource_bytes;
  std::uint8_t reserved2[16];
};
static_assert(sizeof(SegmentHeader) == kResourceOffset);
static_assert(offsetof(SegmentHeader, layout_version) == 8 &&
              offsetof(SegmentHeader, lane_bytes) == 16);
static_assert(offsetof(SegmentHeader, pid) == 24 && offsetof(SegmentHeader, start_time) == 32);
static_assert(offsetof(SegmentHeader, resource_bytes) == 44);

struct LaneControl {
  alignas(kCacheLine) std::atomic<std::uint64_t> tail;  // producer's line
  std::atomic<std::uint64_t> dropped;
  std::atomic<std::uint32_t> owner;
  std::atomic<std::uint32_t> writing;
  std::atomic<std::uint64_t> unreported;
  alignas(kCacheLine) std::atomic<std::uint64_t> head;  // consumer's line
  std::uint8_t reserved[kLaneControlBytes - kCacheLine - sizeof(std::uint64_t)];
};
static_assert(sizeof(LaneControl) == kLaneControlBytes);
static_assert(offsetof(LaneControl, dropped) == 8 && offsetof(LaneControl, owner) == 16);
static_assert(offsetof(LaneControl, writing) == 20 && offsetof(LaneControl, unreported) == 24);
static_assert(offsetof(LaneControl, head) == kCacheLine);
// Shared memory between processes: the atomics must be plain lock-free words.
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

// Bounds on what a header may claim. Every header field comes from a file that any process in
// the ring group can write: the agent checks them all before it computes an offset from them.
inline constexpr std::uint32_t kMaxLanes = 1024;
inline constexpr std::size_t kMinLaneBytes = 4096;
inline constexpr std::size_t kMaxLaneBytes = std::size_t{1} << 30;
/// The largest pid Linux hands out (PID_MAX_LIMIT on 64-bit): a header's pid is at most this.
inline constexpr std::uint32_t kMaxPid = 1u << 22;

[[nodiscard]] constexpr std::size_t lane_offset(std::size_t lane, std::size_t lane_bytes) noexcept {
  return kHeaderBytes + lane * (kLaneControlBytes + lane_bytes);
}
/// LaneControl::writing while the record that ends at `tail` is being copied.
[[nodiscard]] constexpr std::uint32_t writing_mark(std::uint64_t tail) noexcept {
  return static_cast<std::uint32_t>(tail) | 1;
}

/// The whole file: `lanes` own lanes and the overflow lane. For sizes within the bounds above.
[[nodiscard]] constexpr std::size_t segment_bytes(std::size_t lanes,
                                                  std::size_t lane_bytes) noexcept {
  return lane_offset(lanes + 1, lane_bytes);
}

/// segment_bytes() of sizes read from a file, or 0 when they are out of bounds (or would overflow:
/// one lane of 2^63 bytes once made the sum wrap to 4608, a size a small file can have).
[[nodiscard]] constexpr std::size_t checked_segment_bytes(std::uint64_t lanes,
                                                          std::uint64_t lane_bytes) noexcept {
  if (lanes == 0 || lanes > kMaxLanes || lane_bytes < kMinLaneBytes || lane_bytes > kMaxLaneBytes ||
      (lane_bytes & (lane_bytes - 1)) != 0) {
    return 0;
  }
  std::size_t per_lane = 0, lanes_total = 0, total = 0;
  if (__builtin_add_overflow(lane_bytes, kLaneControlBytes, &per_lane) ||
      __builtin_mul_overflow(lanes + 1, per_lane, &lanes_total) ||
      __builtin_add_overflow(lanes_total, kHeaderBytes, &total)) {
    return 0;  // cannot happen within the bounds above; kept so that the bounds may change
  }
  return total;
}

}  // namespace tailgate::shm
