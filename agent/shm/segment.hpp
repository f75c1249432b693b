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
#include <span>
#include <string>

#include "shm/lane.hpp"
#include "shm/ring_layout.hpp"

namespace tailgate::shm {

struct SegmentOptions {
  std::string directory = "/dev/shm/tailgate";
  std::uint32_t lanes = 8;              ///< producer threads with a lane of their own
  std::size_t lane_bytes = 1u << 20;    ///< per lane; a power of two
  std::span<const std::byte> resource;  ///< a wire resource record (service.name, ...)
};

/// Clock ticks since boot at which `pid` started (/proc/<pid>/stat), or 0 if it is not running.
[[nodiscard]] std::uint64_t process_start_time(pid_t pid);

class Segment final {
 public:
  /// Creates this process's segment. Throws std::runtime_error naming the path and the cause.
  static std::unique_ptr<Segment> create(const SegmentOptions& options);
  /// Maps an existing segment. Throws std::runtime_error with the reason it was refused.
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
  [[nodiscard]] std::uint32_t lane_count() const noexcept { return header().lane_count; }
  [[nodiscard]] std::span<const std::byte> resource() const noexcept;
  [[nodiscard]] pid_t pid() const noexcept { return static_cast<pid_t>(header().pid); }
  [[nodiscard]] std::uint64_t start_time() const noexcept { return header().start_time; }
  /// The producer still runs (same pid and the same start time: not a reused pid).
  [[nodiscard]] bool producer_alive() const;
  /// Records the producer dropped because a lane was full, over all lanes.
  [[nodiscard]] std::uint64_t producer_dropped() const noexcept;
  /// For a dead producer: records it was copying into a lane of its own when it died (torn, never
  /// visible). The overflow lane's torn record shows as a stall instead (LaneReader::Drained).
  [[nodiscard]] std::uint64_t torn_records() const noexcept;
  /// Drops the producer counted but never announced in a loss record (it announces them with
  /// its next record that fits; a producer that stops first leaves them here), over every lane.
  [[nodiscard]] std::uint64_t unannounced_drops() const noexcept;
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  Segment(std::string path, int fd, std::byte* base, std::size_t bytes);
  [[nodiscard]] const SegmentHeader& header() const noexcept {
    return *reinterpret_cast<const SegmentHeader*>(base_);
  }
  [[nodiscard]] LaneControl* control(std::size_t lane) const noexcept;

  std::string path_;
  int fd_;
  std::byte* base_;
  std::size_t bytes_;
};

}  // namespace tailgate::shm
