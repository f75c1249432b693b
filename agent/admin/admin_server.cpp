#include "admin/admin_server.hpp"

#include <chrono>
#include <deque>

#include "http/http_server.hpp"

namespace tailgate::admin {
namespace {

std::uint64_t steady_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// Counts sampled once a second, for the status page's rates over the last minute.
struct Sample {
  std::uint64_t at_ns = 0;
  std::vector<std::uint64_t> received;  ///< by receiver
  std::vector<telemetry::PolicyCounts> policies;
};
constexpr std::size_t kRateSamples = 61;

Sample sample_of(const Snapshot& s) {
  Sample out{s.now_ns, {}, s.policies};
  for (const auto& c : s.counters->spans_received) {
    out.received.push_back(c.load(std::memory_order_relaxed));
  }
  return out;
}

// Rates and per-policy decisions between the oldest sample kept (up to a minute ago) and now.
// A reload that changed the policy list restarts their counts: then "since the reload".
void fill_rates(Snapshot& s, const std::deque<Sample>& history) {
  const auto now = sample_of(s);
  if (history.empty() || now.at_ns <= history.front().at_ns) return;
  const auto& then = history.front();
  const double seconds = static_cast<double>(now.at_ns - then.at_ns) / 1e9;
  s.status.rate_window_seconds = seconds;
  for (std::size_t i = 0; i < now.received.size() && i < then.received.size(); ++i) {
    s.status.receiver_rates.push_back(static_cast<double>(now.received[i] - then.received[i]) /
                                      seconds);
  }
  for (std::size_t i = 0; i < now.policies.size(); ++i) {
    auto recent = now.policies[i];
    const bool same = i < then.policies.size() && then.policies[i].name == recent.name &&
                      then.policies[i].kept_traces <= recent.kept_traces &&
                      then.policies[i].sampled_out_traces <= recent.sampled_out_traces;
    if (same) {
      recent.kept_traces -= then.policies[i].kept_traces;
      recent.sampled_out_traces -= then.policies[i].sampled_out_traces;
    }
    s.status.policies_last_minute.push_back(std::move(recent));
  }
}

}  // namespace

// Everything here runs on the HTTP server's thread (requests and the one-second sampling tick), so
// the drop-rate windows need no lock.
struct AdminServer::State {
  config::AdminConfig config;
  SnapshotFn snapshot;
  telemetry::DropRateWindows windows{steady_ns()};
  std::deque<Sample> history;
  std::unique_ptr<http::Server> server;

  Snapshot current() {
    auto s = snapshot();
    s.windows = windows.windows(s.now_ns, telemetry::totals_of(*s.counters));
    fill_rates(s, history);
    return s;
  }
};

AdminServer::AdminServer(const config::AdminConfig& config, SnapshotFn snapshot)
    : state_(std::make_unique<State>()) {
  state_->config = config;
  state_->snapshot = std::move(snapshot);
  auto* state = state_.get();
  // Requests are small: 8 KiB of headers at most, no body, within five seconds.
  state_->server = std::make_unique<http::Server>(
      http::ServerOptions{.endpoint = config.endpoint,
                          .config_key = "admin.endpoint",
                          .header_limit = 8 * 1024,
                          .body_limit = 0,
                          .request_timeout = std::chrono::seconds(5)},
      [state](const http::Request& request) {
        auto answer =
            handle(request.method, request.target, state->current(), state->config, request.accept);
        return http::Response{.status = static_cast<int>(answer.status),
                              .content_type = std::move(answer.content_type),
                              .body = std::move(answer.body),
                              .allow = std::move(answer.allow)};
      });
  state_->server->every(std::chrono::seconds(1), [state] {
    const auto s = state->snapshot();
    state->windows.sample(s.now_ns, telemetry::totals_of(*s.counters));
    state->history.push_back(sample_of(s));
    if (state->history.size() > kRateSamples) state->history.pop_front();
  });
}

AdminServer::~AdminServer() {
  stop();
}

void AdminServer::start() {
  state_->server->start();
}

void AdminServer::stop() {
  state_->server->stop();
}

const std::string& AdminServer::local_endpoint() const noexcept {
  return state_->server->local_endpoint();
}

}  // namespace tailgate::admin
