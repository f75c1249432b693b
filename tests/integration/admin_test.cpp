// The admin endpoints of the real agent, with the real sink behind it.
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/agent_stack.hpp"
#include "support/http_client.hpp"

using namespace tailgate;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

void run_load(int udp_port, std::uint64_t traces, const std::string& dir) {
  testing::ChildProcess load(
      {TAILGATE_LOAD_BIN, "--target", "127.0.0.1:" + std::to_string(udp_port), "--traces",
       std::to_string(traces), "--rate", "5000", "--seed", "5"},
      dir + "/load.out", dir + "/load.err");
  REQUIRE(load.wait(60s) == 0);
}

/// Sum of a metric family's samples whose line starts with `prefix`.
double metric(const std::string& text, const std::string& prefix) {
  double total = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0 && (line[prefix.size()] == ' ' || line[prefix.size()] == '{')) {
      total += std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return total;
}

}  // namespace

TEST_CASE("/metrics passes promtool and its counters add up after a run", "[integration]") {
  testing::AgentStack stack("sampling:\n  decision_wait: 200ms\n");
  run_load(stack.udp_port, 2000, stack.dir.file(""));
  // Wait (bounded) until every trace is decided and every kept span delivered.
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    text = testing::http_get(stack.admin_port, "/metrics").body;
    const auto received = metric(text, "tailgate_spans_received_total");
    if (received == 8000 && metric(text, "tailgate_buffered_spans") == 0 &&
        metric(text, "tailgate_spans_exported_total") ==
            metric(text, "tailgate_spans_kept_total")) {
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  INFO(text);
  CHECK(metric(text, "tailgate_spans_received_total") == 8000);
  CHECK(metric(text, "tailgate_spans_received_total") ==
        metric(text, "tailgate_spans_exported_total") +
            metric(text, "tailgate_spans_sampled_out_total") +
            metric(text, "tailgate_spans_dropped_total") + metric(text, "tailgate_buffered_spans"));
  CHECK(metric(text, "tailgate_traces_decided_total") == 2000);

  const auto file = stack.dir.file("metrics.txt");
  std::ofstream(file) << text;
  const auto command = "promtool check metrics < '" + file + "' > '" + file + ".out' 2>&1";
  const int rc = std::system(command.c_str());
  INFO(testing::read_file(file + ".out"));
  CHECK(rc == 0);

  const auto drop_rate =
      nlohmann::json::parse(testing::http_get(stack.admin_port, "/drop-rate").body);
  CHECK(drop_rate["status"] == "ok");
  CHECK(drop_rate["windows"]["since_start"]["received"] == 8000);
  CHECK(drop_rate["windows"]["since_start"]["dropped"] == 0);
  CHECK(testing::http_get(stack.admin_port, "/health").status == 200);
}

TEST_CASE("/ready turns 503 while exports fail and 200 once they succeed again", "[integration]") {
  testing::AgentStack stack(
      "sampling:\n  decision_wait: 100ms\n"
      "  policies: [{name: all, type: base, probability: 1.0}]\n",
      "  initial_backoff: 50ms\n  max_backoff: 200ms\n");
  CHECK(testing::http_get(stack.admin_port, "/ready").status == 200);
  // Stop the sink: exports fail for good until it is back on the same port.
  stack.sink->signal(SIGKILL);
  stack.sink->wait(10s);
  run_load(stack.udp_port, 50, stack.dir.file(""));
  testing::HttpResult ready;
  for (int i = 0; i < 200; ++i) {
    ready = testing::http_get(stack.admin_port, "/ready");
    if (ready.status == 503) break;
    std::this_thread::sleep_for(50ms);
  }
  CHECK(ready.status == 503);
  CHECK_THAT(ready.body, Contains("export_failing"));

  stack.sink = std::make_unique<testing::ChildProcess>(
      std::vector<std::string>{TAILGATE_SINK_BIN, "--listen",
                               "127.0.0.1:" + std::to_string(stack.sink_port), "--jsonl",
                               stack.dir.file("spans2.jsonl")},
      stack.dir.file("sink2.out"), stack.dir.file("sink2.err"));
  for (int i = 0; i < 200; ++i) {
    ready = testing::http_get(stack.admin_port, "/ready");
    if (ready.status == 200) break;
    std::this_thread::sleep_for(50ms);
  }
  CHECK(ready.status == 200);
  // Nothing was lost across the outage: every span arrived at the new sink.
  CHECK_THAT(testing::wait_for_text(stack.dir.file("sink2.err"), "serving", 5s),
             Contains("serving"));
  const auto log = stack.stop_agent();
  const auto stats = testing::log_fields(log, "shutdown_complete");
  CHECK(stats.at("exported") == "200");
  CHECK(stats.at("dropped") == "0");
}
