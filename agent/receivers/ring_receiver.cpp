#include "receivers/ring_receiver.hpp"

#include <sys/stat.h>

#include <filesystem>

#include <spdlog/spdlog.h>

#include "shm/segment.hpp"
#include "wire/decode.hpp"

namespace tailgate::receivers {
namespace {

namespace fs = std::filesystem;
constexpr std::size_t kRecordsPerLaneDrain = 4096;  // bounds one lane's turn; others wait less
constexpr std::size_t kBatchSpans = 2048;
constexpr auto kMaxIdleSleep = std::chrono::milliseconds(5);

}  // namespace

struct RingReceiver::Attached {
  std::unique_ptr<shm::Segment> segment;
  std::shared_ptr<const model::Resource> resource;
};

RingReceiver::RingReceiver(const config::RingReceiverConfig& config, model::SpanQueue& out,
                           telemetry::Counters& counters)
    : config_(config), out_(out), counters_(counters) {
  std::error_code ec;
  if (fs::create_directories(config_.directory, ec)) {
    ::chmod(config_.directory.c_str(), 02770);  // setgid: segments inherit the directory's group
  }
  if (ec) throw std::runtime_error("ring directory " + config_.directory + ": " + ec.message());
}

RingReceiver::~RingReceiver() {
  stop();
}

void RingReceiver::start() {
  thread_ = std::thread([this] { run(); });
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
    if (drain_all() > 0) {
      idle_sleep = std::chrono::microseconds(0);  // busy: go straight on
    } else {
      // Idle: back off to a few milliseconds, so that an idle agent costs almost nothing.
      idle_sleep = std::min<std::chrono::microseconds>(
          idle_sleep * 2 + std::chrono::microseconds(50), kMaxIdleSleep);
      std::this_thread::sleep_for(idle_sleep);
    }
  }
  // One last drain, bounded: producers that keep writing are read by the next run.
  for (int round = 0; round < 64 && drain_all() > 0; ++round) {
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
    if (present.contains(it->first) && attached.segment->producer_alive()) {
      ++it;
      continue;
    }
    while (drain(attached) > 0) {
    }
    spdlog::info("event=producer_gone path={} pid={} dropped_by_producer={}", it->first,
                 attached.segment->pid(), attached.segment->producer_dropped());
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
  std::size_t records = 0;
  std::uint64_t malformed = 0, lost = 0;
  const auto handle = [&](wire::RecordType type, std::span<const std::byte> payload) {
    if (type == wire::RecordType::Span) {
      model::Span span;
      if (wire::decode_span(payload, attached.resource, span) == wire::DecodeError::None) {
        batch.push_back(std::move(span));
      } else {
        ++malformed;
      }
    } else if (type == wire::RecordType::Loss && payload.size() == sizeof(std::uint64_t)) {
      std::uint64_t n = 0;
      std::memcpy(&n, payload.data(), sizeof n);
      lost += n;
    } else {
      ++malformed;
    }
  };
  const auto hand_on = [&] {
    const auto n = batch.size();
    counters_.add_received(telemetry::Receiver::Ring, n);
    if (!out_.try_push(batch)) counters_.add_dropped(telemetry::DropReason::PipelineFull, n);
    batch.clear();
  };
  for (std::size_t lane = 0; lane < attached.segment->lane_count(); ++lane) {
    const auto drained = attached.segment->reader(lane).drain(handle, kRecordsPerLaneDrain);
    records += drained.records;
    if (drained.skipped_bytes > 0) ++malformed;
    if (batch.size() >= kBatchSpans) hand_on();
  }
  if (!batch.empty()) hand_on();
  if (malformed > 0) counters_.add_dropped(telemetry::DropReason::Malformed, malformed);
  if (lost > 0) counters_.add_dropped(telemetry::DropReason::ProducerLoss, lost);
  return records;
}

}  // namespace tailgate::receivers
