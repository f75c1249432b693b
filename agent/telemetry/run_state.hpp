#pragma once
// Crash accounting. Spans the agent holds in memory (buffered for a decision, queued, in export)
// die with the process on kill -9, an OOM kill or a power cut; this makes that loss visible.
// Every second the main loop writes the counts whose difference is "in flight"
//
//   in flight = received + recovered - exported - sampled_out - dropped - spooled
//
// to <directory>/tailgate.state (written as tailgate.state.new, then renamed over it, so a reader
// sees the old file or the new one; a CRC-32 line at the end catches a file torn by a power cut).
// The orderly shutdown's last write marks it clean. At the next start a file that is not marked
// clean means the last run died: the spans in flight at its last write are reported lost, as
// tailgate_spans_lost_in_crash_total and an event=unclean_stop_detected line. It is an estimate
// to within the write interval (spans received after the last write are missing from it, spans
// delivered after it are in it); the ring's segments outlive the agent and are not lost.
// Without fsync: a process crash keeps the page cache, and after a power cut a torn file is
// detected, ignored and counted (tailgate_state_files_torn_total) rather than trusted.
// Used by the main thread only.

#include <cstdint>
#include <string>

#include "telemetry/counters.hpp"

namespace tailgate::telemetry {

/// The counts of one write, and when and by whom it was made.
struct RunSnapshot {
  std::uint64_t received = 0;
  std::uint64_t recovered = 0;
  std::uint64_t exported = 0;
  std::uint64_t sampled_out = 0;
  std::uint64_t dropped = 0;  ///< after decode: those counted as received
  std::uint64_t spooled = 0;
  [[nodiscard]] std::uint64_t in_flight() const noexcept;
};
[[nodiscard]] RunSnapshot snapshot_of(const Counters& c) noexcept;

class RunState {
 public:
  enum class Previous { None, Clean, Unclean, Torn };

  /// `directory` empty: crash accounting is off (said once at start-up by open()).
  explicit RunState(std::string directory);

  /// Reads what the last run left, counts and logs an unclean stop or a torn file, then marks
  /// this run as started (not clean). Throws std::runtime_error if the directory is unusable.
  Previous open(Counters& counters);
  /// Writes the counts now; `clean` only as the last step of an orderly shutdown.
  void save(const Counters& counters, bool clean);

  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  [[nodiscard]] std::string render(const RunSnapshot& s, bool clean) const;

  std::string directory_;
  std::string path_;
  long pid_ = 0;
  std::int64_t started_unix_ = 0;
  bool write_failed_ = false;  ///< logged once, not every second
};

}  // namespace tailgate::telemetry
