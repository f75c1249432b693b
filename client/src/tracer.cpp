// The Tracer: the process's segment (made again in a forked child), its resource, the process's
// clock calibration and the thread state's cold paths. Spans: span.cpp, span_items.cpp.
#include <pthread.h>
#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include "shm/ring_directory.hpp"
#include "tracer_impl.hpp"
#include "wire/encode.hpp"

namespace tailgate {
namespace client {

[[gnu::tls_model("initial-exec")]] constinit thread_local ThreadState t_state;

}  // namespace client

namespace {

using client::realtime_ns;
using client::t_state;
using client::ticks;

std::atomic<std::uint64_t> g_anchor_ticks{0};
std::atomic<std::uint64_t> g_anchor_ns{0};
std::atomic<double> g_ns_per_tick{1.0};

void calibrate_process() noexcept {
  const auto t0 = ticks();
  const auto n0 = realtime_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const auto t1 = ticks();
  const auto n1 = realtime_ns();
  g_anchor_ticks.store(t0, std::memory_order_relaxed);
  g_anchor_ns.store(n0, std::memory_order_relaxed);
  g_ns_per_tick.store(t1 > t0 ? static_cast<double>(n1 - n0) / static_cast<double>(t1 - t0) : 1.0,
                      std::memory_order_relaxed);
}

std::atomic<std::uint64_t> g_live_generation{0};
std::atomic<std::uint64_t> g_next_generation{1};

/// Gives this thread's lane back when the thread exits. Touched only when a thread first emits,
/// so that the hot path's thread state stays trivially destructible (no TLS guard).
struct LaneRelease {
  shm::LaneWriter* lane = nullptr;
  std::uint64_t generation = 0;
  ~LaneRelease() {
    if (lane != nullptr && generation == g_live_generation.load(std::memory_order_acquire))
      lane->release();
  }
};
thread_local LaneRelease t_release;

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

// A forked child must not write into its parent's lanes: each lane has one writer, and the
// parent's segment is reaped when the parent exits. The child handler (only the forking thread
// exists then) marks a fork and detaches that thread; the child's first span after it makes the
// child a segment of its own (a fork straight into exec makes none).
std::atomic<int> g_fork_state{0};  // kNoFork, kForked (a segment to make), kMakingSegment
constexpr int kNoFork = 0, kForked = 1, kMakingSegment = 2;

void on_fork_child() noexcept {
  g_fork_state.store(kForked, std::memory_order_release);
  t_state.ids.state = 0;     // reseeded: else the child's ids would repeat its parent's
  t_state.generation = 0;    // the lane it points into is the parent's
  t_release.lane = nullptr;  // ... and is not this process's to give back
}

}  // namespace

void client::ThreadClock::reanchor(std::uint64_t now) noexcept {
  const auto ns = realtime_ns();  // `now` was read just before: the pair is tens of ns apart
  const auto process_ticks = g_anchor_ticks.load(std::memory_order_relaxed);
  const auto process_ns = g_anchor_ns.load(std::memory_order_relaxed);
  double rate = g_ns_per_tick.load(std::memory_order_relaxed);
  if (now > process_ticks + 1'000'000 && ns > process_ns) {
    rate = static_cast<double>(ns - process_ns) / static_cast<double>(now - process_ticks);
    g_ns_per_tick.store(rate, std::memory_order_relaxed);
  }
  c = {now, ns, rate};
  next_anchor = now + static_cast<std::uint64_t>(1e9 / rate);  // about a second
}

void client::IdGenerator::seed() noexcept {
  if (::getrandom(&state, sizeof state, 0) != sizeof state) state = ticks() ^ ::gettid();
  state |= 1;
}

void Tracer::Impl::make_segment() noexcept {
  std::vector<wire::AttributeView> views;
  views.reserve(resource.size());
  for (const auto& [k, v] : resource) {
    // OpenTelemetry's semantic conventions make process.pid an int: sent as one when it reads
    // as one (ours always does).
    std::int64_t pid = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), pid);
    if (k == "process.pid" && ec == std::errc{} && end == v.data() + v.size()) {
      views.push_back({k, pid});
    } else {
      views.push_back({k, std::string_view(v)});
    }
  }
  std::vector<std::byte> bytes(shm::kMaxResourceBytes);
  bytes.resize(wire::encode_resource(bytes, views));
  try {
    if (bytes.empty()) throw std::runtime_error("the resource attributes exceed 4032 bytes");
    segment_options.resource = bytes;
    segment = shm::Segment::create(segment_options);
    segment_options.resource = {};  // `bytes` is gone after this
    path = segment->path();
    error.clear();
  } catch (const std::exception& e) {
    segment.reset();
    path.clear();
    error = e.what();  // no segment: spans are dropped and counted, the caller goes on
  }
}

