#include "peers/peer_link.hpp"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "peers/keep_codec.hpp"
#include "peers/redis_link.hpp"
#include "telemetry/log_escape.hpp"

namespace tailgate::peers {
namespace {

using telemetry::PeerConnection;
// How long one XREAD waits for new entries: bounds how late stop() is noticed.
constexpr std::chrono::milliseconds kReadBlock{200};
constexpr std::string_view kReadCount = "1000";
// Agents followed by number; past it the table starts afresh (an agent id is new at each start,
// so a fleet that restarts often would grow it forever). A gap across a reset goes unseen.
constexpr std::size_t kMaxFollowedAgents = 4096;
// The most one gap may count: a forged number cannot claim billions of missed keeps.
constexpr std::uint64_t kMaxGapCounted = 1u << 20;

std::string default_agent_id() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(::getpid());
}

std::size_t index(PeerConnection c) {
  return static_cast<std::size_t>(c);
}

// Connects `link` once, counting and logging the transitions; false if Redis is not there.
// `usable`: connected is what the connection's gauge says from now on (the follow connection says
// so only once it knows where to follow from).
bool reconnect(RedisLink& link, const config::PeersConfig& c, PeerConnection which,
               std::chrono::milliseconds command_timeout, telemetry::Counters& counters,
               bool& ever_connected, bool& logged_down, bool usable = true) {
  if (link.connect(c.endpoint, c.password, c.timeout, command_timeout)) {
    if (usable) counters.peer_connected[index(which)].store(1, std::memory_order_relaxed);
    if (ever_connected)
      counters.peer_reconnects[index(which)].fetch_add(1, std::memory_order_relaxed);
    ever_connected = true;
    logged_down = false;
    spdlog::info("event=peers_redis_connected connection={} endpoint={}", to_string(which),
                 c.endpoint);
    return true;
  }
  counters.peer_errors[index(which)].fetch_add(1, std::memory_order_relaxed);
  if (!logged_down) {
    spdlog::warn("event=peers_redis_unreachable connection={} endpoint={} error={}",
                 to_string(which), c.endpoint, telemetry::quoted(link.error()));
    logged_down = true;
  }
  return false;
}

void lost(RedisLink& link, PeerConnection which, telemetry::Counters& counters) {
  counters.peer_connected[index(which)].store(0, std::memory_order_relaxed);
  counters.peer_errors[index(which)].fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("event=peers_redis_lost connection={} error={}", to_string(which),
               telemetry::quoted(link.error()));
}

std::string_view text(const redisReply* r) {
  return r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
             ? std::string_view(r->str, r->len)
             : std::string_view();
}

// The id of the newest entry in an XREVRANGE ... COUNT 1 reply; "0-0" for an empty stream.
std::string newest_id(const redisReply* r) {
  if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
      r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2) {
    return std::string(text(r->element[0]->element[0]));
  }
  return "0-0";
}

}  // namespace

PeerLink::PeerLink(const config::PeersConfig& config, model::KeepQueue& outbox,
                   model::KeepQueue& inbox, telemetry::Counters& counters)
    : config_(config),
      outbox_(outbox),
      inbox_(inbox),
      counters_(counters),
      agent_id_(config.agent_id.empty() ? default_agent_id() : config.agent_id) {}

PeerLink::~PeerLink() {
  stop();
}

void PeerLink::start() {
  // spdlog's registry is made on first use; made here, before the threads that log, its making
  // happens before their first look at it (ThreadSanitizer cannot see spdlog's own guard).
  (void)spdlog::default_logger_raw();
  publisher_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "tg-peers-pub");
    publish_loop();
  });
  follower_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "tg-peers-follow");
    follow_loop();
  });
}

void PeerLink::stop() {
  {
    std::lock_guard lock(stop_mutex_);
    stopping_.store(true, std::memory_order_relaxed);  // under the mutex: pause() sees it
  }
  stop_cv_.notify_all();
  outbox_.close();
  if (publisher_.joinable()) publisher_.join();
  if (follower_.joinable()) follower_.join();
}

