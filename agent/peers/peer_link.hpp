#pragma once
// The peers stage (docs/fleet.md): shares keep decisions between the agents of a fleet through
// one Redis stream. A publisher thread takes the pipeline's keeps from `outbox` and appends them,
// batched (pipelined XADD, MAXLEN ~ bounded); a follower thread reads the others' (XREAD BLOCK
// from its last id, so a reconnect resumes where it stopped) into `inbox`, which the pipeline
// drains at its tick. Redis down or slow costs these threads only: the queues are bounded and
// never wait, every loss is counted, reconnects back off. Owns its two threads; start()/stop()
// from the Agent's thread.

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "model/keep_queue.hpp"
#include "telemetry/counters.hpp"

struct redisReply;

namespace tailgate::peers {

class RedisLink;

class PeerLink final {
 public:
  PeerLink(const config::PeersConfig& config, model::KeepQueue& outbox, model::KeepQueue& inbox,
           telemetry::Counters& counters);
  ~PeerLink();
  PeerLink(const PeerLink&) = delete;
  PeerLink& operator=(const PeerLink&) = delete;

  void start();
  /// Publishes what the outbox still holds (if Redis is up), then joins both threads.
  void stop();
  [[nodiscard]] const std::string& agent_id() const noexcept { return agent_id_; }

 private:
  void publish_loop() noexcept;
  /// Sends `batch` in one round trip (pipelined XADDs); removes what Redis answered, leaving
  /// what a broken connection left unanswered.
  void publish_batch(RedisLink& link, std::vector<model::Keep>& batch);
  void follow_loop() noexcept;
  /// Pushes the keeps of an XREAD reply to the inbox; `last_id` moves to the last entry read.
  void follow_entries(const redisReply* r, std::string& last_id);
  /// Counts the keeps of `agent` between the last one read and `sequence` as missed.
  void note_sequence(std::string_view agent, std::uint64_t sequence);
  /// Waits up to `d`, or less if stop() is called; false once stopping.
  bool pause(std::chrono::milliseconds d);

  config::PeersConfig config_;
  model::KeepQueue& outbox_;
  model::KeepQueue& inbox_;
  telemetry::Counters& counters_;
  std::string agent_id_;
  std::atomic<bool> stopping_{false};
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  std::thread publisher_;
  std::thread follower_;
  std::uint64_t last_published_ = 0;  ///< the publisher's numbering of its keeps
  /// The follower's: the last number read from each other agent (bounded: kMaxFollowedAgents).
  std::unordered_map<std::string, std::uint64_t> last_followed_;
};

}  // namespace tailgate::peers
