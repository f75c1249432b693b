// What a process in the ring group can do to the real agent through the ring directory, and what
// the agent must survive: hostile headers, a segment truncated under it, a flood of segments.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>

#include "shm/segment.hpp"
#include "support/agent_stack.hpp"
#include "support/eventually.hpp"
#include "support/hostile_segment.hpp"
#include "support/http_client.hpp"
#include "support/span_builder.hpp"
#include "wire/encode.hpp"

using namespace tailgate;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::string kKeepAll =
    "sampling:\n  decision_wait: 100ms\n"
    "  policies: [{name: all, type: base, probability: 1.0}]\n";

/// Forks a producer that writes `count` spans (traces from `base`) every time `dir`/go<N> appears
/// (N = 0, 1, ...; bounded), touching `dir`/sent<N> after each round; it writes nothing else.
pid_t fork_rounds(const std::string& ring, const std::string& dir, std::uint64_t base,
                  std::uint64_t count) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  auto resource = testing::test_resource("ring-producer");
  std::vector<std::byte> record(wire::kMaxRecordSize);
  record.resize(wire::encode_resource(*resource, record));
  auto segment = shm::Segment::create(
      {.directory = ring, .lanes = 1, .lane_bytes = 1 << 20, .resource = record});
  record.resize(wire::kMaxRecordSize);
  auto lane = segment->claim_lane();
  for (int round = 0; round < 10; ++round) {
    const auto go = dir + "/go" + std::to_string(round);
    for (int i = 0; i < 3000 && !fs::exists(go); ++i) std::this_thread::sleep_for(10ms);
    if (!fs::exists(go)) break;
    for (std::uint64_t i = 0; i < count; ++i) {
      const auto n = base + round * count + i;
      auto span = testing::make_span(n, 0, resource);
      const auto size = wire::encode_span(span, record);
      if (size == 0 || !lane.try_write(std::span(record.data(), size))) ::_exit(3);
    }
    std::ofstream(dir + "/sent" + std::to_string(round)) << "1";
  }
  ::_exit(0);
}

std::size_t spans_at_sink(const testing::AgentStack& stack) {
  return stack.sink_spans().size();
}

double metric(const testing::AgentStack& stack, const std::string& name) {
  const auto text = testing::http_get(stack.admin_port, "/metrics").body;
  const auto at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size() + 2));
}

void reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

}  // namespace

TEST_CASE(
    "a live segment truncated under the agent costs that segment only: the agent lives, "
    "another producer's spans arrive, the loss is counted",
    "[integration][ring][truncate]") {
  testing::AgentStack stack(kKeepAll);
  testing::TempDir a, b;
  const pid_t victim = fork_rounds(stack.ring_directory(), a.file(""), 0, 100);
  const pid_t other = fork_rounds(stack.ring_directory(), b.file(""), 1'000'000, 100);
  std::ofstream(a.file("go0")) << "1";
  std::ofstream(b.file("go0")) << "1";
  REQUIRE(testing::eventually([&] { return spans_at_sink(stack) == 200; }, 20s, 20ms));
  std::string victim_path;
  for (const auto& e : fs::directory_iterator(stack.ring_directory())) {
    if (e.path().filename().string().starts_with(std::to_string(victim) + "-"))
      victim_path = e.path();
  }
  REQUIRE_FALSE(victim_path.empty());
  REQUIRE(::truncate(victim_path.c_str(), 4096) == 0);  // as `truncate -s 4096` would
  // The other producer keeps sending, three rounds after the truncation.
  for (int round = 1; round <= 3; ++round) {
    std::ofstream(b.file("go" + std::to_string(round))) << "1";
    REQUIRE(testing::eventually([&] { return fs::exists(b.file("sent" + std::to_string(round))); },
                                20s, 10ms));
  }
  CHECK(testing::eventually([&] { return spans_at_sink(stack) == 500; }, 20s, 20ms));
  CHECK(stack.agent->running());
  CHECK(metric(stack, "tailgate_ring_segments_lost_total") == 1);
  CHECK_THAT(stack.agent_log(), Catch::Matchers::Contains("event=segment_lost"));
  reap(victim);
  reap(other);
  stack.stop_agent();
}