bool PeerLink::pause(std::chrono::milliseconds d) {
  std::unique_lock lock(stop_mutex_);
  stop_cv_.wait_for(lock, d, [this] { return stopping_.load(std::memory_order_relaxed); });
  return !stopping_.load(std::memory_order_relaxed);
}

void PeerLink::publish_loop() noexcept {
  RedisLink link;
  Backoff backoff(config_.initial_backoff, config_.max_backoff);
  bool ever = false, logged_down = false;
  // Taken from the outbox and not yet taken by Redis: a batch whose connection broke is sent
  // again after the reconnect (a keep sent twice is followed once), so an outage shorter than
  // the peers' hold_time loses no keep.
  std::vector<model::Keep> batch;
  while (true) {
    const bool stopping = stopping_.load(std::memory_order_relaxed);
    if (!link.connected()) {
      if (stopping) break;
      if (!reconnect(link, config_, PeerConnection::Publish, config_.timeout, counters_, ever,
                     logged_down)) {
        // Keeps wait in the bounded outbox meanwhile; past it the pipeline counts them lost.
        pause(backoff.next());
        continue;
      }
    }
    if (batch.empty()) {
      if (outbox_.wait_pop_all(batch, std::chrono::milliseconds(100)) == 0) {
        if (stopping) break;
        continue;
      }
      // Gather for publish_delay: one round trip for many keeps.
      if (!stopping) pause(config_.publish_delay);
    }
    outbox_.pop_all(batch);
    if (batch.size() > config_.queue_keeps) {  // bounded: the oldest go, counted
      const auto excess = batch.size() - config_.queue_keeps;
      batch.erase(batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(excess));
      counters_.add_peer_loss(telemetry::PeerLoss::PublishFailed, excess);
    }
    publish_batch(link, batch);
    if (link.connected()) {
      backoff.reset();  // only once Redis took a batch: a Redis that accepts and then stalls
    } else {            // is retried at the backoff's pace too
      lost(link, PeerConnection::Publish, counters_);
      pause(backoff.next());
    }
  }
  // Stopping with Redis down: what is left will never be sent.
  counters_.add_peer_loss(telemetry::PeerLoss::PublishFailed, batch.size());
  batch.clear();
  counters_.add_peer_loss(telemetry::PeerLoss::PublishFailed, outbox_.pop_all(batch));
  counters_.peer_connected[index(PeerConnection::Publish)].store(0, std::memory_order_relaxed);
}

void PeerLink::publish_batch(RedisLink& link, std::vector<model::Keep>& batch) {
  const auto max_len = std::to_string(config_.max_stream_length);
  std::size_t appended = 0;
  for (auto& keep : batch) {
    // Numbered once: a keep sent again after a broken connection keeps its number.
    if (keep.sequence == 0) keep.sequence = ++last_published_;
    const auto fields = encode_keep(keep, agent_id_);
    std::vector<std::string_view> args = {"XADD", config_.stream, "MAXLEN", "~", max_len, "*"};
    for (const auto& [k, v] : fields) {
      args.push_back(k);
      args.push_back(v);
    }
    if (!link.append(args)) break;
    ++appended;
  }
  std::size_t answered = 0, ok = 0;
  for (; answered < appended; ++answered) {
    const auto r = link.reply();
    if (!r) break;  // the connection broke: this keep and the rest are sent again
    if (r->type == REDIS_REPLY_ERROR) {  // refused (out of memory, not a stream...): lost
      counters_.peer_errors[index(PeerConnection::Publish)].fetch_add(1, std::memory_order_relaxed);
      counters_.add_peer_loss(telemetry::PeerLoss::PublishFailed);
      continue;
    }
    ++ok;
  }
  counters_.peer_keeps_published.fetch_add(ok, std::memory_order_relaxed);
  batch.erase(batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(answered));
}

