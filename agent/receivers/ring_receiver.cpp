#include "receivers/ring_receiver.hpp"

#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <vector>

#include <spdlog/spdlog.h>

#include "receivers/log_limiter.hpp"
#include "shm/segment.hpp"
#include "wire/decode.hpp"

namespace tailgate::receivers {
namespace {

namespace fs = std::filesystem;
constexpr std::size_t kRecordsPerLaneDrain = 4096;  // bounds one lane's turn; others wait less
// Spans handed to the pipeline at a time. Small enough that a batch's array stays below malloc's
// mmap threshold and is recycled from the heap instead of faulting in fresh pages every time.
constexpr std::size_t kBatchSpans = 256;
constexpr auto kMaxIdleSleep = std::chrono::milliseconds(5);
constexpr std::size_t kBusyPass = 1024;  // records in one pass over all lanes that mean "busy"
constexpr auto kTricklePause = std::chrono::milliseconds(1);
// More records a second than one producer thread can build and try to write: the most loss a
// lane may report (see Attached::credit_loss).
constexpr std::uint64_t kMaxWritesPerLaneSecond = 100'000'000;

/// A descriptor that turns readable when `pid` exits, or -1 (kernel before 5.3, or no such pid).
int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

}  // namespace

struct RingReceiver::Attached {
  Attached() = default;
  Attached(const Attached&) = delete;
  Attached& operator=(const Attached&) = delete;
  ~Attached() {
    if (pidfd >= 0) ::close(pidfd);
  }
  std::unique_ptr<shm::Segment> segment;
  std::shared_ptr<const model::Resource> resource;
  int pidfd = -1;
  bool exited = false;  ///< the pidfd said so: reap at once, without waiting for the rescan
  /// The overflow lane's uncommitted record that draining stopped at, and since when.
  std::optional<std::uint64_t> stalled_at;
  std::chrono::steady_clock::time_point stalled_since;
  /// Loss counts are the producer's word, in memory any process of the ring group can write (a
  /// count of 10^18, or 2^64 - 1 to wrap the counter). Credited at most at the rate its lanes
  /// could have been written, kMaxWritesPerLaneSecond per lane, with a burst of one second's
  /// worth (what piles up while the agent restarts); the rest is refused, the report counted as
  /// capped. Returns the loss to credit.
  std::uint64_t credit_loss(std::uint64_t claimed, std::chrono::steady_clock::time_point now,
                            bool& capped) {
    const std::uint64_t burst = (segment->lane_count() + 1ULL) * kMaxWritesPerLaneSecond;
    if (!loss_refilled) loss_allowance = burst;
    const auto elapsed_us =
        loss_refilled
            ? std::chrono::duration_cast<std::chrono::microseconds>(now - *loss_refilled).count()
            : 0;
    loss_refilled = now;
    loss_allowance = std::min<std::uint64_t>(
        burst, telemetry::saturating_add(
                   loss_allowance, static_cast<std::uint64_t>(elapsed_us) * (burst / 1'000'000)));
    const auto credited = std::min(claimed, loss_allowance);
    loss_allowance -= credited;
    capped = credited < claimed;
    return credited;
  }
  std::uint64_t loss_allowance = 0;
  std::optional<std::chrono::steady_clock::time_point> loss_refilled;
};

RingReceiver::RingReceiver(const config::RingReceiverConfig& config, model::SpanQueue& out,
                           telemetry::Counters& counters)
    : config_(config), out_(out), counters_(counters) {
  std::error_code ec;
  if (fs::create_directories(config_.directory, ec)) {
    ::chmod(config_.directory.c_str(), 02770);  // setgid: segments inherit the directory's group
  }
  if (ec) throw std::runtime_error("ring directory " + config_.directory + ": " + ec.message());
  if (!config_.group.empty()) {
    const group* g = ::getgrnam(config_.group.c_str());
    if (g == nullptr) {
      throw std::runtime_error("receivers.ring.group: no group named " + config_.group);
    }
    if (::chown(config_.directory.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0 ||
        ::chmod(config_.directory.c_str(), 02770) != 0) {
      spdlog::warn("event=ring_group_not_set directory={} group={} error=\"{}\"", config_.directory,
                   config_.group, std::strerror(errno));
    }
  }
  inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  // Segments appear by rename (complete) and vanish by unlink (reaped, or a producer's cleanup).
  if (inotify_fd_ >= 0 &&
      ::inotify_add_watch(inotify_fd_, config_.directory.c_str(), IN_MOVED_TO | IN_DELETE) < 0) {
    ::close(inotify_fd_);
    inotify_fd_ = -1;
  }
}

RingReceiver::~RingReceiver() {
  stop();
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
}

void RingReceiver::start() {
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "tg-ring");  // for top -H and perf
    run();
  });
}

