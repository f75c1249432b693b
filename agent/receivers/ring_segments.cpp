// The ring receiver's bookkeeping of segments: which file is attached, refused or waiting, and
// which producer is gone. Each check here reads a file that any process in the ring group can
// write, so each one says what it defends against.
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <spdlog/spdlog.h>

#include "receivers/ring_attached.hpp"
#include "receivers/ring_receiver.hpp"
#include "telemetry/log_escape.hpp"
#include "wire/decode.hpp"

namespace tailgate::receivers {
namespace {

namespace fs = std::filesystem;

/// A descriptor that turns readable when `pid` exits, or -1 (kernel before 5.3, or no such pid).
int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

/// The producer's command name (/proc/<pid>/comm, at most 15 bytes), for the status page.
std::string process_name(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name.substr(0, 16);
}

}  // namespace

void RingReceiver::consider(const std::string& path) {
  if (segments_.contains(path) || refused_.contains(path)) return;
  if (segments_.size() >= config_.max_segments) {
    // Waiting, not refused for good: it gets its turn when a producer goes. Counted once.
    if (waiting_.insert(path).second) {
      counters_.ring_segments_refused.fetch_add(1, std::memory_order_relaxed);
      if (const auto n = waiting_log_.note()) {
        spdlog::warn(
            "event=segment_refused reason=max_segments path={} max_segments={} "
            "waiting={} since_last_line={}",
            telemetry::bare_or_quoted(path), config_.max_segments, waiting_.size(), n);
      }
    }
    return;
  }
  waiting_.erase(path);
  try {
    auto attached = admit(path);
    spdlog::info("event=segment_attached path={} pid={} lanes={}", telemetry::bare_or_quoted(path),
                 attached->segment->pid(), attached->segment->lane_count());
    segments_.emplace(path, std::move(attached));
  } catch (const shm::TransientError& e) {
    waiting_.insert(path);  // out of descriptors or memory: nothing wrong with the file
    if (const auto n = waiting_log_.note()) {
      spdlog::warn("event=segment_attach_deferred error={} since_last_line={}",
                   telemetry::quoted(e.what()), n);
    }
  } catch (const std::exception& e) {
    refuse(path, e.what());
  }
}

std::unique_ptr<RingReceiver::Attached> RingReceiver::admit(const std::string& path) const {
  auto attached = std::make_unique<Attached>();
  attached->segment = shm::Segment::attach(path);
  const auto& segment = *attached->segment;
  // One segment per producer process, named for it: copies naming one process are refused.
  const auto name =
      std::to_string(segment.pid()) + "-" + std::to_string(segment.start_time()) + ".ring";
  if (fs::path(path).filename() != name) {
    throw std::runtime_error(
        "ring segment " + path + ": its header names pid " + std::to_string(segment.pid()) +
        " started at " + std::to_string(segment.start_time()) + " (a producer's is " + name + ")");
  }
  const auto liveness = segment.producer_liveness();
  // A producer creates its own segment, so the file's owner is a user the process runs as. A
  // file naming someone else's process (pid 1, a daemon) would never be reaped: refused.
  if (liveness == shm::Liveness::Alive &&
      shm::process_runs_as(segment.pid(), segment.file_owner()) == false) {
    throw std::runtime_error("ring segment " + path + ": its file belongs to uid " +
                             std::to_string(segment.file_owner()) + " but pid " +
                             std::to_string(segment.pid()) + " runs as another user");
  }
  auto resource = std::make_shared<model::Resource>();
  const auto bytes = segment.resource();
  if (bytes.size() > wire::kRecordHeaderSize &&
      wire::decode_resource(bytes.subspan(wire::kRecordHeaderSize), *resource) ==
          wire::DecodeError::None) {
    attached->resource = std::move(resource);
  } else {
    attached->resource = wire::unknown_resource();
  }
  attached->pidfd = open_pidfd(segment.pid());
  attached->process = process_name(segment.pid());
  attached->exited = liveness == shm::Liveness::Dead;  // pid reused, or gone: reap
  return attached;
}

void RingReceiver::refuse(const std::string& path, const std::string& why) {
  // Refused once and remembered: never reused, never overwritten, not counted again.
  refused_.insert(path);
  counters_.ring_segments_refused.fetch_add(1, std::memory_order_relaxed);
  if (const auto n = refused_log_.note()) {  // a flood of bad files is not a flood of lines
    spdlog::error("event=segment_refused error={} since_last_line={}", telemetry::quoted(why), n);
  }
}

void RingReceiver::check_producers() {
  for (auto it = segments_.begin(); it != segments_.end();) {
    auto& attached = *it->second;
    if (!attached.gone && !attached.exited && attached.pidfd < 0) {
      // No pidfd (old kernel, or none to be had): ask /proc. "Cannot tell" is not "dead".
      const auto liveness = attached.segment->producer_liveness();
      if (liveness == shm::Liveness::Unknown) {
        if (const auto n = unknown_log_.note()) {
          spdlog::warn("event=producer_liveness_unknown path={} pid={} since_last_line={}",
                       telemetry::bare_or_quoted(it->first), attached.segment->pid(), n);
        }
      }
      attached.exited = liveness == shm::Liveness::Dead;
    }
    if (!attached.gone && !attached.exited) {
      ++it;
      continue;
    }
    reap(it->first, attached);
    it = segments_.erase(it);
  }
  // Room freed (or descriptors back): the waiting ones, oldest name first.
  for (auto it = waiting_.begin();
       it != waiting_.end() && segments_.size() < config_.max_segments;) {
    const auto path = *it;
    it = waiting_.erase(it);
    consider(path);
    it = waiting_.upper_bound(path);
  }
  counters_.ring_segments_attached.store(segments_.size(), std::memory_order_relaxed);
}

void RingReceiver::lose(Attached& attached) {
  // Its file shrank under a read (truncated by some process in the ring group). What was
  // committed and not yet read is gone with the pages; the segment is never read again, and
  // stays refused while its file is there. Other segments are untouched.
  attached.lost = true;
  refused_.insert(attached.segment->path());
  counters_.ring_segments_lost.fetch_add(1, std::memory_order_relaxed);
  spdlog::error(
      "event=segment_lost path={} pid={} error=\"the file shrank under the agent; its "
      "unread spans are lost\"",
      telemetry::bare_or_quoted(attached.segment->path()), attached.segment->pid());
}

void RingReceiver::reap(const std::string& path, Attached& attached) {
  // Drain what it committed. What it was writing when it died was never committed, so it is
  // counted here; so are the drops it counted after its last record that fitted: no loss record
  // will ever announce them.
  while (!attached.lost && drain(attached) > 0) {
  }
  const auto torn = attached.segment->torn_records() + (attached.stalled_at ? 1 : 0) +
                    attached.segment->unannounced_drops();
  if (torn > 0) add_producer_loss(attached, torn);
  spdlog::info("event=producer_gone path={} pid={} dropped_by_producer={} torn={}",
               telemetry::bare_or_quoted(path), attached.segment->pid(),
               attached.segment->producer_dropped(), torn);
  std::error_code ec;
  if (!attached.gone && !attached.lost) fs::remove(path, ec);
  counters_.ring_producers_reaped.fetch_add(1, std::memory_order_relaxed);
}

void RingReceiver::publish_producers() {
  std::vector<Producer> now;
  now.reserve(segments_.size());
  for (const auto& [path, a] : segments_) {
    if (a->lost) continue;
    Producer p{.pid = a->segment->pid(),
               .process = a->process,
               .lanes = a->segment->lane_count(),
               .spans = a->spans,
               .dropped = a->segment->producer_dropped(),
               .fill = a->segment->fullest_lane_fill()};
    for (const auto& attr : a->resource->attributes) {
      const auto* v = std::get_if<std::string>(&attr.value);
      if (attr.key == "service.name" && v != nullptr) p.service = *v;
    }
    now.push_back(std::move(p));
  }
  std::lock_guard lock(producers_mutex_);
  producers_.swap(now);
}

std::vector<RingReceiver::Producer> RingReceiver::producers() const {
  std::lock_guard lock(producers_mutex_);
  return producers_;
}

}  // namespace tailgate::receivers
