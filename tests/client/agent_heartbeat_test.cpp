// "No agent": a producer tells from the agent's heartbeat in the ring directory whether anything
// reads its segment, through stats() (C++ and C) and one warning on stderr.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "shm/ring_directory.hpp"
#include "support/child_process.hpp"
#include "tailgate/tailgate.h"
#include "tailgate/tailgate.hpp"

using namespace tailgate;

namespace {

/// Runs `fn` with stderr sent to `path`; returns what it wrote.
template <typename Fn>
std::string stderr_of(const std::string& path, Fn&& fn) {
  const int saved = ::dup(2);
  const int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ::dup2(file, 2);
  fn();
  ::dup2(saved, 2);
  ::close(saved);
  ::close(file);
  return testing::read_file(path);
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("stats say 'no agent' (once on stderr) until the agent's heartbeat is fresh",
          "[client]") {
  testing::TempDir dir;
  const auto ring = dir.file("ring");
  {
    Tracer tracer({.service_name = "orders", .directory = ring});
    REQUIRE(tracer.error().empty());
    TracerStats first, second;
    const auto warned = stderr_of(dir.file("err"), [&] {
      first = tracer.stats();
      second = tracer.stats();
    });
    CHECK_FALSE(first.agent_reading);
    CHECK(first.agent_heartbeat_age_ns == -1);
    CHECK_FALSE(second.agent_reading);
    CHECK(count(warned, "no agent reads the ring directory " + ring) == 1);

    {
      shm::Heartbeat heartbeat(ring);  // what the agent leaves there
      const auto now = tracer.stats();
      CHECK(now.agent_reading);
      CHECK(now.agent_heartbeat_age_ns >= 0);
      CHECK(now.agent_heartbeat_age_ns < std::chrono::nanoseconds(shm::kHeartbeatStale).count());
      // An agent that stopped beating (hung, or SIGKILLed: the file stays) is no agent.
      const timespec old[2] = {{::time(nullptr) - 60, 0}, {::time(nullptr) - 60, 0}};
      REQUIRE(::utimensat(AT_FDCWD, (ring + "/" + shm::kHeartbeatName).c_str(), old, 0) == 0);
      CHECK_FALSE(tracer.stats().agent_reading);
      CHECK(tracer.stats().agent_heartbeat_age_ns >= 59'000'000'000);
      REQUIRE(heartbeat.beat());
      CHECK(tracer.stats().agent_reading);
    }
    CHECK_FALSE(tracer.stats().agent_reading);  // a stopped agent takes its heartbeat away
  }
  // The C ABI (what the Python module reads), one tracer per process: the C++ one is gone.
  const char* key = "service.name";
  const char* value = "orders";
  const tailgate_options options{ring.c_str(), 0, 0};
  tailgate_tracer* c = tailgate_tracer_new(&key, &value, 1, &options);
  REQUIRE(c != nullptr);
  std::int64_t age = 0;
  const auto warned =
      stderr_of(dir.file("err-c"), [&] { CHECK(tailgate_agent_reading(c, &age) == 0); });
  CHECK(age == -1);
  CHECK(count(warned, "no agent") == 1);
  {
    shm::Heartbeat heartbeat(ring);
    CHECK(tailgate_agent_reading(c, &age) == 1);
    CHECK(age >= 0);
    CHECK(tailgate_agent_reading(c, nullptr) == 1);
  }
  tailgate_tracer_free(c);
}
