// The admin endpoints of the real agent, with the real sink behind it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/agent_stack.hpp"
#include "support/http_client.hpp"
#include "support/metrics_text.hpp"

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

}  // namespace

TEST_CASE("/metrics passes promtool and its counters add up after a run", "[integration]") {
  testing::AgentStack stack("sampling:\n  decision_wait: 200ms\n");
  // Through the ring, not UDP: the counts below are exact, and loopback UDP may lose datagrams
  // when the suite runs in parallel (a loss the agent cannot see, so it cannot count it).
  testing::ChildProcess load({TAILGATE_LOAD_BIN, "--ring-directory", stack.ring_directory(),
                              "--traces", "2000", "--rate", "5000", "--seed", "5"},
                             stack.dir.file("load.out"), stack.dir.file("load.err"));
  REQUIRE(load.wait(60s) == 0);
  // Wait (bounded) until every trace is decided and every kept span delivered.
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    text = testing::http_get(stack.admin_port, "/metrics").body;
    const auto received = testing::metric_value(text, "tailgate_spans_received_total");
    if (received == 8000 && testing::metric_value(text, "tailgate_buffered_spans") == 0 &&
        testing::metric_value(text, "tailgate_spans_exported_total") ==
            testing::metric_value(text, "tailgate_spans_kept_total")) {
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  INFO(text);
  CHECK(testing::metric_value(text, "tailgate_spans_received_total") == 8000);
  CHECK(testing::metric_value(text, "tailgate_spans_received_total") ==
        testing::metric_value(text, "tailgate_spans_exported_total") +
            testing::metric_value(text, "tailgate_spans_sampled_out_total") +
            testing::metric_value(text, "tailgate_spans_dropped_total") +
            testing::metric_value(text, "tailgate_buffered_spans"));
  CHECK(testing::metric_value(text, "tailgate_traces_decided_total") == 2000);
  // The process metrics of every exporter, and which build this is (#25).
  CHECK(testing::metric_value(text, "process_cpu_seconds_total") > 0);
  CHECK(testing::metric_value(text, "process_resident_memory_bytes") > 1 << 20);
  CHECK(testing::metric_value(text, "process_open_fds") > 3);
  CHECK(testing::metric_value(text, "process_max_fds") > 0);
  CHECK(testing::metric_value(text, "process_start_time_seconds") ==
        Approx(testing::metric_value(text, "tailgate_start_time_seconds")).margin(2));
  CHECK_THAT(text, Contains("tailgate_build_info{version=\"" TAILGATE_VERSION "\","));

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

TEST_CASE("/ready stays 200 through a Jaeger outage and warns, and the warning clears after it",
          "[integration]") {
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
    REQUIRE(ready.status == 200);  // a backend outage never takes the pod out of its Service
    if (ready.body.find("export_failing\"") != std::string::npos) break;
    std::this_thread::sleep_for(50ms);
  }
  CHECK(nlohmann::json::parse(ready.body)["warnings"][0] == "export_failing");
  CHECK_THAT(testing::http_get(stack.admin_port, "/metrics").body,
             !Contains("tailgate_export_failing_seconds 0\n"));

  stack.sink = std::make_unique<testing::ChildProcess>(
      std::vector<std::string>{TAILGATE_SINK_BIN, "--listen",
                               "127.0.0.1:" + std::to_string(stack.sink_port), "--jsonl",
                               stack.dir.file("spans2.jsonl")},
      stack.dir.file("sink2.out"), stack.dir.file("sink2.err"));
  for (int i = 0; i < 200; ++i) {
    ready = testing::http_get(stack.admin_port, "/ready");
    if (nlohmann::json::parse(ready.body)["warnings"].empty()) break;
    std::this_thread::sleep_for(50ms);
  }
  CHECK(ready.status == 200);
  CHECK(nlohmann::json::parse(ready.body)["warnings"].empty());
  // Nothing was lost across the outage: every span arrived at the new sink.
  CHECK_THAT(testing::wait_for_text(stack.dir.file("sink2.err"), "serving", 5s),
             Contains("serving"));
  const auto log = stack.stop_agent();
  const auto stats = testing::log_fields(log, "shutdown_complete");
  CHECK(stats.at("exported") == "200");
  CHECK(stats.at("dropped") == "0");
}

namespace {

/// A port the kernel had free a moment ago, for a server that cannot report the one it got.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// The trace ids of the exemplars in an OpenMetrics exposition.
std::set<std::string> exemplar_trace_ids(const std::string& text) {
  std::set<std::string> ids;
  const std::regex re(R"re(# \{trace_id="([0-9a-f]{32})")re");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
       ++it)
    ids.insert((*it)[1]);
  return ids;
}

}  // namespace

