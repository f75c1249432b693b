#pragma once
// A ring segment file (ring_layout.hpp): created and written by a producer process, attached and
// drained by the agent. create() builds it under a temporary name and renames it into place only
// when complete, so the agent never attaches half a segment. attach() refuses a file whose magic,
// layout version or sizes do not hold, with the reason, and never writes to such a file.
// A Segment is owned by one thread; its lanes each have one writer and one reader.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "shm/lane.hpp"
#include "shm/ring_layout.hpp"

namespace tailgate::shm {

struct SegmentOptions {
  std::string directory = "/dev/shm/tailgate";
  std::uint32_t lanes = 8;              ///< producer threads with a lane of their own
  std::size_t lane_bytes = 1u << 20;    ///< per lane; a power of two
  std::span<const std::byte> resource;  ///< a wire resource record (service.name, ...)
};

/// Clock ticks since boot at which `pid` started (/proc/<pid>/stat); 0 if no such process runs;
/// nullopt if it could not be checked (no file descriptor left, /proc unreadable): that is not
/// "dead", and a producer must never be reaped for it.
[[nodiscard]] std::optional<std::uint64_t> process_start_time(pid_t pid);
/// Whether `pid` runs as `uid` (any of its real, effective, saved or filesystem uids, from
/// /proc/<pid>/status: readable whatever the process's dumpable flag); nullopt if unknown.
[[nodiscard]] std::optional<bool> process_runs_as(pid_t pid, uid_t uid);

/// attach() failed for want of a resource (descriptors, memory), not for the file: try again.
struct TransientError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class Liveness : std::uint8_t { Alive, Dead, Unknown };

class Segment final {
 public:
  /// Creates this process's segment. Throws std::runtime_error naming the path and the cause.
  static std::unique_ptr<Segment> create(const SegmentOptions& options);
  /// Maps an existing segment and checks its header against the file: magic, layout version,
  /// every size (overflow-safe) and the pid. The header is read once, here: a producer that
  /// rewrites it later changes nothing the agent computes. Throws std::runtime_error with the
  /// reason it was refused. Holds no file descriptor once it returns.
  static std::unique_ptr<Segment> attach(const std::string& path);
  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  /// A lane of its own for the calling producer thread (once per thread; give it back with
  /// LaneWriter::release() when the thread ends), or a detached writer when all lanes are taken:
  /// then write to overflow_lane().
  [[nodiscard]] LaneWriter claim_lane() noexcept;
  /// The lane shared by threads that found every lane taken.
  [[nodiscard]] SharedLaneWriter overflow_lane() noexcept;
  /// Lane `lane` < lane_count(), or the overflow lane at lane_count().
  [[nodiscard]] LaneReader reader(std::size_t lane) noexcept;
  /// Lanes of one's own; the overflow lane comes after them.
  [[nodiscard]] std::uint32_t lane_count() const noexcept { return lane_count_; }
  [[nodiscard]] std::span<const std::byte> resource() const noexcept { return resource_; }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] std::uint64_t start_time() const noexcept { return start_time_; }
  /// The user that owns the segment's file.
  [[nodiscard]] uid_t file_owner() const noexcept { return file_owner_; }
  /// Alive: same pid and the same start time (not a reused pid). Unknown: /proc could not be read.
  [[nodiscard]] Liveness producer_liveness() const;
  /// Records the producer dropped because a lane was full, over all lanes.
  [[nodiscard]] std::uint64_t producer_dropped() const noexcept;
  /// The fullest lane's unread bytes over its size, 0..1 (the overflow lane included): a lane
  /// that fills is where the producer starts dropping. The tail is the producer's word: capped.
  [[nodiscard]] double fullest_lane_fill() const noexcept;
  /// For a dead producer: records it was copying into a lane of its own when it died (torn, never
  /// visible). The overflow lane's torn record shows as a stall instead (LaneReader::Drained).
  [[nodiscard]] std::uint64_t torn_records() const noexcept;
  /// Drops the producer counted but never announced in a loss record (it announces them with
  /// its next record that fits; a producer that stops first leaves them here), over every lane.
  [[nodiscard]] std::uint64_t unannounced_drops() const noexcept;
  /// A read of the mapping faulted (the file shrank under us): the three counts above read 0.
  [[nodiscard]] bool faulted() const noexcept { return faulted_; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  struct Header;
  Segment(std::string path, std::byte* base, std::size_t bytes, const Header& header);
  static void check_header(const std::string& path, const Header& h, std::size_t bytes);
  [[nodiscard]] LaneControl* control(std::size_t lane) const noexcept;
  /// Sums `field` of each lane's control (the overflow lane's too if `overflow`), guarded.
  template <typename Fn>
  [[nodiscard]] std::uint64_t sum_lanes(bool overflow, Fn&& field) const noexcept;

  std::string path_;
  std::byte* base_;
  std::size_t bytes_;
  // The header as attach() checked it: never read from the mapping again.
  std::uint32_t lane_count_;
  std::size_t lane_bytes_;
  pid_t pid_;
  std::uint64_t start_time_;
  uid_t file_owner_;
  std::vector<std::byte> resource_;
  mutable bool faulted_ = false;
};

}  // namespace tailgate::shm
