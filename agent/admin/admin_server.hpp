#pragma once
// The admin endpoints on the agent's HTTP server (http/http_server.hpp: its own thread, bounded
// requests). Requests are small (8 KiB of headers at most, no body) and must arrive within a few
// seconds. A one-second tick samples the counters for /drop-rate. Binding happens in the
// constructor (a taken port fails start-up); start()/stop() run on the Agent's thread.

#include <functional>
#include <memory>
#include <string>

#include "admin/routes.hpp"
#include "config/config.hpp"

namespace tailgate::admin {

class AdminServer final {
 public:
  /// Called on the admin thread for each request: everything the routes read, right now. The
  /// server fills in the drop-rate windows itself.
  using SnapshotFn = std::function<Snapshot()>;

  AdminServer(const config::AdminConfig& config, SnapshotFn snapshot);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  void start();
  void stop();
  [[nodiscard]] const std::string& local_endpoint() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace tailgate::admin