void RingReceiver::stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true, std::memory_order_relaxed);  // the thread polls it at least every 5 ms
  thread_.join();
}

void RingReceiver::run() noexcept {
  auto next_scan = std::chrono::steady_clock::now();
  auto idle_sleep = std::chrono::microseconds(0);
  while (!stopping_.load(std::memory_order_relaxed)) {
    if (std::chrono::steady_clock::now() >= next_scan) {
      rescan();
      next_scan = std::chrono::steady_clock::now() + config_.scan_interval;
    }
    const auto taken = drain_all();
    if (taken >= kBusyPass) {
      idle_sleep = std::chrono::microseconds(0);  // busy: go straight on
    } else if (taken > 0) {
      // A trickle: pause briefly instead of spinning on the producers' tail lines, which would
      // pull those cache lines away from the trading threads on every span they write.
      idle_sleep = std::chrono::microseconds(0);
      std::this_thread::sleep_for(kTricklePause);
    } else {
      // Idle: back off to a few milliseconds, so that an idle agent costs almost nothing.
      idle_sleep = std::min<std::chrono::microseconds>(
          idle_sleep * 2 + std::chrono::microseconds(50), kMaxIdleSleep);
      wait_idle(idle_sleep);
      bool exited = false;
      for (const auto& [path, attached] : segments_) exited |= attached->exited;
      if (exited) next_scan = std::chrono::steady_clock::now();  // reap now
    }
  }
  // One last drain, bounded: producers that keep writing are read by the next run.
  for (int round = 0; round < 64 && drain_all() > 0; ++round) {
  }
}

void RingReceiver::wait_idle(std::chrono::microseconds timeout) {
  std::vector<pollfd> fds;
  std::vector<Attached*> owners;
  if (inotify_fd_ >= 0) {
    fds.push_back({inotify_fd_, POLLIN, 0});
    owners.push_back(nullptr);
  }
  for (auto& [path, attached] : segments_) {
    if (attached->pidfd < 0 || attached->exited) continue;
    fds.push_back({attached->pidfd, POLLIN, 0});
    owners.push_back(attached.get());
  }
  const int ms = static_cast<int>((timeout.count() + 999) / 1000);
  if (fds.empty() || ::poll(fds.data(), fds.size(), ms) <= 0) {
    if (fds.empty()) std::this_thread::sleep_for(timeout);
    return;
  }
  bool directory_changed = false;
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if (fds[i].revents == 0) continue;
    if (owners[i] != nullptr) {
      owners[i]->exited = true;
    } else {
      directory_changed = true;
    }
  }
  if (directory_changed) {  // last: a rescan may remove segments that `owners` points at
    alignas(inotify_event) char events[4096];
    while (::read(inotify_fd_, events, sizeof events) > 0) {
    }
    rescan();  // what changed is in the directory; the rescan reads it whole
  }
}

void RingReceiver::rescan() {
  std::error_code ec;
  std::set<std::string> present;
  for (const auto& entry : fs::directory_iterator(config_.directory, ec)) {
    const auto path = entry.path().string();
    if (!path.ends_with(".ring")) continue;
    present.insert(path);
    if (segments_.contains(path) || refused_.contains(path)) continue;
    try {
      auto attached = std::make_unique<Attached>();
      attached->segment = shm::Segment::attach(path);
      auto resource = std::make_shared<model::Resource>();
      const auto bytes = attached->segment->resource();
      if (bytes.size() > wire::kRecordHeaderSize &&
          wire::decode_resource(bytes.subspan(wire::kRecordHeaderSize), *resource) ==
              wire::DecodeError::None) {
        attached->resource = std::move(resource);
      } else {
        attached->resource = wire::unknown_resource();
      }
      attached->pidfd = open_pidfd(attached->segment->pid());
      if (!attached->segment->producer_alive()) attached->exited = true;  // pid reused, or gone
      spdlog::info("event=segment_attached path={} pid={} lanes={}", path, attached->segment->pid(),
                   attached->segment->lane_count());
      segments_.emplace(path, std::move(attached));
    } catch (const std::exception& e) {
      // Refused once and remembered: never reused, never overwritten, not logged again.
      refused_.insert(path);
      counters_.ring_segments_refused.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("event=segment_refused error=\"{}\"", e.what());
    }
  }
  // Producers that died: drain what they committed, then remove their segment.
  for (auto it = segments_.begin(); it != segments_.end();) {
    auto& attached = *it->second;
    if (present.contains(it->first) && !attached.exited && attached.segment->producer_alive()) {
      ++it;
      continue;
    }
    while (drain(attached) > 0) {
    }
    // What it was writing when it died: never committed, so counted here. So are the drops it
    // counted after its last record that fitted: no loss record will ever announce them.
    const auto torn = attached.segment->torn_records() + (attached.stalled_at ? 1 : 0) +
                      attached.segment->unannounced_drops();
    if (torn > 0) add_producer_loss(attached, torn);
    spdlog::info("event=producer_gone path={} pid={} dropped_by_producer={} torn={}", it->first,
                 attached.segment->pid(), attached.segment->producer_dropped(), torn);
    fs::remove(it->first, ec);
    counters_.ring_producers_reaped.fetch_add(1, std::memory_order_relaxed);
    it = segments_.erase(it);
  }
  std::erase_if(refused_, [&](const auto& path) { return !present.contains(path); });
  counters_.ring_segments_attached.store(segments_.size(), std::memory_order_relaxed);
}

