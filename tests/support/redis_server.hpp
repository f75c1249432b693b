#pragma once
// A real redis-server (Debian's, 7.x) for the peers tests: a child process on 127.0.0.1 at a free
// port, with no persistence (--save '' --appendonly no), which a test can kill and start again on
// the same port. A missing redis-server is a failure, never a skip: CI must run these tests
// (tools/install-deps.sh installs it).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "support/child_process.hpp"

#ifndef TAILGATE_REDIS_SERVER_BIN
#define TAILGATE_REDIS_SERVER_BIN "/usr/bin/redis-server"
#endif

namespace tailgate::testing {

/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick for port 0).
inline int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  socklen_t len = sizeof a;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(fd);
  return ok ? ntohs(a.sin_port) : 0;
}

class RedisServer {
 public:
  /// Starts redis-server in `dir`; `password` set: it requires AUTH with it.
  explicit RedisServer(std::string dir, std::string password = "")
      : dir_(std::move(dir)), password_(std::move(password)) {
    if (::access(TAILGATE_REDIS_SERVER_BIN, X_OK) != 0) {
      FAIL("redis-server not found at " TAILGATE_REDIS_SERVER_BIN
           ": install redis-server (tools/install-deps.sh does)");
    }
    // The port was free when picked; another process may take it first: pick again.
    for (int attempt = 0; attempt < 5 && !process_; ++attempt) {
      port_ = free_loopback_port();
      if (!start()) process_.reset();
    }
    REQUIRE(process_);
  }

  [[nodiscard]] int port() const noexcept { return port_; }
  [[nodiscard]] std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] std::string log() const { return read_file(log_path()); }

  /// SIGKILL, as a crash or an OOM kill would end it (nothing flushed, connections cut).
  void kill() {
    if (!process_) return;
    process_->signal(SIGKILL);
    process_->wait(std::chrono::seconds(10));
    process_.reset();
  }

  /// SIGSTOP: a stalled Redis (swapping, a long fork, a debugger): connections open, no answers.
  void pause() const { process_->signal(SIGSTOP); }
  void resume() const { process_->signal(SIGCONT); }

  /// Starts it again on the same port (empty: nothing persisted); true once it accepts clients.
  bool start() {
    std::vector<std::string> argv = {TAILGATE_REDIS_SERVER_BIN,
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--dir",
                                     dir_,
                                     "--logfile",
                                     log_path()};
    if (!password_.empty()) {
      argv.push_back("--requirepass");
      argv.push_back(password_);
    }
    ::unlink(log_path().c_str());
    process_ = std::make_unique<ChildProcess>(argv, dir_ + "/redis.out", dir_ + "/redis.err");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (log().find("Ready to accept connections") != std::string::npos) return true;
      if (process_->wait(std::chrono::milliseconds(10))) return false;  // exited: port taken?
    }
    return false;
  }

 private:
  [[nodiscard]] std::string log_path() const {
    return dir_ + "/redis-" + std::to_string(port_) + ".log";
  }

  std::string dir_;
  std::string password_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace tailgate::testing
