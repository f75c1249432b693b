#pragma once
// Traces spread over the agents of a fleet, for the peers tests: each agent gets a part of every
// trace (a local root, a SERVER span whose parent is in the previous agent's process, and one
// child), and what makes a trace worth keeping (an error, a slow span, a critical name) is seen by
// one agent only. Sent over UDP in the native wire format, paced.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "sampling/threshold.hpp"
#include "support/fleet.hpp"
#include "support/span_builder.hpp"
#include "wire/encode.hpp"

namespace tailgate::testing::spread {

using namespace std::chrono_literals;

constexpr std::size_t kAgents = 3;
constexpr std::size_t kSpansPerPart = 2;  // per agent: the SERVER local root and one child

struct TracePlan {
  model::TraceId id{};
  int error_at = -1;     ///< the agent that sees the error, if any
  int slow_at = -1;      ///< the agent whose spans last 150 ms (past the 100 ms latency policy)
  int critical_at = -1;  ///< the agent that sees api.exchange.submit (the critical policy)
};

/// Of every 20 traces: 1 with an error, 1 slow, 4 critical (5%, 5%, 20%), each at one agent,
/// turning over the three; the rest ordinary. Random trace ids, the same for the same seed.
inline std::vector<TracePlan> plan(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<TracePlan> plans(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t b = 0; b < 16; b += 8) {
      const auto r = rng();
      for (std::size_t j = 0; j < 8; ++j)
        plans[i].id[b + j] = static_cast<std::uint8_t>(r >> 8 * j);
    }
    const int at = static_cast<int>((i / 20) % kAgents);
    const auto k = i % 20;
    if (k == 0) plans[i].error_at = at;
    if (k == 1) plans[i].slow_at = at;
    if (k >= 2 && k < 6) plans[i].critical_at = at;
  }
  return plans;
}

inline bool worth_keeping(const TracePlan& p) {
  return p.error_at >= 0 || p.slow_at >= 0;
}
/// What the shipped policies keep when they see the whole trace.
inline bool kept_whole(const TracePlan& p) {
  return worth_keeping(p) || (p.critical_at >= 0 && sampling::keep(p.id, 0.1)) ||
         sampling::keep(p.id, 0.01);
}

inline model::SpanId span_id(std::size_t trace, std::size_t agent, std::size_t which) {
  return span_id_of(trace * 100 + agent * 10 + which + 1);
}

/// Agent `k`'s part of trace `i`: a SERVER span with a remote parent (the previous agent's CLIENT
/// span, or an upstream outside the fleet) and its child, ending first.
inline std::array<model::Span, kSpansPerPart> part(
    const TracePlan& p, std::size_t i, int k, const std::shared_ptr<const model::Resource>& res,
    std::uint64_t now_ns) {
  model::Span server, child;
  const auto ku = static_cast<std::size_t>(k);
  server.trace_id = child.trace_id = p.id;
  server.span_id = span_id(i, ku, 0);
  server.parent_span_id = k == 0 ? span_id(i, 9, 9) : span_id(i, ku - 1, 1);
  server.parent_is_remote = true;
  server.kind = model::SpanKind::Server;
  server.name = "svc" + std::to_string(k) + ".handle";
  child.span_id = span_id(i, ku, 1);
  child.parent_span_id = server.span_id;
  child.kind =
      k + 1 < static_cast<int>(kAgents) ? model::SpanKind::Client : model::SpanKind::Internal;
  child.name = p.critical_at == k ? "api.exchange.submit" : "svc" + std::to_string(k) + ".work";
  if (p.error_at == k) child.status = model::StatusCode::Error;
  child.start_unix_ns = now_ns + 20'000;
  child.end_unix_ns = child.start_unix_ns + (p.slow_at == k ? 150'000'000 : 300'000);
  server.start_unix_ns = now_ns;
  server.end_unix_ns = child.end_unix_ns + 20'000;
  server.resource = child.resource = res;
  return {std::move(child), std::move(server)};
}

class Sender {
 public:
  explicit Sender(const Fleet& fleet) : fd_(::socket(AF_INET, SOCK_DGRAM, 0)) {
    for (std::size_t k = 0; k < kAgents; ++k) {
      ports_.push_back(fleet.agents[k].udp_port);
      resources_.push_back(test_resource("svc" + std::to_string(k)));
    }
  }
  ~Sender() { ::close(fd_); }
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  /// Sends the parts of `plans[from, to)` that agents in `to_agents` hold, 20 traces a datagram,
  /// paced (about 10k traces a second). Returns the spans sent.
  std::size_t send(const std::vector<TracePlan>& plans, std::size_t from, std::size_t to,
                   const std::set<int>& to_agents = {0, 1, 2}) {
    std::size_t spans = 0;
    for (std::size_t start = from; start < to; start += 20) {
      const auto now = static_cast<std::uint64_t>(
          std::chrono::system_clock::now().time_since_epoch() / std::chrono::nanoseconds(1));
      for (const int k : to_agents) {
        std::vector<std::byte> d(wire::kMaxRecordSize);
        auto used = wire::align_record(wire::encode_resource(*resources_[k], d));
        for (std::size_t i = start; i < std::min(to, start + 20); ++i) {
          for (const auto& s : part(plans[i], i, k, resources_[k], now)) {
            used += wire::align_record(wire::encode_span(s, std::span(d).subspan(used)));
            ++spans;
          }
        }
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(ports_[k]));
        ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        REQUIRE(::sendto(fd_, d.data(), used, 0, reinterpret_cast<sockaddr*>(&a), sizeof a) ==
                static_cast<ssize_t>(used));
      }
      std::this_thread::sleep_for(2ms);
    }
    return spans;
  }

 private:
  int fd_;
  std::vector<int> ports_;
  std::vector<std::shared_ptr<const model::Resource>> resources_;
};

inline std::string hex(const model::TraceId& id) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  for (const auto b : id) {
    s += digits[b >> 4];
    s += digits[b & 0xF];
  }
  return s;
}

}  // namespace tailgate::testing::spread