std::size_t RingReceiver::drain_all() {
  std::size_t total = 0;
  for (auto& [path, attached] : segments_) total += drain(*attached);
  return total;
}

std::size_t RingReceiver::drain(Attached& attached) {
  model::SpanBatch batch;
  batch.reserve(kBatchSpans);
  std::size_t records = 0;
  std::uint64_t malformed = 0, lost = 0, zero_ids = 0;
  const auto hand_on = [&] {
    const auto n = batch.size();
    counters_.add_received(telemetry::Receiver::Ring, n);
    if (!out_.try_push(batch)) counters_.add_dropped(telemetry::DropReason::PipelineFull, n);
    batch.clear();
    batch.reserve(kBatchSpans);
  };
  const auto handle = [&](wire::RecordType type, std::span<const std::byte> payload) {
    if (type == wire::RecordType::Span) {
      // Decoded in place: a span is never moved on its way into the batch. Items stay packed
      // until the span is kept (most are not).
      if (const auto e = wire::decode_span(payload, attached.resource, batch.emplace_back(),
                                           wire::Items::Packed);
          e != wire::DecodeError::None) {
        batch.pop_back();
        ++(e == wire::DecodeError::ZeroId ? zero_ids : malformed);
      } else if (batch.size() >= kBatchSpans) {
        hand_on();
      }
    } else if (type == wire::RecordType::Loss && payload.size() == sizeof(std::uint64_t)) {
      std::uint64_t n = 0;
      std::memcpy(&n, payload.data(), sizeof n);
      lost = telemetry::saturating_add(lost, n);
    } else {
      ++malformed;
    }
  };
  const std::size_t overflow = attached.segment->lane_count();
  for (std::size_t lane = 0; lane <= overflow; ++lane) {
    auto reader = attached.segment->reader(lane);
    const auto drained = reader.drain(handle, kRecordsPerLaneDrain);
    records += drained.records;
    if (drained.skipped_bytes > 0) ++malformed;
    if (lane != overflow) continue;
    // A claim not committed: its writer is slow, stopped or dead. Give it up after a while, or
    // every record behind it in the overflow lane would wait with it.
    const auto now = std::chrono::steady_clock::now();
    if (drained.stalled_at != attached.stalled_at) {
      attached.stalled_at = drained.stalled_at;
      attached.stalled_since = now;
    } else if (attached.stalled_at &&
               now - attached.stalled_since >= config_.stalled_write_timeout &&
               reader.abandon(*attached.stalled_at)) {
      ++lost;
      attached.stalled_at.reset();
      ++records;  // progress: drain again straight away
    }
  }
  if (!batch.empty()) hand_on();
  if (malformed > 0) counters_.add_dropped(telemetry::DropReason::Malformed, malformed);
  if (zero_ids > 0) {
    counters_.add_rejected_spans(telemetry::Receiver::Ring, telemetry::RejectReason::ZeroId,
                                 zero_ids);
  }
  if (lost > 0) add_producer_loss(attached, lost);
  return records;
}

void RingReceiver::add_producer_loss(Attached& attached, std::uint64_t claimed) {
  bool capped = false;
  const auto credited = attached.credit_loss(claimed, std::chrono::steady_clock::now(), capped);
  counters_.add_dropped(telemetry::DropReason::ProducerLoss, credited);
  if (capped) {
    static LogLimiter log;  // a producer that lies on every drain gets one line a second
    counters_.loss_reports_capped[static_cast<std::size_t>(telemetry::Receiver::Ring)].fetch_add(
        1, std::memory_order_relaxed);
    if (const auto n = log.note()) {
      spdlog::warn("event=producer_loss_capped reports={} path={} pid={} claimed={} credited={}", n,
                   attached.segment->path(), attached.segment->pid(), claimed, credited);
    }
  }
}

}  // namespace tailgate::receivers
