// Export durability through real processes (issue #24): the agent with its default spool (no
// spool_directory: <state directory>/spool), a real OTLP sink stopped and started, SIGTERM and
// SIGKILL, and a restart on the same directories. Small retry timings keep each test to seconds.
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "support/agent_stack.hpp"
#include "support/eventually.hpp"
#include "support/http_client.hpp"
#include "support/metrics_text.hpp"
#include "support/sink_spans.hpp"

using namespace tailgate;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using testing::ChildProcess;

namespace {

const std::string kKeepAll =
    "sampling:\n  decision_wait: 100ms\n"
    "  policies: [{name: all, type: base, probability: 1.0}]\n";
// No spool_directory: the shipped default. Retries within 50-200 ms.
const std::string kExporter = "  initial_backoff: 50ms\n  max_backoff: 200ms\n";

/// Sends `traces` traces of 4 spans from `service` and waits for the sender to finish; returns
/// the spans sent.
std::size_t send(const testing::AgentStack& stack, int traces, const std::string& service) {
  ChildProcess load(
      {TAILGATE_LOAD_BIN, "--target", "127.0.0.1:" + std::to_string(stack.udp_port), "--traces",
       std::to_string(traces), "--rate", "4000", "--spans-per-trace", "4", "--service", service,
       "--seed", std::to_string(std::hash<std::string>{}(service))},
      stack.dir.file("load-" + service + ".out"), stack.dir.file("load-" + service + ".err"));
  REQUIRE(load.wait(30s) == 0);
  return nlohmann::json::parse(
      testing::read_file(stack.dir.file("load-" + service + ".out")))["spans_sent"];
}

/// Sets `name` (and unsets XDG_STATE_HOME) for the agents this test starts; restores both.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) {
    for (const char* n : {name, "XDG_STATE_HOME"}) {
      const char* old = std::getenv(n);
      saved_.emplace_back(n, old != nullptr ? std::optional<std::string>(old) : std::nullopt);
    }
    ::setenv(name, value.c_str(), 1);
    ::unsetenv("XDG_STATE_HOME");
  }
  ~ScopedEnv() {
    for (const auto& [n, v] : saved_) {
      if (v)
        ::setenv(n.c_str(), v->c_str(), 1);
      else
        ::unsetenv(n.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

struct Arrival {
  std::string span_id;
  std::string service;
  std::uint64_t arrived_ns = 0;
};

/// Every span every sink of the stack wrote, in the order each sink received them.
std::vector<Arrival> arrivals(const testing::AgentStack& stack) {
  std::vector<Arrival> out;
  for (const auto& j : testing::sink_spans_under(stack.dir.file("")))
    out.push_back({j["span_id"], j["resource"].value("service.name", ""), j["arrived_unix_ns"]});
  return out;
}

std::size_t distinct_spans(const testing::AgentStack& stack) {
  std::set<std::string> ids;
  for (const auto& a : arrivals(stack)) ids.insert(a.span_id);
  return ids.size();
}

double metric(const testing::AgentStack& stack, const std::string& name) {
  return testing::metric_value(testing::http_get(stack.admin_port, "/metrics").body, name);
}

/// Waits until every span received is on disk in the spool (decided, batched, written).
void wait_all_spooled(const testing::AgentStack& stack) {
  REQUIRE(testing::eventually(
      [&] {
        const auto text = testing::http_get(stack.admin_port, "/metrics").body;
        const auto received = testing::metric_value(text, "tailgate_spans_received_total");
        return received > 0 && testing::metric_value(text, "tailgate_spool_spans") == received;
      },
      10s, 50ms));
}

}  // namespace

TEST_CASE("the spool drains with no new traffic once the backend is back, and /ready is ok",
          "[integration][durability]") {
  testing::AgentStack stack(kKeepAll, kExporter);
  stack.stop_sink();
  const auto sent = send(stack, 300, "before");
  wait_all_spooled(stack);

  stack.restart_sink("b");  // nothing new is sent from here on
  CHECK(testing::eventually([&] { return distinct_spans(stack) == sent; }, 10s, 50ms));
  CHECK(testing::eventually([&] { return metric(stack, "tailgate_spool_spans") == 0; }, 5s));
  const auto ready = nlohmann::json::parse(testing::http_get(stack.admin_port, "/ready").body);
  INFO(ready.dump());
  CHECK(ready["status"] == "ready");
  CHECK(ready["warnings"].empty());
  CHECK_THAT(stack.agent_log(), Contains("event=export_recovered"));
}

TEST_CASE("SIGTERM with the backend down under the default config, then a restart, delivers all",
          "[integration][durability]") {
  // A plain run: no systemd STATE_DIRECTORY, the per-user state directory under $HOME.
  testing::TempDir home;
  testing::AgentStack stack(kKeepAll, kExporter);
  const ScopedEnv plain_run("HOME", home.file("h"));
  ::unsetenv("STATE_DIRECTORY");
  stack.kill_agent();
  stack.restart_agent();
  const auto spool = home.file("h/.local/state/tailgate/spool");
  CHECK_THAT(stack.agent_log(), Contains("event=spool_directory directory=" + spool));

  stack.stop_sink();
  const auto sent = send(stack, 500, "before");
  std::this_thread::sleep_for(300ms);  // every trace decided
  const auto first = stack.stop_agent();
  INFO(first);
  CHECK(testing::log_fields(first, "shutdown_complete").at("dropped") == "0");

  stack.restart_sink("b");
  stack.restart_agent();
  CHECK(testing::eventually([&] { return distinct_spans(stack) == sent; }, 10s, 50ms));
  CHECK(metric(stack, "tailgate_spans_lost_in_crash_total") == 0);
}

TEST_CASE("kill -9 with the backend down loses no batch that reached the exporter",
          "[integration][durability]") {
  testing::AgentStack stack(kKeepAll, kExporter + "  max_retry_time: 60s\n");
  stack.stop_sink();
  const auto sent = send(stack, 400, "before");
  // Every kept span is on disk, although each batch failed once and has minutes of retries left.
  wait_all_spooled(stack);
  const auto state = stack.state_directory() + "/tailgate.state";
  REQUIRE(testing::eventually(
      [&] {
        return testing::read_file(state).find("\nspooled=" + std::to_string(sent) + "\n") !=
               std::string::npos;
      },
      5s, 50ms));
  // At a random point of the probing that follows.
  std::this_thread::sleep_for(std::chrono::milliseconds(std::random_device{}() % 700));
  stack.kill_agent();

  stack.restart_sink("b");
  stack.restart_agent();
  CHECK(testing::eventually([&] { return distinct_spans(stack) == sent; }, 10s, 50ms));
  CHECK(metric(stack, "tailgate_spans_lost_in_crash_total") == 0);
  CHECK(metric(stack, "tailgate_unclean_stops_total") == 1);
}

TEST_CASE("kill -9 in mid-run with the backend down: what was spooled arrives, the rest is lost",
          "[integration][durability]") {
  testing::AgentStack stack(kKeepAll, kExporter + "  max_retry_time: 60s\n");
  stack.stop_sink();
  ChildProcess load({TAILGATE_LOAD_BIN, "--target", "127.0.0.1:" + std::to_string(stack.udp_port),
                     "--traces", "4000", "--rate", "2000", "--spans-per-trace", "4", "--seed", "3"},
                    stack.dir.file("load.out"), stack.dir.file("load.err"));
  std::this_thread::sleep_for(1200ms + std::chrono::milliseconds(std::random_device{}() % 800));
  stack.kill_agent();
  load.signal(SIGTERM);
  load.wait(10s);
  // What the killed run last wrote: received, and how many of those were on disk.
  const auto text = testing::read_file(stack.state_directory() + "/tailgate.state");
  const auto field = [&](const std::string& key) {
    const auto at = text.find("\n" + key + "=");
    REQUIRE(at != std::string::npos);
    return std::stoull(text.substr(at + key.size() + 2));
  };
  const auto received = field("received");
  const auto spooled = field("spooled");
  INFO("received " << received << " spooled " << spooled);
  REQUIRE(spooled > 0);

  stack.restart_sink("b");
  stack.restart_agent();
  const auto lost = testing::log_fields(stack.agent_log(), "unclean_stop_detected");
  REQUIRE(lost.contains("lost_spans"));
  CHECK(std::stoull(lost.at("lost_spans")) ==
        received - spooled - field("exported") - field("dropped"));
  // Every span on disk at the last write arrives (more may: those spooled after it).
  CHECK(testing::eventually([&] { return distinct_spans(stack) >= spooled; }, 10s, 50ms));
  CHECK(testing::eventually([&] { return metric(stack, "tailgate_spool_spans") == 0; }, 10s));
  CHECK(distinct_spans(stack) + std::stoull(lost.at("lost_spans")) >= received);
}

TEST_CASE("while the spool drains, the backend gets it oldest first and live batches after it",
          "[integration][durability]") {
  // One request on the wire at a time: no overtaking, so the order is exact.
  testing::AgentStack stack(kKeepAll, kExporter + "  max_inflight_requests: 1\n");
  stack.stop_sink();
  const auto spooled = send(stack, 600, "before");
  wait_all_spooled(stack);

  stack.restart_sink("b");
  const auto live = send(stack, 300, "after");  // live traffic while the spool drains
  REQUIRE(testing::eventually([&] { return distinct_spans(stack) == spooled + live; }, 15s, 50ms));
  std::uint64_t last_before = 0, first_after = UINT64_MAX, steps_back = 0, previous = 0;
  for (const auto& a : arrivals(stack)) {
    if (a.service == "before") last_before = std::max(last_before, a.arrived_ns);
    if (a.service == "after") first_after = std::min(first_after, a.arrived_ns);
    steps_back += a.arrived_ns < previous;
    previous = a.arrived_ns;
  }
  CHECK(last_before < first_after);  // every spooled span before any live one
  CHECK(steps_back == 0);
}

TEST_CASE("with no usable default directory the agent warns, counts it, and runs without a spool",
          "[integration][durability]") {
  testing::AgentStack stack(kKeepAll);
  const ScopedEnv no_home("HOME", "/dev/null");  // not a directory: nothing can be made under it
  ::setenv("STATE_DIRECTORY", "/dev/null/state", 1);
  stack.kill_agent();
  stack.restart_agent();
  const auto log = stack.agent_log();
  CHECK_THAT(log, Contains("event=state_location_unusable directory=/dev/null/state"));
  CHECK_THAT(log, Contains("event=spool_off reason=no_usable_directory"));
  CHECK_THAT(log, Contains("event=crash_accounting_off"));
  CHECK(metric(stack, "tailgate_spool_location_fallbacks_total") >= 2);
}

TEST_CASE("spool_directory: off turns the spool off, said at start-up",
          "[integration][durability]") {
  testing::AgentStack stack(kKeepAll, "  spool_directory: \"off\"\n");
  CHECK_THAT(stack.agent_log(), Contains("event=spool_off reason=configured"));
  CHECK_FALSE(std::filesystem::exists(stack.state_directory() + "/spool"));
  CHECK(std::filesystem::exists(stack.state_directory() + "/tailgate.state"));
}
