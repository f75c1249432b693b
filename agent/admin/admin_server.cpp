#include "admin/admin_server.hpp"

#include <chrono>

#include "http/http_server.hpp"

namespace tailgate::admin {
namespace {

std::uint64_t steady_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace

// Everything here runs on the HTTP server's thread (requests and the one-second sampling tick), so
// the drop-rate windows need no lock.
struct AdminServer::State {
  config::AdminConfig config;
  SnapshotFn snapshot;
  telemetry::DropRateWindows windows{steady_ns()};
  std::unique_ptr<http::Server> server;

  Snapshot current() {
    auto s = snapshot();
    s.windows = windows.windows(s.now_ns, telemetry::totals_of(*s.counters));
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
