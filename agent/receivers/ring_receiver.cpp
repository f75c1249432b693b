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
#include "receivers/ring_attached.hpp"
#include "shm/fault_guard.hpp"
#include "shm/ring_directory.hpp"
#include "shm/segment.hpp"
#include "telemetry/log_escape.hpp"
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
// With inotify, events say what appears and goes, one file at a time; the whole directory is
// listed only every kListingEvery scans, so idle cost does not grow with the files in it.
constexpr int kListingEvery = 25;

}  // namespace

RingReceiver::RingReceiver(const config::RingReceiverConfig& config, model::SpanQueue& out,
                           telemetry::Counters& counters)
    : config_(config), out_(out), counters_(counters), group_(::getegid()) {
  if (!config_.group.empty()) {
    const group* g = ::getgrnam(config_.group.c_str());
    if (g == nullptr) {
      throw std::runtime_error("receivers.ring.group: no group named " + config_.group);
    }
    group_ = g->gr_gid;
  }
  shm::install_fault_handler();  // a segment that shrinks under a read is lost, not the agent
  inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  settle_directory();
}

bool RingReceiver::settle_directory() {
  const auto report = shm::prepare_agent_directory(config_.directory, group_);
  if (!report.problem.empty()) {
    refuse_directory(report.problem);
    return false;
  }
  std::string detail;
  for (const auto& note : report.notes) detail += (detail.empty() ? "" : "; ") + note;
  spdlog::info("event=ring_directory_ready directory={} gid={} detail={}", config_.directory,
               group_, telemetry::quoted(detail));
  // Segments appear by rename (complete) and vanish by unlink (reaped, or a producer's cleanup).
  if (inotify_fd_ >= 0 &&
      ::inotify_add_watch(inotify_fd_, config_.directory.c_str(), IN_MOVED_TO | IN_DELETE) < 0) {
    ::close(inotify_fd_);
    inotify_fd_ = -1;
  }
  try {
    heartbeat_ = std::make_unique<shm::Heartbeat>(config_.directory);
  } catch (const std::exception& e) {  // the ring works; only producers cannot tell it does
    spdlog::warn("event=ring_heartbeat_failed error={}", telemetry::quoted(e.what()));
  }
  next_beat_ = std::chrono::steady_clock::now();
  const std::lock_guard lock(producers_mutex_);
  directory_problem_ = {};
  return true;
}

void RingReceiver::refuse_directory(const shm::DirectoryProblem& problem) {
  heartbeat_.reset();  // producers must not think an agent reads a directory it refuses
  if (const auto n = directory_log_.note()) {
    const auto fix = fmt::format(
        "remove it (rm -r {}) and let the agent or systemd-tmpfiles make it, owned by the agent, "
        "group gid {}, mode 2770",
        config_.directory, group_);
    spdlog::error("event=ring_directory_refused directory={} reason={} checks={} fix={}",
                  config_.directory, telemetry::quoted(problem.why), n, telemetry::quoted(fix));
  }
  const std::lock_guard lock(producers_mutex_);
  directory_problem_ = problem;
}

shm::DirectoryProblem RingReceiver::directory_problem() const {
  const std::lock_guard lock(producers_mutex_);
  return directory_problem_;
}

/// Every second: the directory checked again (its owner may have opened it up), then the beat.
void RingReceiver::keep_directory() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_beat_) return;
  next_beat_ = now + shm::kHeartbeatPeriod;
  if (const auto problem = shm::check_directory(config_.directory, group_); !problem.empty()) {
    refuse_directory(problem);
    return;
  }
  if (heartbeat_ && !heartbeat_->beat()) {
    spdlog::warn("event=ring_heartbeat_failed error={}", telemetry::quoted(std::strerror(errno)));
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
  int scans = 0;
  auto idle_sleep = std::chrono::microseconds(0);
  while (!stopping_.load(std::memory_order_relaxed)) {
    if (std::chrono::steady_clock::now() >= next_scan) {
      // A refused directory is looked at again every scan: removed, the agent makes it anew.
      if (directory_problem().empty() || settle_directory()) {
        keep_directory();
        if (inotify_fd_ < 0 || scans++ % kListingEvery == 0) list_directory();
        check_producers();
        publish_producers();
      }
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
      bool changed = false;
      for (const auto& [path, attached] : segments_) changed |= attached->exited || attached->gone;
      if (changed) next_scan = std::chrono::steady_clock::now();  // reap now
    }
  }
  // One last drain, bounded: producers that keep writing are read by the next run.
  for (int round = 0; round < 64 && drain_all() > 0; ++round) {
  }
  heartbeat_.reset();  // producers see at once that no agent reads
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
  if (directory_changed) read_directory_events();  // last: it may attach segments
}

void RingReceiver::read_directory_events() {
  alignas(inotify_event) char events[4096];
  bool overflowed = false;
  for (ssize_t n; (n = ::read(inotify_fd_, events, sizeof events)) > 0;) {
    for (ssize_t at = 0; at < n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(events + at);
      at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      overflowed |= (event->mask & IN_Q_OVERFLOW) != 0;
      const std::string_view name(event->len > 0 ? event->name : "");
      if (!name.ends_with(".ring")) continue;
      const auto path = config_.directory + "/" + std::string(name);
      if ((event->mask & IN_MOVED_TO) != 0) consider(path);
      if ((event->mask & IN_DELETE) != 0) {
        if (const auto it = segments_.find(path); it != segments_.end()) it->second->gone = true;
        refused_.erase(path);
        waiting_.erase(path);
      }
    }
  }
  if (overflowed) list_directory();  // events were lost: the listing tells what is there
}

void RingReceiver::list_directory() {
  std::error_code ec;
  std::set<std::string> present;
  for (const auto& entry : fs::directory_iterator(config_.directory, ec)) {
    auto path = entry.path().string();
    if (path.ends_with(".ring")) present.insert(std::move(path));
  }
  if (ec) return;  // no verdict on what is gone from a listing that failed
  for (const auto& path : present) consider(path);
  for (auto& [path, attached] : segments_) attached->gone |= !present.contains(path);
  std::erase_if(refused_, [&](const auto& path) { return !present.contains(path); });
  std::erase_if(waiting_, [&](const auto& path) { return !present.contains(path); });
}

std::size_t RingReceiver::drain_all() {
  std::size_t total = 0;
  for (auto it = segments_.begin(); it != segments_.end();) {
    total += drain(*it->second);
    it = it->second->lost ? segments_.erase(it) : std::next(it);
  }
  counters_.ring_segments_attached.store(segments_.size(), std::memory_order_relaxed);
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
    attached.spans += n;
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
  for (std::size_t lane = 0; lane <= overflow && !attached.lost; ++lane) {
    auto reader = attached.segment->reader(lane);
    const auto drained = reader.drain(handle, kRecordsPerLaneDrain);
    records += drained.records;
    if (drained.faulted) {
      lose(attached);
      break;
    }
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
                   telemetry::bare_or_quoted(attached.segment->path()), attached.segment->pid(),
                   claimed, credited);
    }
  }
}

}  // namespace tailgate::receivers
