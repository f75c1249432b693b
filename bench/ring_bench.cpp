// The producer's side of the ring, measured per call: each call bracketed by rdtsc into a
// histogram (p50/p99/p99.9/max), plus the burst average without brackets. The producer runs on
// one core while a consumer thread drains on the other, as the agent would. Side by side in the
// same run: the same span sent as a UDP datagram to a loopback socket that another thread reads.
// Prints a table and, with --json FILE, writes it as JSON. Bounded in count and time.
//
//   ring_bench [--quick] [--json FILE]
//   ring_bench --spans N   N full C++ spans and nothing else, for callgrind to count
//                          (bench/count_instructions.sh); the lane holds them all undrained.
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>
#include <x86intrin.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "shm/segment.hpp"
#include "tailgate/tailgate.hpp"
#include "wire/encode.hpp"

using namespace tailgate;
using Clock = std::chrono::steady_clock;

namespace {

double g_ns_per_tick = 1.0;
constexpr std::size_t kBusyPass = 1024;  // as receivers/ring_receiver.cpp

void calibrate() {
  const auto t0 = __rdtsc();
  const auto c0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto t1 = __rdtsc();
  const auto c1 = Clock::now();
  g_ns_per_tick =
      std::chrono::duration<double, std::nano>(c1 - c0).count() / static_cast<double>(t1 - t0);
}

void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % static_cast<int>(std::thread::hardware_concurrency()), &set);
  ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
}

struct Result {
  std::string name;
  std::size_t calls = 0;
  double p50 = 0, p99 = 0, p999 = 0, max = 0, burst_avg = 0;
  std::uint64_t ok = 0, failed = 0;
  double taken_per_s = 0;  ///< saturation: records the consumer took per second
  std::string note;
};

/// Runs `call` `n` times bracketed (histogram), then `n` times in a burst (average).
Result measure(const std::string& name, std::size_t n, const std::function<bool()>& call) {
  Result r{.name = name, .calls = n};
  std::vector<std::uint64_t> ticks(n);
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  std::size_t done = 0;
  for (; done < n; ++done) {
    const auto t0 = __rdtsc();
    const bool ok = call();
    const auto t1 = __rdtsc();
    ticks[done] = t1 - t0;
    (ok ? r.ok : r.failed)++;
    if ((done & 0xFFFF) == 0 && Clock::now() > deadline) break;
  }
  ticks.resize(done);
  std::sort(ticks.begin(), ticks.end());
  const auto at = [&](double q) {
    return static_cast<double>(
               ticks[std::min(ticks.size() - 1,
                              static_cast<std::size_t>(q * static_cast<double>(ticks.size())))]) *

           g_ns_per_tick;
  };
  r.calls = done;
  r.p50 = at(0.5);
  r.p99 = at(0.99);
  r.p999 = at(0.999);
  r.max = static_cast<double>(ticks.back()) * g_ns_per_tick;
  const auto b0 = Clock::now();
  for (std::size_t i = 0; i < done; ++i) (call() ? r.ok : r.failed)++;
  r.burst_avg = std::chrono::duration<double, std::nano>(Clock::now() - b0).count() /
                static_cast<double>(done);
  return r;
}

