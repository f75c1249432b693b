// The real agent process's OTLP/gRPC receiver against a real gRPC client (the generated stub, as
// an OpenTelemetry SDK uses it): gzip requests, a gzip bomb, and the bound on requests decoded
// at once. Each measured on the agent's /metrics and its own peak memory (VmHWM).
#include <atomic>
#include <regex>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "support/agent_stack.hpp"
#include "support/eventually.hpp"
#include "support/http_client.hpp"
#include "support/otlp_grpc_client.hpp"

using namespace tailgate;
using namespace std::chrono_literals;

namespace {

const std::string kKeepEverything =
    "sampling:\n  decision_wait: 100ms\n"
    "  policies: [{name: everything, type: base, probability: 1.0}]\n";

std::string otlp_grpc_yaml(const std::string& more = "") {
  return "  otlp_grpc:\n    enabled: true\n    endpoint: 127.0.0.1:0\n" + more;
}

int otlp_grpc_port(const testing::AgentStack& stack) {
  return testing::port_after(stack.agent_log(), "receiver=otlp_grpc endpoint=127.0.0.1:");
}

// A sample of the agent's /metrics, by its full name with labels.
std::uint64_t metric(const testing::AgentStack& stack, const std::string& sample) {
  const auto text = testing::http_get(stack.admin_port, "/metrics").body;
  const auto at = text.find("\n" + sample + " ");
  if (at == std::string::npos) return 0;
  return std::stoull(text.substr(at + sample.size() + 2));
}

}  // namespace

TEST_CASE("OTLP/gRPC: gzip and plain requests arrive, a gzip bomb is refused before it inflates",
          "[integration][otlp_grpc]") {
  testing::AgentStack stack(kKeepEverything, "", otlp_grpc_yaml("    max_request_bytes: 1MiB\n"));
  const int port = otlp_grpc_port(stack);
  REQUIRE(port > 0);
  auto stub = testing::otlp_stub(port);

  // What SDKs send with OTEL_EXPORTER_OTLP_COMPRESSION=gzip, and without it.
  REQUIRE(testing::otlp_export(*stub, testing::otlp_spans(1, 2, 3, 4, true), true).ok());
  REQUIRE(testing::otlp_export(*stub, testing::otlp_spans(101, 1, 3, 4, true), false).ok());
  REQUIRE(testing::eventually([&] { return stack.sink_spans().size() == 9; }, 20s));
  const auto before = stack.agent_peak_rss();

  // 64 MiB of one attribute value: about 64 KiB once gzipped, well under max_request_bytes.
  constexpr std::size_t kInflated = 64u << 20;
  grpc::Status status;
  {
    auto bomb = testing::otlp_spans(201, 1, 1, 0, true);
    auto* kv =
        bomb.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(0)->add_attributes();
    kv->set_key("payload");
    kv->mutable_value()->set_string_value(std::string(kInflated, 'a'));
    status = testing::otlp_export(*stub, bomb, true);
  }
  const auto grew = stack.agent_peak_rss() - before;
  INFO("agent VmHWM before " << before << " B, grew " << grew << " B");
  CHECK(status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  // gRPC inflated the whole request before its size check (RSS grew by more than kInflated);
  // inflated under the limit, it costs about max_request_bytes.
  CHECK(grew < kInflated / 4);
  CHECK(metric(stack,
               R"(tailgate_requests_rejected_total{receiver="otlp_grpc",reason="too_large"})") ==
        1);

  // Nothing else lost: the next gzip request arrives.
  REQUIRE(testing::otlp_export(*stub, testing::otlp_spans(301, 1, 2, 4, true), true).ok());
  REQUIRE(testing::eventually([&] { return stack.sink_spans().size() == 11; }, 20s));
  stack.stop_agent();
}

TEST_CASE("OTLP/gRPC: past max_inflight_requests a request is told to retry, and counted",
          "[integration][otlp_grpc]") {
  testing::AgentStack stack(kKeepEverything, "", otlp_grpc_yaml("    max_inflight_requests: 1\n"));
  const int port = otlp_grpc_port(stack);
  REQUIRE(port > 0);
  // Separate connections sending large requests at once, as separate SDK processes would; until
  // one is refused, at most 20 rounds or 60 s.
  constexpr int kClients = 4;
  constexpr int kSpans = 1000;
  const auto request = testing::otlp_spans(1, 100, kSpans / 100, 20, true);
  std::atomic<int> ok{0}, refused{0}, other{0};
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  for (int round = 0; round < 20 && refused == 0 && std::chrono::steady_clock::now() < deadline;
       ++round) {
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&] {
        auto stub = testing::otlp_stub(port);
        const auto status = testing::otlp_export(*stub, request, false);
        if (status.ok()) {
          ++ok;
        } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
                   status.error_message().find("max_inflight_requests") != std::string::npos &&
                   !status.error_details().empty()) {
          ++refused;  // with a RetryInfo: the SDK comes back later
        } else {
          ++other;
        }
      });
    }
    for (auto& t : clients) t.join();
  }
  INFO("ok " << ok << " refused " << refused << " other " << other);
  CHECK(other == 0);
  CHECK(refused > 0);
  CHECK(metric(stack, "tailgate_otlp_requests_throttled_total") ==
        static_cast<std::uint64_t>(refused));
  // A refused request took nothing: only the accepted ones' spans were received.
  CHECK(metric(stack, R"(tailgate_spans_received_total{receiver="otlp_grpc"})") ==
        static_cast<std::uint64_t>(ok) * kSpans);
  stack.stop_agent();
}

