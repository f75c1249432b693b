// The export path through real processes: the agent, the sink stopped and started, the agent
// stopped by SIGTERM and killed by SIGKILL, and its spool on disk in between.
#include <filesystem>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "support/agent_stack.hpp"
#include "support/eventually.hpp"
#include "support/sink_spans.hpp"

using namespace tailgate;
using namespace std::chrono_literals;
using testing::ChildProcess;

namespace {

const std::string kKeepAll =
    "sampling:\n  decision_wait: 100ms\n"
    "  policies: [{name: all, type: base, probability: 1.0}]\n";

std::string exporter_yaml(const std::string& spool, const std::string& more = "") {
  return "  spool_directory: " + spool + "\n  initial_backoff: 50ms\n  max_backoff: 200ms\n" + more;
}

std::unique_ptr<ChildProcess> start_load(const testing::AgentStack& stack, std::uint64_t traces,
                                         double rate, const std::string& tag) {
  return std::make_unique<ChildProcess>(
      std::vector<std::string>{
          TAILGATE_LOAD_BIN, "--target", "127.0.0.1:" + std::to_string(stack.udp_port), "--traces",
          std::to_string(traces), "--rate", std::to_string(rate), "--seed", "77"},
      stack.dir.file("load-" + tag + ".out"), stack.dir.file("load-" + tag + ".err"));
}

/// Span ids in every JSON-lines file the sinks wrote, with the number of lines.
std::pair<std::set<std::string>, std::size_t> arrived(const testing::AgentStack& stack) {
  std::set<std::string> ids;
  std::size_t lines = 0;
  for (const auto& s : testing::sink_spans_under(stack.dir.file(""))) {
    ids.insert(s["span_id"].get<std::string>());
    ++lines;
  }
  return {ids, lines};
}

/// Batches waiting in a spool directory (the agent's state file lives there too).
std::size_t spooled_files(const std::string& spool) {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(spool))
    n += e.path().extension() == ".otlp";
  return n;
}

std::size_t sent_spans(const testing::AgentStack& stack, const std::string& tag) {
  return nlohmann::json::parse(
      testing::read_file(stack.dir.file("load-" + tag + ".out")))["spans_sent"];
}

}  // namespace

TEST_CASE("a backend outage under steady load loses nothing and duplicates nothing",
          "[integration]") {
  testing::TempDir spool;
  testing::AgentStack stack(kKeepAll, exporter_yaml(spool.file("spool"), "  max_retry_time: 1s\n"));
  auto load = start_load(stack, 8000, 2000, "a");  // 4 s of steady load
  std::this_thread::sleep_for(1s);
  stack.stop_sink();  // Jaeger goes away for 2 s
  std::this_thread::sleep_for(2s);
  stack.restart_sink("b");
  REQUIRE(load->wait(60s) == 0);
  const auto sent = sent_spans(stack, "a");
  REQUIRE(testing::eventually([&] { return arrived(stack).first.size() >= sent; }, 30s, 50ms));
  const auto log = stack.stop_agent();
  INFO(log);
  const auto [ids, lines] = arrived(stack);
  CHECK(ids.size() == sent);
  CHECK(lines == ids.size());  // no duplicates
  const auto stats = testing::log_fields(log, "shutdown_complete");
  CHECK(stats.at("dropped") == "0");
  CHECK(std::stoul(stats.at("export_retries")) > 0);
}

TEST_CASE("SIGTERM with the backend down spools everything, and the next start delivers it",
          "[integration]") {
  testing::TempDir spool;
  const auto exporter = exporter_yaml(spool.file("spool"), "  shutdown_grace: 500ms\n");
  testing::AgentStack stack(kKeepAll, exporter);
  stack.stop_sink();
  auto load = start_load(stack, 500, 2000, "a");
  REQUIRE(load->wait(30s) == 0);
  std::this_thread::sleep_for(300ms);  // every trace decided
  const auto first = stack.stop_agent();
  INFO(first);
  CHECK(testing::log_fields(first, "shutdown_complete").at("dropped") == "0");
  CHECK(spooled_files(spool.file("spool")) > 0);

  stack.restart_sink("b");
  stack.agent = std::make_unique<ChildProcess>(
      std::vector<std::string>{TAILGATE_AGENT_BIN, "--config", stack.config_path()},
      stack.dir.file("agent2.out"), stack.dir.file("agent2.err"));
  const auto sent = sent_spans(stack, "a");
  CHECK(testing::eventually([&] { return arrived(stack).first.size() == sent; }, 30s, 50ms));
  CHECK(testing::eventually([&] { return spooled_files(spool.file("spool")) == 0; }, 10s, 50ms));
}