void PeerLink::follow_loop() noexcept {
  RedisLink link;
  Backoff backoff(config_.initial_backoff, config_.max_backoff);
  bool ever = false, logged_down = false, logged_refused = false;
  std::string last_id;  // of the last entry read; empty until the first read
  const auto block = std::to_string(kReadBlock.count());
  while (!stopping_.load(std::memory_order_relaxed)) {
    if (!link.connected()) {
      // Following starts at the first read's newest id: until then, "connected" would promise
      // keeps that this agent cannot see (a keep published meanwhile is older than that id). Set
      // and then cleared here, the gauge said so for a moment: a peer that published then had
      // its keeps missed (the peer link test, under load).
      if (!reconnect(link, config_, PeerConnection::Follow, config_.timeout + kReadBlock, counters_,
                     ever, logged_down, !last_id.empty())) {
        pause(backoff.next());
        continue;
      }
    }
    // The first read starts from the newest entry: older keeps are for traces long decided.
    const auto r = last_id.empty()
                       ? link.command({"XREVRANGE", config_.stream, "+", "-", "COUNT", "1"})
                       : link.command({"XREAD", "COUNT", kReadCount, "BLOCK", block, "STREAMS",
                                       config_.stream, last_id});
    if (!r) {
      lost(link, PeerConnection::Follow, counters_);
      pause(backoff.next());
      continue;
    }
    if (r->type == REDIS_REPLY_ERROR) {
      // Refused (not a stream, NOAUTH, LOADING...): counted, and asked again after a backoff, not
      // in a busy loop.
      counters_.peer_errors[index(PeerConnection::Follow)].fetch_add(1, std::memory_order_relaxed);
      if (!logged_refused) {
        spdlog::warn("event=peers_redis_refused connection=follow stream={} error={}",
                     config_.stream, telemetry::quoted(std::string_view(r->str, r->len)));
        logged_refused = true;
      }
      pause(backoff.next());
      continue;
    }
    backoff.reset();
    logged_refused = false;
    if (last_id.empty()) {
      last_id = newest_id(r.get());
      counters_.peer_connected[index(PeerConnection::Follow)].store(1, std::memory_order_relaxed);
    } else {
      follow_entries(r.get(), last_id);
    }
  }
  counters_.peer_connected[index(PeerConnection::Follow)].store(0, std::memory_order_relaxed);
}

void PeerLink::follow_entries(const redisReply* r, std::string& last_id) {
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 1) return;  // nil: nothing new
  const auto* stream = r->element[0];
  if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2) return;
  const auto* entries = stream->element[1];
  std::vector<std::pair<std::string_view, std::string_view>> fields;
  for (std::size_t i = 0; entries->type == REDIS_REPLY_ARRAY && i < entries->elements; ++i) {
    const auto* e = entries->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2) continue;
    last_id = std::string(text(e->element[0]));
    fields.clear();
    const auto* kv = e->element[1];
    for (std::size_t j = 0; kv->type == REDIS_REPLY_ARRAY && j + 1 < kv->elements; j += 2) {
      fields.emplace_back(text(kv->element[j]), text(kv->element[j + 1]));
    }
    model::Keep keep;
    std::string_view agent;
    const auto decoded = decode_keep(fields, agent_id_, keep, &agent);
    if (decoded == Decoded::Own) continue;
    if (decoded == Decoded::Malformed) {
      counters_.add_peer_loss(telemetry::PeerLoss::Malformed);
      continue;
    }
    if (keep.sequence != 0) note_sequence(agent, keep.sequence);
    counters_.peer_keeps_received.fetch_add(1, std::memory_order_relaxed);
    if (!inbox_.try_push(std::move(keep))) {
      counters_.add_peer_loss(telemetry::PeerLoss::FollowQueueFull);
    }
  }
}

void PeerLink::note_sequence(std::string_view agent, std::uint64_t sequence) {
  const auto it = last_followed_.find(std::string(agent));
  if (it == last_followed_.end()) {
    // First seen (this agent started following, or that one started publishing): no gap known.
    if (last_followed_.size() >= kMaxFollowedAgents) last_followed_.clear();
    last_followed_.emplace(agent, sequence);
    return;
  }
  if (sequence <= it->second) return;  // sent again after a broken connection: seen already
  if (const auto gap = sequence - it->second - 1; gap > 0) {
    counters_.add_peer_loss(telemetry::PeerLoss::Missed, std::min(gap, kMaxGapCounted));
  }
  it->second = sequence;
}

}  // namespace tailgate::peers
