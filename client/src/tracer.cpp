// The C++ client: Tracer (the process's segment, its resource, the clock), Span (encoding into its
// own buffer) and SpanContext (W3C traceparent). See tailgate/tailgate.hpp.
#include <cxxabi.h>
#include <pthread.h>
#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <thread>
#include <typeinfo>

#include "tailgate/tailgate.hpp"

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "shm/ring_directory.hpp"
#include "shm/segment.hpp"
#include "wire/encode.hpp"

namespace tailgate {
namespace {

std::uint64_t realtime_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

std::uint64_t ticks() noexcept {
#if defined(__x86_64__)
  return __rdtsc();
#else
  return realtime_ns();  // one tick per nanosecond
#endif
}

// Wall-clock time from the TSC. The process anchor and the rate are measured when the Tracer is
// made; each thread re-anchors to the system clock about once a second (one vDSO read, no
// syscall) with the rate refined over everything measured since, so it never drifts far.
struct Calibration {
  std::uint64_t anchor_ticks = 0;
  std::uint64_t anchor_ns = 0;
  double ns_per_tick = 1.0;
};
std::atomic<std::uint64_t> g_anchor_ticks{0};
std::atomic<std::uint64_t> g_anchor_ns{0};
std::atomic<double> g_ns_per_tick{1.0};

Calibration calibrate_process() noexcept {
  const auto t0 = ticks();
  const auto n0 = realtime_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const auto t1 = ticks();
  const auto n1 = realtime_ns();
  Calibration c{t0, n0,
                t1 > t0 ? static_cast<double>(n1 - n0) / static_cast<double>(t1 - t0) : 1.0};
  g_anchor_ticks.store(c.anchor_ticks, std::memory_order_relaxed);
  g_anchor_ns.store(c.anchor_ns, std::memory_order_relaxed);
  g_ns_per_tick.store(c.ns_per_tick, std::memory_order_relaxed);
  return c;
}

struct ThreadClock {
  Calibration c;
  std::uint64_t next_anchor = 0;  ///< ticks at which to re-anchor

