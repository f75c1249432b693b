#pragma once
// The shared-memory ring receiver: finds producers' segments in the ring directory (inotify
// events, one at a time, and a full listing now and then as the safety net), checks and attaches
// them (a bad one is refused once, logged, never written to; at most max_segments at once, the
// rest wait), drains every lane on its own thread (busy: straight on; idle: waiting up to a few ms
// in poll() on the directory's inotify descriptor and the producers' pidfds, so a new segment or a
// dead producer wakes it at once), decodes the records with the segment's resource and hands the
// spans to the pipeline. Loss records, records torn by a dying producer and overflow-lane claims
// abandoned after stalled_write_timeout all become dropped{producer_loss}. A producer that has
// died (pid gone, or reused: start time differs; never merely "could not check") is drained one
// last time, then its segment is removed. A segment whose file shrinks under the agent costs that
// segment only (shm/fault_guard.hpp): given up, counted in ring_segments_lost. The read position
// lives in the segment, so an agent restart resumes exactly where this one stopped.
// start()/stop() on the Agent's thread; the rest on the receiver thread.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "model/span_queue.hpp"
#include "receivers/log_limiter.hpp"
#include "shm/ring_directory.hpp"
#include "telemetry/counters.hpp"

namespace tailgate::shm {
class Segment;
class Heartbeat;
}  // namespace tailgate::shm

namespace tailgate::receivers {

class RingReceiver final {
 public:
  /// Makes the directory (group: config.group, else the agent's; mode 2770, or 0770 where set-id
  /// modes are refused) or checks an existing one (shm/ring_directory.hpp). A directory it cannot
  /// trust is refused, logged and reported by directory_problem(), and looked at again every scan.
  /// Throws only for a group that does not exist.
  RingReceiver(const config::RingReceiverConfig& config, model::SpanQueue& out,
               telemetry::Counters& counters);
  ~RingReceiver();
  RingReceiver(const RingReceiver&) = delete;
  RingReceiver& operator=(const RingReceiver&) = delete;

  void start();
  /// Stops after one last drain of every segment; live producers' segments stay for the next run.
  void stop();
  [[nodiscard]] const std::string& directory() const noexcept { return config_.directory; }
  /// Any thread: why the directory is refused (nothing is read from it), or empty.
  [[nodiscard]] shm::DirectoryProblem directory_problem() const;

  /// An attached producer, as the status page and tailgate_ring_fill_ratio show it.
  struct Producer {
    std::int64_t pid = 0;
    std::string process;  ///< /proc/<pid>/comm when attached
    std::string service;  ///< service.name of its resource
    std::uint32_t lanes = 0;
    std::uint64_t spans = 0;    ///< decoded from it by this agent
    std::uint64_t dropped = 0;  ///< records it dropped because a lane was full
    double fill = 0;            ///< its fullest lane, 0..1
  };
  /// Any thread: the producers as of the last scan (every scan_interval).
  [[nodiscard]] std::vector<Producer> producers() const;

 private:
  struct Attached;
  /// Prepares the directory, its inotify watch and the heartbeat; false if it is refused.
  bool settle_directory();
  void refuse_directory(const shm::DirectoryProblem& problem);
  /// Once a second: checks the directory again and refreshes the heartbeat.
  void keep_directory();
  void run() noexcept;
  void wait_idle(std::chrono::microseconds timeout);
  void read_directory_events();
  /// Lists the directory whole: new segments, and attached ones whose file is gone.
  void list_directory();
  /// A segment file that appeared: attach it, refuse it, or keep it waiting for room.
  void consider(const std::string& path);
  [[nodiscard]] std::unique_ptr<Attached> admit(const std::string& path) const;
  void refuse(const std::string& path, const std::string& why);
  /// Reaps segments whose producer died or whose file went; then gives waiting ones their turn.
  void check_producers();
  void publish_producers();
  void reap(const std::string& path, Attached& segment);
  void lose(Attached& segment);
  std::size_t drain_all();
  std::size_t drain(Attached& segment);
  /// Credits a producer's reported loss, bounded (Attached::credit_loss).
  void add_producer_loss(Attached& segment, std::uint64_t claimed);

  config::RingReceiverConfig config_;
  model::SpanQueue& out_;
  telemetry::Counters& counters_;
  gid_t group_;  ///< the ring group: config.group's, else the agent's
  std::unique_ptr<shm::Heartbeat> heartbeat_;
  std::chrono::steady_clock::time_point next_beat_;
  LogLimiter directory_log_;
  std::map<std::string, std::unique_ptr<Attached>> segments_;
  std::set<std::string> refused_;  ///< never attached again while the file is there
  std::set<std::string> waiting_;  ///< over max_segments, or attach lacked a resource: retried
  LogLimiter refused_log_, waiting_log_, unknown_log_;
  int inotify_fd_ = -1;  ///< -1 where inotify is unavailable: the listing still finds segments
  mutable std::mutex producers_mutex_;  ///< guards producers_ and directory_problem_
  std::vector<Producer> producers_;
  shm::DirectoryProblem directory_problem_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace tailgate::receivers