/// A consumer thread draining every lane of a segment, as the agent does (copy, no decode).
class Drainer {
 public:
  explicit Drainer(const std::string& path) : segment_(shm::Segment::attach(path)) {
    thread_ = std::thread([this] {
      pin(1);
      std::vector<std::byte> sink(70000);
      while (!stop_.load(std::memory_order_relaxed)) {
        if (paused_.load(std::memory_order_relaxed)) {
          std::this_thread::yield();
          continue;
        }
        // Paced as the agent's ring receiver is: a short pass goes to sleep briefly rather than
        // spin on the producers' tail lines (which would bounce them between cores).
        std::size_t taken = 0;
        for (std::size_t lane = 0; lane <= segment_->lane_count(); ++lane) {
          taken += segment_->reader(lane)
                       .drain(
                           [&](wire::RecordType type, std::span<const std::byte> p) {
                             std::memcpy(sink.data(), p.data(), p.size());
                             if (type == wire::RecordType::Span)
                               records.fetch_add(1, std::memory_order_relaxed);
                           },
                           4096)
                       .records;
        }
        if (taken < kBusyPass) std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    });
  }
  ~Drainer() {
    stop_ = true;
    thread_.join();
  }
  void pause(bool p) { paused_ = p; }
  std::atomic<std::uint64_t> records{0};

 private:
  std::unique_ptr<shm::Segment> segment_;
  std::atomic<bool> stop_{false}, paused_{false};
  std::thread thread_;
};

std::vector<std::byte> encoded_span(std::size_t target_bytes) {
  std::vector<std::byte> out(1024);
  const std::uint8_t trace[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  const std::uint8_t span[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  wire::SpanEncoder e(
      out, {.trace_id = trace, .span_id = span, .start_unix_ns = 1, .end_unix_ns = 2, .kind = 1},
      "genesis.order.execute_market");
  const std::string filler(target_bytes, 'x');
  auto n = e.finish();
  // Grow one string attribute until the record is the size asked for.
  for (std::size_t pad = 0; n < target_bytes && pad < target_bytes; ++pad) {
    wire::SpanEncoder f(
        out, {.trace_id = trace, .span_id = span, .start_unix_ns = 1, .end_unix_ns = 2, .kind = 1},
        "genesis.order.execute_market");
    f.attribute("pad", std::string_view(filler).substr(0, pad));
    n = f.finish();
  }
  out.resize(n);
  return out;
}

/// The span measured as "full C++ span": clock, ids, a name and six typed attributes, encoded and
/// emitted at end(). Not inlined: bench/count_instructions.sh counts what runs inside it
/// (callgrind --toggle-collect).
[[gnu::noinline]] bool full_span(Tracer& tracer) {
  auto s = tracer.span("genesis.order.execute_market");
  s.set("order.symbol", "BTCUSDT")
      .set("order.side", "buy")
      .set("order.quantity", 0.5)
      .set("order.price", 43250.5)
      .set("order.id", 123456789)
      .set("risk.passed", true);
  return s.end();
}

/// --spans: the spans alone, no consumer and no brackets; every one must reach the lane.
int count_only(std::size_t spans) {
  const auto dir =
      std::filesystem::path("/dev/shm") / ("tailgate-ring-count-" + std::to_string(::getpid()));
  std::size_t sent = 0;
  {
    Tracer tracer({.service_name = "bench",
                   .directory = dir.string(),
                   .lanes = 1,
                   .lane_bytes = std::bit_ceil(spans * 256)});
    if (!tracer.error().empty()) return std::fprintf(stderr, "%s\n", tracer.error().c_str()), 1;
    for (std::size_t i = 0; i < spans; ++i) sent += full_span(tracer) ? 1 : 0;
  }
  std::filesystem::remove_all(dir);
  std::printf("spans %zu sent %zu\n", spans, sent);
  return sent == spans ? 0 : 1;
}

void print(const std::vector<Result>& results) {
  std::printf("%-44s %10s %9s %9s %9s %10s %10s %10s\n", "case", "calls", "p50 ns", "p99 ns",
              "p99.9 ns", "max ns", "burst ns", "dropped");
  for (const auto& r : results) {
    std::printf("%-44s %10zu %9.1f %9.1f %9.1f %10.0f %10.1f %10llu  %s\n", r.name.c_str(), r.calls,
                r.p50, r.p99, r.p999, r.max, r.burst_avg, static_cast<unsigned long long>(r.failed),
                r.note.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string json_path;
  std::size_t count_spans = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else if (a == "--spans" && i + 1 < argc) {
      count_spans = std::strtoul(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: ring_bench [--quick] [--json FILE] | --spans N\n");
      return 2;
    }
  }
  if (count_spans != 0) return count_only(count_spans);
  const std::size_t n = quick ? 20'000 : 1'000'000;
  calibrate();
  // In memory, as in production (/dev/shm): a disk-backed file would add page writeback.
  const auto dir =
      std::filesystem::path("/dev/shm") / ("tailgate-ring-bench-" + std::to_string(::getpid()));
  std::vector<Result> results;
  pin(0);
  {
    Tracer tracer(
        {.service_name = "bench", .directory = dir.string(), .lanes = 4, .lane_bytes = 1u << 22});
    if (!tracer.error().empty()) return std::fprintf(stderr, "%s\n", tracer.error().c_str()), 1;
    Drainer drainer(tracer.segment_path());
    const auto record = encoded_span(128);

    results.push_back(
        measure("emit, pre-encoded 128-byte record", n, [&] { return tracer.emit(record); }));
    results.push_back(measure("full C++ span: clock, ids, name + 6 attrs, end", n,
                              [&] { return full_span(tracer); }));
    // The floor under the span on this machine, side by side: its two clock reads (start, end)
    // and nothing else, through the same bracket.
    results.push_back(measure("clock alone: the span's two TSC reads", n, [] {
      const auto start = __rdtsc();
      return __rdtsc() >= start;
    }));
    drainer.pause(true);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    // Fill the lane so that every call below takes the drop path.
    while (tracer.emit(record)) {
    }
    results.push_back(
        measure("drop path (consumer stopped, lane full)", n, [&] { return tracer.emit(record); }));
    drainer.pause(false);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // it takes what the fill left

    // Saturation of one lane: as fast as possible for a bounded time, every drop counted.
    const auto before_drops = tracer.stats().dropped;
    const auto before_records = drainer.records.load();
    const auto t0 = Clock::now();
    std::uint64_t offered = 0;
    const auto limit = quick ? std::chrono::milliseconds(100) : std::chrono::milliseconds(1000);
    while (Clock::now() - t0 < limit) {
      for (int i = 0; i < 1024; ++i) tracer.emit(record);
      offered += 1024;
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    for (int i = 0; i < 200 && drainer.records.load() - before_records +
                                       (tracer.stats().dropped - before_drops) <
                                   offered;
         ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const auto dropped = tracer.stats().dropped - before_drops;
    const auto received = drainer.records.load() - before_records;
    Result sat{.name = "one lane saturated (128-byte records)", .calls = offered};
    sat.ok = offered - dropped;
    sat.failed = dropped;
    char note[160];
    std::snprintf(note, sizeof note, "%.1fM offered/s, %.1fM taken/s; received+dropped=%s",
                  static_cast<double>(offered) / secs / 1e6,
                  static_cast<double>(offered - dropped) / secs / 1e6,
                  received + dropped == offered ? "offered" : "MISMATCH");
    sat.note = note;
    sat.taken_per_s = static_cast<double>(offered - dropped) / secs;
    results.push_back(sat);
  }
  std::filesystem::remove_all(dir);

  // Several producer threads at once, each on its own lane (claimed at its first span), one
  // consumer draining: the full C++ span per call, reported for the slowest thread. With more
  // threads than this machine's two cores, the tails include being preempted.
  for (const int threads : {2, 4}) {
    Tracer tracer(
        {.service_name = "bench", .directory = dir.string(), .lanes = 4, .lane_bytes = 1u << 22});
    if (!tracer.error().empty()) return std::fprintf(stderr, "%s\n", tracer.error().c_str()), 1;
    Drainer drainer(tracer.segment_path());
    std::vector<Result> per_thread(static_cast<std::size_t>(threads));
    std::vector<std::thread> producers;
    for (int t = 0; t < threads; ++t) {
      producers.emplace_back([&, t] {
        per_thread[static_cast<std::size_t>(t)] =
            measure("", n / 2, [&] { return full_span(tracer); });
      });
    }
    for (auto& p : producers) p.join();
    Result worst{.name = "full C++ span, " + std::to_string(threads) + " producer threads"};
    for (const auto& r : per_thread) {
      worst.calls += r.calls;
      worst.ok += r.ok;
      worst.failed += r.failed;
      worst.p50 = std::max(worst.p50, r.p50);
      worst.p99 = std::max(worst.p99, r.p99);
      worst.p999 = std::max(worst.p999, r.p999);
      worst.max = std::max(worst.max, r.max);
      worst.burst_avg = std::max(worst.burst_avg, r.burst_avg);
    }
    worst.note = "slowest thread's percentiles";
    results.push_back(worst);
  }
  std::filesystem::remove_all(dir);

  // The same 128-byte record as a UDP datagram, a reader thread draining the socket.
  {
    const int rx = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(rx, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(rx, reinterpret_cast<sockaddr*>(&addr), &len);
    const int size = 8 << 20;
    ::setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    timeval tv{0, 100'000};
    ::setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::atomic<bool> stop{false};
    std::thread reader([&] {
      pin(1);
      char buf[2048];
      while (!stop) ::recv(rx, buf, sizeof buf, 0);
    });
    const int tx = ::socket(AF_INET, SOCK_DGRAM, 0);
    ::connect(tx, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    const auto record = encoded_span(128);
    results.push_back(measure("same record as a UDP datagram (send)", quick ? 2'000 : 200'000,
                              [&] { return ::send(tx, record.data(), record.size(), 0) > 0; }));
    stop = true;
    reader.join();
    ::close(tx);
    ::close(rx);
  }
  const double ratio = results.back().p50 / results[0].p50;
  results[0].note = "UDP/ring at p50: " + std::to_string(static_cast<int>(ratio)) + "x";
  print(results);
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << "{\"ns_per_tick\":" << g_ns_per_tick << ",\"results\":[";
    for (std::size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      out << (i ? "," : "") << "{\"case\":\"" << r.name << "\",\"calls\":" << r.calls
          << ",\"p50_ns\":" << r.p50 << ",\"p99_ns\":" << r.p99 << ",\"p999_ns\":" << r.p999
          << ",\"max_ns\":" << r.max << ",\"burst_avg_ns\":" << r.burst_avg
          << ",\"dropped\":" << r.failed << ",\"taken_per_s\":" << r.taken_per_s << ",\"note\":\""
          << r.note << "\"}";
    }
    out << "],\"udp_over_ring_p50\":" << ratio << "}\n";
  }
  // Counts are not timings: a mismatch is a bug, and fails the smoke run in CI.
  return results[3].note.find("MISMATCH") == std::string::npos ? 0 : 1;
}