TEST_CASE("batches spooled before a SIGKILL are delivered by the next start", "[integration]") {
  testing::TempDir spool;
  testing::AgentStack stack(kKeepAll,
                            exporter_yaml(spool.file("spool"), "  max_retry_time: 300ms\n"));
  stack.stop_sink();
  auto load = start_load(stack, 300, 2000, "a");
  REQUIRE(load->wait(30s) == 0);
  const auto sent = sent_spans(stack, "a");
  // Retries give up after 300 ms and the batches go to disk.
  REQUIRE(testing::eventually(
      [&] {
        const auto text = testing::read_file(stack.dir.file("agent.err"));
        return spooled_files(spool.file("spool")) > 0;
      },
      20s));
  std::this_thread::sleep_for(1s);
  stack.agent->signal(SIGKILL);
  stack.agent->wait(10s);

  stack.restart_sink("b");
  stack.agent = std::make_unique<ChildProcess>(
      std::vector<std::string>{TAILGATE_AGENT_BIN, "--config", stack.config_path()},
      stack.dir.file("agent2.out"), stack.dir.file("agent2.err"));
  CHECK(testing::eventually([&] { return arrived(stack).first.size() == sent; }, 30s, 50ms));
  CHECK_THAT(testing::read_file(stack.dir.file("agent2.err")),
             Catch::Matchers::Contains("event=spool_found"));
}

TEST_CASE("a spool that refuses batches (full) leaves them waiting in memory, not dropped",
          "[integration]") {
  // The spool holds almost nothing; the backend is down for 2 s, well inside max_retry_time.
  // What the spool cannot take waits and is retried from memory (it was all dropped within 1 s,
  // counted spool_full, though the backend came back).
  testing::TempDir spool;
  testing::AgentStack stack(
      kKeepAll,
      exporter_yaml(spool.file("spool"), "  spool_max_bytes: 16KiB\n  max_retry_time: 60s\n"));
  stack.stop_sink();
  auto load = start_load(stack, 500, 1000, "a");
  REQUIRE(load->wait(30s) == 0);
  std::this_thread::sleep_for(1500ms);
  stack.restart_sink("b");
  const auto sent = sent_spans(stack, "a");
  CHECK(testing::eventually([&] { return arrived(stack).first.size() == sent; }, 30s, 50ms));
  const auto log = stack.stop_agent();
  INFO(log);
  CHECK(testing::log_fields(log, "shutdown_complete").at("dropped") == "0");
}

TEST_CASE("past the spool bound the overflow is dropped and counted, and the disk stays bounded",
          "[integration]") {
  testing::TempDir spool;
  testing::AgentStack stack(kKeepAll,
                            exporter_yaml(spool.file("spool"),
                                          "  spool_max_bytes: 64KiB\n  max_retry_time: 200ms\n"
                                          "  shutdown_grace: 300ms\n"));
  stack.stop_sink();
  auto load = start_load(stack, 2000, 4000, "a");
  REQUIRE(load->wait(30s) == 0);
  std::this_thread::sleep_for(1s);
  const auto log = stack.stop_agent();
  INFO(log);
  const auto stats = testing::log_fields(log, "shutdown_complete");
  CHECK(std::stoul(stats.at("dropped_spool_full")) > 0);
  CHECK(std::stoul(stats.at("received")) ==
        std::stoul(stats.at("exported")) + std::stoul(stats.at("sampled_out")) +
            std::stoul(stats.at("dropped")) + std::stoul(stats.at("spooled")));
  std::uintmax_t bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(spool.file("spool")))
    bytes += e.file_size();
  CHECK(bytes <= 64 * 1024);
}