  [[gnu::noinline]] void reanchor(std::uint64_t now) noexcept {
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
  std::uint64_t to_ns(std::uint64_t t) noexcept {
    if (t >= next_anchor) [[unlikely]]
      reanchor(t);
    return c.anchor_ns +
           static_cast<std::uint64_t>(static_cast<double>(t - c.anchor_ticks) * c.ns_per_tick);
  }
};

// Ids: wyrand, seeded per thread from getrandom (once). Fast, and unpredictable enough that
// trace ids from different threads and processes do not collide.
struct IdGenerator {
  std::uint64_t state = 0;
  std::uint64_t next() noexcept {
    if (state == 0) [[unlikely]] {
      if (::getrandom(&state, sizeof state, 0) != sizeof state) state = ticks() ^ ::gettid();
      state |= 1;
    }
    state += 0xa0761d6478bd642fULL;
    __extension__ using u128 = unsigned __int128;
    const u128 m = static_cast<u128>(state) * (state ^ 0xe7037ed1a0b428dbULL);
    return static_cast<std::uint64_t>(m >> 64) ^ static_cast<std::uint64_t>(m);
  }
};

std::atomic<std::uint64_t> g_live_generation{0};
std::atomic<std::uint64_t> g_next_generation{1};

/// Gives this thread's lane back when the thread exits. Touched only when a thread first emits,
/// so that the hot path's thread state below stays trivially destructible (no TLS guard).
struct LaneRelease {
  shm::LaneWriter* lane = nullptr;
  std::uint64_t generation = 0;
  ~LaneRelease() {
    if (lane != nullptr && generation == g_live_generation.load(std::memory_order_acquire))
      lane->release();
  }
};

/// Everything a thread's spans touch, in one place: one TLS access per call. initial-exec: an
/// offset from the thread pointer, not a __tls_get_addr call (the library is small enough for the
/// static TLS reserve, also when Python loads it with dlopen).
struct ThreadState {
  ThreadClock clock;
  IdGenerator ids;
  std::uint64_t generation = 0;  ///< the tracer whose segment `own`/`overflow` point into
  shm::LaneWriter own;
  shm::SharedLaneWriter overflow;
  Span* current = nullptr;  ///< innermost span started on this thread and not ended
};
static_assert(std::is_trivially_destructible_v<ThreadState>);

[[gnu::tls_model("initial-exec")]] thread_local ThreadState t_state;
thread_local LaneRelease t_release;

constexpr char kHex[] = "0123456789abcdef";

template <std::size_t N>
void to_hex(const std::array<std::uint8_t, N>& bytes, char* out) noexcept {
  for (std::size_t i = 0; i < N; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 0xF];
  }
}

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // W3C: lowercase only
}

template <std::size_t N>
bool from_hex(std::string_view text, std::array<std::uint8_t, N>& out) noexcept {
  if (text.size() != 2 * N) return false;
  bool any = false;
  for (std::size_t i = 0; i < N; ++i) {
    const int hi = hex_digit(text[2 * i]), lo = hex_digit(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    any |= out[i] != 0;
  }
  return any;
}

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

struct Tracer::Impl {
  std::uint64_t generation = 0;
  std::unique_ptr<shm::Segment> segment;
  std::string error;
  std::string path;
  std::atomic<std::uint64_t> dropped_unattached{0};  ///< no segment, or a record not encoded
  std::atomic<std::uint64_t> dropped_items{0};
  std::atomic<bool> warned_no_agent{false};  ///< "no agent" goes to stderr once per tracer
  /// What a forked child needs to make its own segment.
  shm::SegmentOptions segment_options;
  std::vector<std::pair<std::string, std::string>> resource;
  bool default_pid = false;  ///< process.pid was ours to fill in, so it is the child's there

  void make_segment() noexcept {
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

  /// In a forked child: its own segment in place of the parent's, made once by whichever thread
  /// gets here first (the others wait for it: a few milliseconds, once per fork).
  void adopt_fork() noexcept {
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

  /// Gives this thread its lane; false if there is no segment to take one from.
  [[gnu::noinline]] bool attach_thread(ThreadState& t) noexcept {
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
};

// --- SpanContext ---------------------------------------------------------------------------

bool SpanContext::valid() const noexcept {
  std::uint64_t t[2], id = 0;
  std::memcpy(t, trace_id.data(), sizeof t);
  std::memcpy(&id, span_id.data(), sizeof id);
  return (t[0] | t[1]) != 0 && id != 0;
}

void SpanContext::traceparent(std::span<char, 55> out) const noexcept {
  char* p = out.data();
  *p++ = '0';
  *p++ = '0';
  *p++ = '-';
  to_hex(trace_id, p);
  p += 32;
  *p++ = '-';
  to_hex(span_id, p);
  p += 16;
  *p++ = '-';
  *p++ = kHex[trace_flags >> 4];
  *p = kHex[trace_flags & 0xF];
}

std::string SpanContext::traceparent() const {
  std::string out(55, '\0');
  traceparent(std::span<char, 55>(out.data(), 55));
  return out;
}

std::optional<SpanContext> SpanContext::from_traceparent(std::string_view h) noexcept {
  // version "-" trace-id "-" parent-id "-" flags; a later version may append "-" fields.
  if (h.size() < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-') return std::nullopt;
  std::array<std::uint8_t, 1> version{}, flags{};
  if (hex_digit(h[0]) < 0 || hex_digit(h[1]) < 0) return std::nullopt;
  version[0] = static_cast<std::uint8_t>(hex_digit(h[0]) << 4 | hex_digit(h[1]));
  if (version[0] == 0xFF || (version[0] == 0 && h.size() != 55)) return std::nullopt;
  if (h.size() > 55 && h[55] != '-') return std::nullopt;
  SpanContext c;
  if (!from_hex(h.substr(3, 32), c.trace_id) || !from_hex(h.substr(36, 16), c.span_id)) {
    return std::nullopt;
  }
  c.remote = true;
  if (hex_digit(h[53]) < 0 || hex_digit(h[54]) < 0) return std::nullopt;
  flags[0] = static_cast<std::uint8_t>(hex_digit(h[53]) << 4 | hex_digit(h[54]));
  c.trace_flags = flags[0];
  return c;
}

std::string SpanContext::trace_id_hex() const {
  std::string out(32, '\0');
  to_hex(trace_id, out.data());
  return out;
}

std::string SpanContext::span_id_hex() const {
  std::string out(16, '\0');
  to_hex(span_id, out.data());
  return out;
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

namespace {
// Into this thread's lane (claimed at its first record). Inline: Span::end() hands its record here
// with the thread's state already at hand.
[[gnu::always_inline]] inline bool emit_from(Tracer::Impl& impl, ThreadState& t,
                                             std::span<const std::byte> record) noexcept {
  if (!impl.segment) [[unlikely]] {
    impl.dropped_unattached.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (t.generation != impl.generation) [[unlikely]] {
    if (!impl.attach_thread(t)) {  // a forked child that could not make its segment
      impl.dropped_unattached.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  }
  return t.own.attached() ? t.own.try_write(record) : t.overflow.try_write(record);
}
}  // namespace

bool Tracer::emit(std::span<const std::byte> record) noexcept {
  return emit_from(*impl_, t_state, record);
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

// --- Span ----------------------------------------------------------------------------------

void Span::start(std::size_t name_size, const SpanContext* parent, SpanKind kind) noexcept {
  auto& t = t_state;
  // No parent given: the thread's current span. An invalid one given (root_span): none.
  if (parent == nullptr) {
    if (t.current != nullptr) parent = &t.current->context_;
  } else if (!parent->valid()) {
    parent = nullptr;
  }
  if (parent != nullptr) {
    context_.trace_id = parent->trace_id;
    context_.trace_flags = parent->trace_flags;
  } else {
    const std::uint64_t hi = t.ids.next(), lo = t.ids.next();
    std::memcpy(context_.trace_id.data(), &hi, 8);
    std::memcpy(context_.trace_id.data() + 8, &lo, 8);
  }
  std::uint64_t id = 0;
  while (id == 0) id = t.ids.next();
  std::memcpy(context_.span_id.data(), &id, 8);
  start_ticks_ = ticks();
  // The fixed part straight into the record, field by field (its header is written at the end,
  // the name by the inline constructor).
  const std::size_t used = wire::kRecordHeaderSize + wire::kSpanFixedSize + name_size;
  if (used + wire::kDroppedItemSize > record_.size()) [[unlikely]]
    grow(used);
  if (name_size > wire::kMaxStringLength || used + wire::kDroppedItemSize > record_.size())
      [[unlikely]] {
    state_.failed = true;  // dropped and counted at the end
  } else {
    std::byte* const f = record_.data() + wire::kRecordHeaderSize;
    using Fixed = wire::SpanFixed;
    std::memcpy(f + offsetof(Fixed, trace_id), context_.trace_id.data(), 16);
    std::memcpy(f + offsetof(Fixed, span_id), context_.span_id.data(), 8);
    std::uint64_t parent_id = 0;
    if (parent != nullptr) std::memcpy(&parent_id, parent->span_id.data(), 8);
    std::memcpy(f + offsetof(Fixed, parent_span_id), &parent_id, 8);
    const std::uint64_t times[2] = {t.clock.to_ns(start_ticks_), 0};
    std::memcpy(f + offsetof(Fixed, start_unix_ns), times, 16);
    // kind, status (unset until the end), trace_flags, span_flags; name_len, item_count.
    const std::uint8_t codes[4] = {
        static_cast<std::uint8_t>(kind), 0, context_.trace_flags,
        parent != nullptr && parent->remote ? wire::kParentIsRemote : std::uint8_t{0}};
    std::memcpy(f + offsetof(Fixed, kind), codes, 4);
    const std::uint16_t counts[2] = {static_cast<std::uint16_t>(name_size), 0};
    std::memcpy(f + offsetof(Fixed, name_len), counts, 4);
    state_.used = static_cast<std::uint32_t>(used);
  }
  refresh_limit();
  enclosing_ = t.current;
  t.current = this;
}

void Span::grow(std::size_t need) noexcept {
  const std::size_t want = std::size_t{state_.used} + need + wire::kDroppedItemSize;
  if (record_.size() >= wire::kMaxRecordSize || want <= record_.size()) return;
  const std::size_t size = std::min(std::max(record_.size() * 2, want), wire::kMaxRecordSize);
  try {
    auto bigger = std::make_unique_for_overwrite<std::byte[]>(size);
    std::memcpy(bigger.get(), record_.data(), state_.used);
    spill_ = std::move(bigger);  // frees an earlier spill, copied from just now
    record_ = std::span(spill_.get(), size);
    refresh_limit();
  } catch (const std::bad_alloc&) {
    // No memory: the record stays where it is and what does not fit is left out, counted.
  }
}

void Span::put_slow(std::string_view key, std::string_view value) noexcept {
  if (tracer_ == nullptr) return;
  with_encoder(1 + 2 + key.size() + 3 + value.size(),
               [&](wire::SpanEncoder& e) { e.attribute(key, value); });
}
void Span::put_slow(std::string_view key, std::int64_t value) noexcept {
  if (tracer_ == nullptr) return;
  with_encoder(1 + 2 + key.size() + 1 + 8, [&](wire::SpanEncoder& e) { e.attribute(key, value); });
}
void Span::put_slow(std::string_view key, double value) noexcept {
  if (tracer_ == nullptr) return;
  with_encoder(1 + 2 + key.size() + 1 + 8, [&](wire::SpanEncoder& e) { e.attribute(key, value); });
}
void Span::put_slow(std::string_view key, bool value) noexcept {
  if (tracer_ == nullptr) return;
  with_encoder(1 + 2 + key.size() + 1 + 1, [&](wire::SpanEncoder& e) { e.attribute(key, value); });
}
void Span::put_slow(std::string_view key, const wire::ArrayView& value) noexcept {
  if (tracer_ == nullptr) return;
  with_encoder(1 + 2 + key.size() + wire::encoded_size(value),
               [&](wire::SpanEncoder& e) { e.attribute(key, value); });
}

namespace {

// Bytes an attribute takes on the wire.
std::size_t encoded_size(const Attribute& a) noexcept {
  return 2 + a.key.size() + wire::encoded_size(a.value);
}
}  // namespace

// Runs `write` on an encoder resumed over the span's record after making room for `need` bytes,
// then keeps where it stands.
template <typename Write>
void Span::with_encoder(std::size_t need, Write write) noexcept {
  if (state_.used + need + wire::kDroppedItemSize > record_.size()) [[unlikely]]
    grow(need);
  wire::SpanEncoder e(record_, state_);
  write(e);
  state_ = e.state();
}

Span& Span::event(std::string_view name, std::initializer_list<Attribute> attributes) noexcept {
  if (tracer_ == nullptr) return *this;
  std::array<wire::AttributeView, wire::kMaxEventAttributes> views;
  std::size_t n = 0;
  for (const auto& a : attributes) {
    if (n == views.size()) break;
    views[n++] = {a.key, a.value};
  }
  const auto when = t_state.clock.to_ns(ticks());
  std::size_t need = 1 + 8 + 2 + name.size() + 1;
  for (std::size_t i = 0; i < n; ++i) need += encoded_size({views[i].key, views[i].value});
  with_encoder(need,
               [&](wire::SpanEncoder& e) { e.event(when, name, std::span(views.data(), n)); });
  return *this;
}

Span& Span::error(std::string_view message) noexcept {
  if (tracer_ == nullptr) return *this;
  status_ = 2;  // OTLP STATUS_CODE_ERROR
  if (!message.empty()) {
    with_encoder(3 + message.size(), [&](wire::SpanEncoder& e) { e.status_message(message); });
  }
  return *this;
}

// As OpenTelemetry's RecordException: the event only. Setting ERROR here made every handled
// exception's trace an error trace, kept at 100% by the error policy.
Span& Span::exception(std::string_view type, std::string_view message) noexcept {
  return event("exception", {{"exception.type", type}, {"exception.message", message}});
}

Span& Span::exception(const std::exception& e) noexcept {
  // "St12out_of_range" -> "std::out_of_range". Allocates: an exception is not the hot path.
  int status = -1;
  const std::unique_ptr<char, decltype(&std::free)> demangled(
      abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status), &std::free);
  return exception(status == 0 && demangled ? std::string_view(demangled.get())
                                            : std::string_view(typeid(e).name()),
                   e.what());
}

Span& Span::ok() noexcept {
  if (tracer_ != nullptr) status_ = 1;  // OTLP STATUS_CODE_OK
  return *this;
}

Span& Span::trace_state(std::string_view state) noexcept {
  if (tracer_ == nullptr) return *this;
  with_encoder(3 + state.size(), [&](wire::SpanEncoder& e) { e.trace_state(state); });
  return *this;
}

bool Span::end() noexcept {
  if (tracer_ == nullptr) return false;
  Tracer& tracer = *tracer_;
  tracer_ = nullptr;
  // Out of the thread's chain of current spans: usually the innermost; an outer span ended early
  // is unlinked where it stands.
  auto& t = t_state;
  if (t.current == this) {
    t.current = enclosing_;
  } else {
    for (Span* s = t.current; s != nullptr; s = s->enclosing_) {
      if (s->enclosing_ == this) {
        s->enclosing_ = enclosing_;
        break;
      }
    }
  }
  limit_ = 0;  // later attributes take put_slow, which sees the span ended
  if (state_.failed) [[unlikely]] {
    tracer.impl_->dropped_unattached.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  std::byte* const fixed = record_.data() + wire::kRecordHeaderSize;
  std::uint64_t start_ns = 0;
  std::memcpy(&start_ns, fixed + offsetof(wire::SpanFixed, start_unix_ns), sizeof start_ns);
  const auto elapsed = static_cast<double>(ticks() - start_ticks_) * t.clock.c.ns_per_tick;
  const std::uint64_t end_ns = start_ns + static_cast<std::uint64_t>(elapsed);
  std::size_t length = 0;
  if (state_.dropped_items == 0) [[likely]] {
    // The end time, status, item count and record header patched in place: every item is in.
    std::memcpy(fixed + offsetof(wire::SpanFixed, end_unix_ns), &end_ns, 8);
    fixed[offsetof(wire::SpanFixed, status)] = std::byte{status_};
    const auto items = static_cast<std::uint16_t>(state_.items);
    std::memcpy(fixed + offsetof(wire::SpanFixed, item_count), &items, 2);
    const wire::RecordHeader header{state_.used, static_cast<std::uint16_t>(wire::RecordType::Span),
                                    wire::kSchemaVersion};
    std::memcpy(record_.data(), &header, sizeof header);
    length = state_.used;
  } else {
    // Items were left out: finish() adds the Dropped item saying how many.
    wire::SpanEncoder e(record_, state_);
    e.set_end(end_ns);
    e.set_status(status_);
    length = e.finish();
    tracer.impl_->dropped_items.fetch_add(state_.dropped_items, std::memory_order_relaxed);
  }
  if (length == 0) [[unlikely]] {
    tracer.impl_->dropped_unattached.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  return emit_from(*tracer.impl_, t, std::span(record_.data(), length));
}

Span* current_span() noexcept {
  return t_state.current;
}

SpanContext current_context() noexcept {
  return t_state.current != nullptr ? t_state.current->context() : SpanContext{};
}

}  // namespace tailgate
