// The agent as a systemd Type=notify service, against a real NOTIFY_SOCKET opened here.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support/agent_stack.hpp"

using namespace std::chrono_literals;
using tailgate::testing::ChildProcess;

namespace {

class NotifySocket {
 public:
  explicit NotifySocket(std::string path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    timeval timeout{0, 200'000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~NotifySocket() { ::close(fd_); }

  /// Messages until one containing `want` arrives or `limit` passes.
  std::vector<std::string> until(const std::string& want, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      char buf[512];
      const auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) continue;
      messages_.emplace_back(buf, static_cast<std::size_t>(n));
      if (messages_.back().find(want) != std::string::npos) break;
    }
    return messages_;
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::vector<std::string> messages_;
};

std::size_t index_of(const std::vector<std::string>& messages, const std::string& text) {
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].find(text) != std::string::npos) return i;
  }
  return messages.size();
}

}  // namespace

TEST_CASE("under systemd the agent says READY=1, then WATCHDOG=1, then STOPPING=1",
          "[integration]") {
  tailgate::testing::TempDir dir;
  NotifySocket notify(dir.file("notify.sock"));
  std::ofstream(dir.file("t.yaml"))
      << "receivers: {udp: {endpoint: \"127.0.0.1:0\"}, ring: {directory: \"" << dir.file("ring")
      << "\"}, " << tailgate::testing::kDropInsOnFreePorts << "}\n"
      << "admin: {endpoint: \"127.0.0.1:0\"}\n"
      << "exporter: {endpoint: \"127.0.0.1:1\"}\n";
  ChildProcess agent({TAILGATE_AGENT_BIN, "--config", dir.file("t.yaml")}, dir.file("out"),
                     dir.file("err"),
                     {"NOTIFY_SOCKET=" + dir.file("notify.sock"), "WATCHDOG_USEC=400000"});
  auto messages = notify.until("WATCHDOG=1", 10s);
  const auto log = tailgate::testing::wait_for_text(dir.file("err"), "agent_ready", 5s);
  INFO(log);
  agent.signal(SIGTERM);
  messages = notify.until("STOPPING=1", 10s);
  REQUIRE(agent.wait(20s) == 0);
  const auto ready = index_of(messages, "READY=1");
  const auto watchdog = index_of(messages, "WATCHDOG=1");
  const auto stopping = index_of(messages, "STOPPING=1");
  CHECK(ready < messages.size());
  CHECK(ready < watchdog);
  CHECK(watchdog < stopping);
  CHECK(stopping < messages.size());
}