TEST_CASE("span metrics count every span before sampling, with exemplars of kept traces only",
          "[integration]") {
  // Errors kept, the rest sampled out: most spans are counted but never reach the sink.
  testing::AgentStack stack(
      "sampling:\n  decision_wait: 200ms\n  policies:\n"
      "    - {name: error, type: error, probability: 1.0}\n"
      "    - {name: base, type: base, probability: 0.0}\n");
  run_load(stack.udp_port, 2000, stack.dir.file(""));
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    text = testing::http_get(stack.admin_port, "/metrics").body;
    if (testing::metric_value(text, "tailgate_spans_received_total") == 8000 &&
        testing::metric_value(text, "tailgate_buffered_spans") == 0 &&
        testing::metric_value(text, "tailgate_spans_exported_total") ==
            testing::metric_value(text, "tailgate_spans_kept_total")) {
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  const auto kept = stack.sink_spans();
  std::set<std::string> kept_traces;
  double kept_errors = 0;
  for (const auto& s : kept) {
    kept_traces.insert(s["trace_id"].get<std::string>());
    if (s["status"]["code"] == 2) ++kept_errors;
  }
  REQUIRE(!kept.empty());
  REQUIRE(testing::metric_value(text, "tailgate_spans_sampled_out_total") > 4000);

  const auto om =
      testing::http_get(stack.admin_port, "/metrics", "application/openmetrics-text;version=1.0.0");
  CHECK_THAT(om.content_type, Contains("application/openmetrics-text; version=1.0.0"));
  INFO(om.body.substr(0, 4000));
  // Every span once, kept or not; every error span (all kept) once.
  CHECK(testing::metric_value(om.body, "tailgate_span_calls_total") == 8000);
  CHECK(testing::metric_value(om.body, "tailgate_span_duration_seconds_count") == 8000);
  CHECK(testing::metric_value(om.body, "tailgate_span_errors_total") == kept_errors);
  const auto exemplars = exemplar_trace_ids(om.body);
  CHECK(!exemplars.empty());
  for (const auto& id : exemplars) {
    INFO(id);
    CHECK(kept_traces.contains(id));
  }

  // A real Prometheus scrapes it (it asks for OpenMetrics) and stores the exemplars.
  const int prometheus_port = free_port();
  const auto config = stack.dir.file("prometheus.yml");
  std::ofstream(config) << "global:\n  scrape_interval: 1s\n"
                        << "scrape_configs:\n  - job_name: tailgate\n    static_configs:\n"
                        << "      - targets: ['127.0.0.1:" << stack.admin_port << "']\n";
  testing::ChildProcess prometheus(
      {"/usr/bin/prometheus", "--config.file=" + config,
       "--storage.tsdb.path=" + stack.dir.file("tsdb"),
       "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port),
       "--enable-feature=exemplar-storage"},
      stack.dir.file("prometheus.out"), stack.dir.file("prometheus.err"));
  nlohmann::json targets, calls, stored;
  const auto scraped_by = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < scraped_by) {
    try {
      targets = nlohmann::json::parse(
          testing::http_get(prometheus_port, "/api/v1/targets").body)["data"]["activeTargets"];
      calls = nlohmann::json::parse(
          testing::http_get(prometheus_port, "/api/v1/query?query=sum(tailgate_span_calls_total)")
              .body)["data"]["result"];
      stored = nlohmann::json::parse(
          testing::http_get(prometheus_port,
                            "/api/v1/query_exemplars?query=tailgate_span_duration_seconds_bucket"
                            "&start=0&end=4102444800")
              .body)["data"];
      if (!targets.empty() && targets[0]["health"] == "up" && !calls.empty() && !stored.empty()) {
        break;
      }
    } catch (const std::exception&) {  // not listening yet
    }
    std::this_thread::sleep_for(250ms);
  }
  INFO(testing::read_file(stack.dir.file("prometheus.err")).substr(0, 3000));
  INFO(targets.dump());
  REQUIRE(!targets.empty());
  CHECK(targets[0]["health"] == "up");
  CHECK(targets[0]["lastError"] == "");
  REQUIRE(!calls.empty());
  CHECK(calls[0]["value"][1] == "8000");
  REQUIRE(!stored.empty());
  std::size_t checked = 0;
  for (const auto& series : stored) {
    for (const auto& e : series["exemplars"]) {
      CHECK(kept_traces.contains(e["labels"]["trace_id"].get<std::string>()));
      ++checked;
    }
  }
  CHECK(checked > 0);
  prometheus.signal(SIGTERM);
  prometheus.wait(20s);
}
