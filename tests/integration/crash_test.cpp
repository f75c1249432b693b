// Crash accounting through the real agent: spans held in memory (decision_wait far away), the
// agent killed with SIGKILL or stopped with SIGTERM, and started again on the same directory.
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>

#include "support/agent_stack.hpp"
#include "support/eventually.hpp"
#include "support/http_client.hpp"
#include "support/metrics_text.hpp"

using namespace tailgate;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

// Nothing is decided for a minute: every span received stays in memory.
const std::string kHold =
    "sampling:\n  decision_wait: 60s\n  max_trace_age: 60s\n"
    "  policies: [{name: all, type: base, probability: 1.0}]\n";

std::string metrics(const testing::AgentStack& stack) {
  return testing::http_get(stack.admin_port, "/metrics").body;
}

/// Sends traces of 4 spans that no policy keeps early (no errors, nothing slow); returns the
/// spans the agent received, once they are all buffered.
double send_and_buffer(const testing::AgentStack& stack, int traces) {
  testing::ChildProcess load(
      {TAILGATE_LOAD_BIN, "--target", "127.0.0.1:" + std::to_string(stack.udp_port), "--traces",
       std::to_string(traces), "--rate", "5000", "--spans-per-trace", "4", "--error-fraction", "0",
       "--slow-fraction", "0", "--critical-fraction", "0", "--seed", "9"},
      stack.dir.file("load.out"), stack.dir.file("load.err"));
  REQUIRE(load.wait(30s) == 0);
  // Settled: all buffered, and the count the same on two reads apart (datagrams the load sent
  // may still be on their way from the kernel's buffer when the first read sees all buffered).
  double received = 0;
  REQUIRE(testing::eventually(
      [&] {
        const auto text = metrics(stack);
        const auto previous = received;
        received = testing::metric_value(text, "tailgate_spans_received_total");
        return received > 0 && received == previous &&
               testing::metric_value(text, "tailgate_buffered_spans") == received;
      },
      10s, 200ms));
  return received;
}

}  // namespace

TEST_CASE("after kill -9 the next start counts and logs the spans that died in memory",
          "[integration][crash]") {
  testing::TempDir state;
  testing::AgentStack stack(kHold + "state:\n  directory: " + state.file("state") + "\n");
  const auto received = send_and_buffer(stack, 500);
  CHECK(testing::metric_value(metrics(stack), "tailgate_spans_exported_total") == 0);
  // The state file is written every second; wait until a write has seen every span.
  const auto counted = "\nreceived=" + std::to_string(static_cast<long>(received)) + "\n";
  REQUIRE(testing::eventually(
      [&] {
        return testing::read_file(state.file("state/tailgate.state")).find(counted) !=
               std::string::npos;
      },
      5s, 50ms));
  stack.kill_agent();

  stack.restart_agent();
  const auto text = metrics(stack);
  CHECK(testing::metric_value(text, "tailgate_spans_lost_in_crash_total") == received);
  CHECK(testing::metric_value(text, "tailgate_unclean_stops_total") == 1);
  CHECK(testing::metric_value(text, "tailgate_spans_received_total") ==
        0);  // this run's identity is its own
  const auto fields = testing::log_fields(stack.agent_log(), "unclean_stop_detected");
  REQUIRE(fields.contains("lost_spans"));
  CHECK(fields.at("lost_spans") == std::to_string(static_cast<long>(received)));
  CHECK(fields.contains("since"));

  // The restarted run stops cleanly: the start after it reports no loss.
  stack.stop_agent();
  stack.restart_agent();
  CHECK(testing::metric_value(metrics(stack), "tailgate_spans_lost_in_crash_total") == 0);
  CHECK_THAT(stack.agent_log(), !Contains("event=unclean_stop_detected"));
}

TEST_CASE("a SIGTERM stop delivers what it held and the next start reports no crash loss",
          "[integration][crash]") {
  testing::TempDir spool;  // no state.directory: the state file lives with the spool
  testing::AgentStack stack(kHold, "  spool_directory: " + spool.file("spool") + "\n");
  const auto received = send_and_buffer(stack, 300);
  const auto log = stack.stop_agent();
  // Delivered, or (an export that failed on a loaded machine) spooled for the next start.
  const auto stats = testing::log_fields(log, "shutdown_complete");
  CHECK(std::stol(stats.at("exported")) + std::stol(stats.at("spooled")) ==
        static_cast<long>(received));
  CHECK_THAT(testing::read_file(spool.file("spool/tailgate.state")), Contains("\nclean=1\n"));

  stack.restart_agent();
  const auto text = metrics(stack);
  CHECK(testing::metric_value(text, "tailgate_spans_lost_in_crash_total") == 0);
  CHECK(testing::metric_value(text, "tailgate_unclean_stops_total") == 0);
  CHECK_THAT(stack.agent_log(), !Contains("event=unclean_stop_detected"));
}

TEST_CASE("with neither a state nor a spool directory the state file goes to the default",
          "[integration][crash]") {
  testing::AgentStack stack(kHold);  // STATE_DIRECTORY: the stack's own directory
  CHECK_THAT(stack.agent_log(), !Contains("event=crash_accounting_off"));
  CHECK_THAT(testing::read_file(stack.state_directory() + "/tailgate.state"),
             Contains("\nclean=0\n"));
}
