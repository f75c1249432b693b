// Publish-to-follow latency of shared keeps (#21, docs/fleet.md): N peer links, as N agents run
// them, against a real Redis (peers_bench.py --latency starts one on loopback). Each link
// publishes its share of `rate` keeps per second; every other link follows them. A keep's trace id
// carries the steady-clock time it was handed to the publisher, so the follower's inbox sees how
// late it came: from the pipeline's push to the other agent's inbox, Redis and both threads in
// between. Also Redis's CPU per thousand keeps (INFO cpu before and after). Numbers, not a test.
//
// Usage: peers_latency REDIS_HOST:PORT [agents=3] [keeps_per_second=10000] [seconds=5]
#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "peers/peer_link.hpp"
#include "peers/redis_link.hpp"

using namespace tailgate;
using Clock = std::chrono::steady_clock;

namespace {

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

/// used_cpu_sys + used_cpu_user of the Redis server, seconds; negative if unreadable.
double redis_cpu(const std::string& endpoint) {
  peers::RedisLink link;
  if (!link.connect(endpoint, "", std::chrono::seconds(1), std::chrono::seconds(1))) return -1;
  const auto r = link.command({"INFO", "cpu"});
  if (!r || r->str == nullptr) return -1;
  const std::string text(r->str, r->len);
  double total = 0;
  for (const char* key : {"used_cpu_sys:", "used_cpu_user:"}) {
    const auto at = text.find(key);
    if (at == std::string::npos) return -1;
    total += std::stod(text.substr(at + std::strlen(key)));
  }
  return total;
}

struct Agent {
  Agent(const config::PeersConfig& c)
      : outbox(1 << 16), inbox(1 << 16), link(c, outbox, inbox, counters) {}
  telemetry::Counters counters;
  model::KeepQueue outbox, inbox;
  peers::PeerLink link;
};

double percentile(std::vector<std::uint64_t>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1e3;  // µs
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: peers_latency REDIS_HOST:PORT [agents] [keeps/s] [seconds]\n");
    return 2;
  }
  const std::string endpoint = argv[1];
  const int agents = argc > 2 ? std::max(2, std::atoi(argv[2])) : 3;
  const double rate = argc > 3 ? std::atof(argv[3]) : 10000;
  const double seconds = argc > 4 ? std::min(60.0, std::atof(argv[4])) : 5;

  std::vector<std::unique_ptr<Agent>> fleet;
  for (int i = 0; i < agents; ++i) {
    config::PeersConfig c;
    c.enabled = true;
    c.endpoint = endpoint;
    c.agent_id = "bench-" + std::to_string(i);
    fleet.push_back(std::make_unique<Agent>(c));
  }
  for (auto& a : fleet) a->link.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // followers at the stream's end

  std::atomic<bool> done{false};
  std::vector<std::vector<std::uint64_t>> latencies(fleet.size());
  std::vector<std::thread> readers;
  for (std::size_t i = 0; i < fleet.size(); ++i) {
    readers.emplace_back([&, i] {
      std::vector<model::Keep> got;
      while (!done.load() || fleet[i]->inbox.size() > 0) {
        got.clear();
        fleet[i]->inbox.wait_pop_all(got, std::chrono::milliseconds(50));
        const auto now = now_ns();
        for (const auto& k : got) {
          std::uint64_t sent = 0;
          std::memcpy(&sent, k.trace_id.data(), sizeof sent);
          latencies[i].push_back(now - sent);
        }
      }
    });
  }

  const double cpu_before = redis_cpu(endpoint);
  const auto start = Clock::now();
  const auto interval = std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / rate));
  std::uint64_t sent = 0, refused = 0;
  const auto total = static_cast<std::uint64_t>(rate * seconds);
  for (; sent < total; ++sent) {
    std::this_thread::sleep_until(start + interval * static_cast<std::int64_t>(sent));
    model::Keep keep;
    const auto t = now_ns();
    std::memcpy(keep.trace_id.data(), &t, sizeof t);
    std::memcpy(keep.trace_id.data() + 8, &sent, sizeof sent);
    keep.policy = "error";
    if (!fleet[sent % fleet.size()]->outbox.try_push(std::move(keep))) ++refused;
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the last keeps through Redis
  const double cpu_after = redis_cpu(endpoint);
  done = true;
  for (auto& r : readers) r.join();
  for (auto& a : fleet) a->link.stop();

  std::vector<std::uint64_t> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  const auto expected = (total - refused) * static_cast<std::uint64_t>(agents - 1);
  std::printf(
      "{\"agents\":%d,\"keeps_per_second\":%.0f,\"keeps\":%llu,\"refused\":%llu,"
      "\"followed\":%zu,\"expected\":%llu,\"p50_us\":%.0f,\"p99_us\":%.0f,\"max_us\":%.0f,"
      "\"redis_cpu_ms_per_1000_keeps\":%.2f}\n",
      agents, rate, static_cast<unsigned long long>(sent), static_cast<unsigned long long>(refused),
      all.size(), static_cast<unsigned long long>(expected), percentile(all, 0.5),
      percentile(all, 0.99), percentile(all, 1.0),
      cpu_before < 0 ? -1.0 : (cpu_after - cpu_before) * 1e6 / static_cast<double>(sent));
  return 0;
}
