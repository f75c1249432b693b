#pragma once
// What a thread's spans touch, in one place (one TLS access per call): the calibrated clock, the
// id generator, this thread's lane and its current span. Internal to libtailgate.so.
#include <time.h>

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "shm/lane.hpp"

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace tailgate {
class Span;
}

namespace tailgate::client {

inline std::uint64_t realtime_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

inline std::uint64_t ticks() noexcept {
#if defined(__x86_64__)
  return __rdtsc();
#else
  return realtime_ns();  // one tick per nanosecond
#endif
}

/// Ticks as signed nanoseconds at `ns_per_tick`. Signed on purpose: a TSC read on another core a
/// little behind the anchor stays a small negative, and both conversions are one instruction
/// (unsigned ones branch on the sign bit, twice).
inline std::int64_t ticks_to_ns(std::uint64_t later, std::uint64_t earlier,
                                double ns_per_tick) noexcept {
  return static_cast<std::int64_t>(static_cast<double>(static_cast<std::int64_t>(later - earlier)) *
                                   ns_per_tick);
}

// Wall-clock time from the TSC. The process anchor and the rate are measured when the Tracer is
// made; each thread re-anchors to the system clock about once a second (one vDSO read, no
// syscall) with the rate refined over everything measured since, so it never drifts far.
struct Calibration {
  std::uint64_t anchor_ticks = 0;
  std::uint64_t anchor_ns = 0;
  double ns_per_tick = 1.0;
};

struct ThreadClock {
  Calibration c;
  std::uint64_t next_anchor = 0;  ///< ticks at which to re-anchor

  [[gnu::noinline]] void reanchor(std::uint64_t now) noexcept;
  std::uint64_t to_ns(std::uint64_t t) noexcept {
    if (t >= next_anchor) [[unlikely]]
      reanchor(t);
    return c.anchor_ns + static_cast<std::uint64_t>(ticks_to_ns(t, c.anchor_ticks, c.ns_per_tick));
  }
};

// Ids: wyrand, seeded per thread from getrandom (once). Fast, and unpredictable enough that
// trace ids from different threads and processes do not collide; every output bit is mixed, so
// the low 56 bits of a trace id that the sampler's threshold reads (W3C random trace id) are as
// random as the rest.
struct IdGenerator {
  static constexpr std::uint64_t kStep = 0xa0761d6478bd642fULL;
  /// 0: not seeded yet. kStep is odd, so a seeded state comes back to 0 once in 2^64 steps
  /// (and is then seeded afresh).
  std::uint64_t state = 0;

  /// The state to draw from: seeded at a thread's first id (and again after a fork).
  std::uint64_t seeded() noexcept {
    if (state == 0) [[unlikely]]
      seed();
    return state;
  }
  /// The id for state `s`. A caller drawing several ids takes s + kStep, s + 2 * kStep, ... and
  /// stores the last state once.
  static std::uint64_t output(std::uint64_t s) noexcept {
    __extension__ using u128 = unsigned __int128;
    const u128 m = static_cast<u128>(s) * (s ^ 0xe7037ed1a0b428dbULL);
    return static_cast<std::uint64_t>(m >> 64) ^ static_cast<std::uint64_t>(m);
  }

 private:
  [[gnu::noinline]] void seed() noexcept;
};

struct ThreadState {
  ThreadClock clock;
  IdGenerator ids;
  std::uint64_t generation = 0;  ///< the tracer whose segment `own`/`overflow` point into
  shm::LaneWriter own;
  shm::SharedLaneWriter overflow;
  Span* current = nullptr;  ///< innermost span started on this thread and not ended
};
static_assert(std::is_trivially_destructible_v<ThreadState>);

/// initial-exec: an offset from the thread pointer, not a __tls_get_addr call (the library is
/// small enough for the static TLS reserve, also when Python loads it with dlopen). constinit:
/// other files reach it without a TLS wrapper call.
[[gnu::tls_model("initial-exec")]] extern constinit thread_local ThreadState t_state;

}  // namespace tailgate::client