void Tracer::Impl::adopt_fork() noexcept {
  int expected = kForked;
  if (g_fork_state.compare_exchange_strong(expected, kMakingSegment, std::memory_order_acq_rel)) {
    segment.reset();  // unmaps the parent's; its file and lanes stay the parent's
    if (default_pid) {
      for (auto& [k, v] : resource)
        if (k == "process.pid") v = std::to_string(::getpid());
    }
    make_segment();
    g_fork_state.store(kNoFork, std::memory_order_release);
  } else {
    while (g_fork_state.load(std::memory_order_acquire) == kMakingSegment) {
      std::this_thread::yield();
    }
  }
}

bool Tracer::Impl::attach_thread(client::ThreadState& t) noexcept {
  if (g_fork_state.load(std::memory_order_acquire) != kNoFork) [[unlikely]]
    adopt_fork();
  if (!segment) return false;
  t.own = segment->claim_lane();
  if (!t.own.attached()) t.overflow = segment->overflow_lane();
  t.generation = generation;
  t_release.lane = &t.own;
  t_release.generation = generation;
  return true;
}

// --- Tracer --------------------------------------------------------------------------------

Tracer::Tracer(const TracerOptions& options) : impl_(std::make_unique<Impl>()) {
  std::uint64_t none = 0;
  impl_->generation = g_next_generation.fetch_add(1);
  if (!g_live_generation.compare_exchange_strong(none, impl_->generation)) {
    throw std::logic_error("tailgate: one Tracer per process, and one is alive already");
  }
  calibrate_process();
  t_state.clock.next_anchor = 0;
  // The resource: the caller's attributes first, then the defaults it did not give.
  std::vector<std::pair<std::string, std::string>> attrs{{"service.name", options.service_name}};
  if (!options.service_version.empty())
    attrs.emplace_back("service.version", options.service_version);
  for (const auto& a : options.resource) attrs.push_back(a);
  const auto has = [&](std::string_view key) {
    for (const auto& a : attrs)
      if (a.first == key) return true;
    return false;
  };
  if (!has("host.name")) attrs.emplace_back("host.name", host_name());
  impl_->default_pid = !has("process.pid");
  if (impl_->default_pid) attrs.emplace_back("process.pid", std::to_string(::getpid()));
  if (!has("telemetry.sdk.name")) attrs.emplace_back("telemetry.sdk.name", "tailgate");
  if (!has("telemetry.sdk.language")) attrs.emplace_back("telemetry.sdk.language", "cpp");
  impl_->resource = std::move(attrs);
  impl_->segment_options = {
      .directory = options.directory, .lanes = options.lanes, .lane_bytes = options.lane_bytes};
  g_fork_state.store(kNoFork);  // made after a fork: this process's own already
  impl_->make_segment();
  static const bool fork_handler = [] {
    return ::pthread_atfork(nullptr, nullptr, &on_fork_child) == 0;
  }();
  (void)fork_handler;
}

Tracer::~Tracer() {
  g_live_generation.store(0, std::memory_order_release);
  if (t_state.generation == impl_->generation) t_state.own.release();
  t_state.generation = 0;
  // The segment stays: the agent drains what is committed, sees this process gone and removes it.
}

bool Tracer::emit(std::span<const std::byte> record) noexcept {
  return impl_->emit_from(t_state, record);
}

TracerStats Tracer::stats() const noexcept {
  TracerStats s;
  s.attached = impl_->segment != nullptr;
  s.dropped = impl_->dropped_unattached.load(std::memory_order_relaxed) +
              (impl_->segment ? impl_->segment->producer_dropped() : 0);
  s.dropped_items = impl_->dropped_items.load(std::memory_order_relaxed);
  // One stat() of the agent's heartbeat file: off the span path, on the caller's thread.
  if (const auto age = shm::heartbeat_age(impl_->segment_options.directory)) {
    s.agent_heartbeat_age_ns = age->count();
    s.agent_reading = *age < shm::kHeartbeatStale;
  }
  // Without a segment error() says why already; with one, "no agent" is the thing to know.
  if (s.attached && !s.agent_reading &&
      !impl_->warned_no_agent.exchange(true, std::memory_order_relaxed)) {
    std::fprintf(stderr,
                 "tailgate: no agent reads the ring directory %s (%s): spans wait in this "
                 "process's segment and are dropped once it fills. Is tailgate running, with "
                 "receivers.ring.directory %s?\n",
                 impl_->segment_options.directory.c_str(),
                 s.agent_heartbeat_age_ns < 0 ? "no heartbeat there" : "its heartbeat stopped",
                 impl_->segment_options.directory.c_str());
  }
  return s;
}

const std::string& Tracer::error() const noexcept {
  return impl_->error;
}

const std::string& Tracer::segment_path() const noexcept {
  return impl_->path;
}

std::uint64_t Tracer::now_ns() const noexcept {
  return t_state.clock.to_ns(ticks());
}

}  // namespace tailgate