TEST_CASE("a segment whose sizes overflow the size check is refused, and so again after a restart",
          "[integration][ring][overflow]") {
  testing::AgentStack stack(kKeepAll);
  // One lane of 2^63 bytes: the unchecked size wraps to 4608, this file's size.
  testing::write_hostile_segment(stack.ring_directory(), {.lane_bytes = std::uint64_t{1} << 63},
                                 4608);
  testing::TempDir b;
  const pid_t other = fork_rounds(stack.ring_directory(), b.file(""), 0, 100);
  std::ofstream(b.file("go0")) << "1";
  CHECK(testing::eventually([&] { return spans_at_sink(stack) == 100; }, 20s, 20ms));
  CHECK_THAT(stack.agent_log(), Catch::Matchers::Contains("out of bounds"));
  CHECK(metric(stack, "tailgate_ring_segments_refused_total") == 1);
  stack.stop_agent();
  stack.agent = std::make_unique<testing::ChildProcess>(
      std::vector<std::string>{TAILGATE_AGENT_BIN, "--config", stack.config_path()},
      stack.dir.file("agent2.out"), stack.dir.file("agent2.err"));
  std::ofstream(b.file("go1")) << "1";
  CHECK(testing::eventually([&] { return spans_at_sink(stack) == 200; }, 20s, 20ms));
  CHECK(stack.agent->running());
  reap(other);
}

TEST_CASE("segments past receivers.ring.max_segments wait, counted, and get their turn",
          "[integration][ring][max_segments]") {
  testing::AgentStack stack(kKeepAll);
  stack.stop_agent();
  auto config = testing::read_file(stack.config_path());
  const std::string key = "    scan_interval: 50ms\n";
  config.insert(config.find(key) + key.size(), "    max_segments: 2\n");
  std::ofstream(stack.config_path()) << config;
  stack.agent = std::make_unique<testing::ChildProcess>(
      std::vector<std::string>{TAILGATE_AGENT_BIN, "--config", stack.config_path()},
      stack.dir.file("agent2.out"), stack.dir.file("agent2.err"));
  const auto ready = testing::wait_for_text(stack.dir.file("agent2.err"), "event=agent_ready", 10s);
  stack.admin_port = testing::port_after(ready, "event=admin_listening endpoint=127.0.0.1:");
  REQUIRE(stack.admin_port > 0);
  testing::TempDir a, b, c;
  std::vector<pid_t> producers;
  for (const auto* dir : {&a, &b, &c}) {
    producers.push_back(
        fork_rounds(stack.ring_directory(), dir->file(""), producers.size() * 1000, 100));
    std::ofstream(dir->file("go0")) << "1";
  }
  CHECK(testing::eventually([&] { return spans_at_sink(stack) == 200; }, 20s, 20ms));
  CHECK(testing::eventually(
      [&] { return metric(stack, "tailgate_ring_segments_refused_total") == 1; }, 10s, 20ms));
  CHECK(metric(stack, "tailgate_ring_segments") == 2);
  CHECK_THAT(testing::read_file(stack.dir.file("agent2.err")),
             Catch::Matchers::Contains("reason=max_segments"));
  // One that was attached goes: the waiting one gets its turn, nothing of it lost.
  const auto log = testing::read_file(stack.dir.file("agent2.err"));
  const auto attached = std::find_if(producers.begin(), producers.end(), [&](pid_t pid) {
    return log.find("event=segment_attached path=" + stack.ring_directory() + "/" +
                    std::to_string(pid) + "-") != std::string::npos;
  });
  REQUIRE(attached != producers.end());
  reap(*attached);
  CHECK(testing::eventually([&] { return spans_at_sink(stack) == 300; }, 20s, 20ms));
  for (const auto pid : producers) reap(pid);
}
