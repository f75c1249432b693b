// What start-up refuses, and so --validate: an unset exporter and one that loops to ourselves.
#include "config/startup_checks.hpp"

#include <cstdlib>

#include <catch2/catch.hpp>

#include "config/load_config.hpp"

using namespace tailgate::config;
using Catch::Matchers::Contains;

TEST_CASE("the drop-in receivers are on at the ports clients send to by default", "[config]") {
  const auto c = load_defaults();
  const auto& r = c.receivers;
  CHECK((r.jaeger_compact.enabled && r.jaeger_compact.endpoint == "127.0.0.1:6831"));
  CHECK((r.jaeger_binary.enabled && r.jaeger_binary.endpoint == "127.0.0.1:6832"));
  CHECK((r.otlp_grpc.enabled && r.otlp_grpc.endpoint == "127.0.0.1:4317"));
  CHECK((r.otlp_http.enabled && r.otlp_http.endpoint == "127.0.0.1:4318"));
  CHECK((r.jaeger_sampling.enabled && r.jaeger_sampling.endpoint == "127.0.0.1:5778"));
  CHECK(c.exporter.endpoint.empty());  // no default that would reach our own 4317
  const auto off = load_config_text(
      "receivers: {jaeger_sampling: {enabled: false, endpoint: \"[::1]:15778\"}}\n", "t.yaml");
  CHECK_FALSE(off.receivers.jaeger_sampling.enabled);
  CHECK(off.receivers.jaeger_sampling.endpoint == "[::1]:15778");
  CHECK_THROWS_WITH(load_config_text("receivers: {jaeger_sampling: {endpoint: x}}\n", "t.yaml"),
                    Contains("t.yaml:1: receivers.jaeger_sampling.endpoint"));
}

TEST_CASE("start-up refuses an unset exporter endpoint, saying where to set it", "[config]") {
  const auto c = load_defaults();
  CHECK_THROWS_WITH(check_startup(c, "built-in defaults"),
                    Contains("built-in defaults: exporter.endpoint: not set") &&
                        Contains("OTEL_EXPORTER_OTLP_ENDPOINT"));
  CHECK_THROWS_WITH(load_for_start(""), Contains("exporter.endpoint: not set"));
  // `tailgate explain` loads the same file without the start-up checks: it needs no exporter.
  CHECK_NOTHROW(load_config_text("admin: {enabled: true}\n", "t.yaml"));
}

TEST_CASE("start-up refuses an exporter that reaches the agent's own OTLP/gRPC receiver",
          "[config]") {
  const auto loops = [](const std::string& exporter, const std::string& receiver) {
    const auto c =
        load_config_text("exporter: {endpoint: \"" + exporter +
                             "\"}\nreceivers: {otlp_grpc: " + "{endpoint: \"" + receiver + "\"}}\n",
                         "t.yaml");
    try {
      check_startup(c, "t.yaml");
      return false;
    } catch (const ConfigError& e) {
      CHECK_THAT(e.what(),
                 Contains("t.yaml: exporter.endpoint") && Contains("receivers.otlp_grpc.endpoint"));
      return true;
    }
  };
  CHECK(loops("localhost:4317", "127.0.0.1:4317"));  // the old defaults together
  CHECK(loops("http://127.0.0.1:4317", "127.0.0.1:4317"));
  CHECK(loops("127.0.0.1:4317", "0.0.0.0:4317"));
  // A wildcard or an IPv4-mapped address as the destination is this host too (an attacker's
  // forms; both looped spans back 24 and 60 times in 5 s).
  CHECK(loops("0.0.0.0:4317", "127.0.0.1:4317"));
  CHECK(loops("http://[::ffff:127.0.0.1]:4317", "127.0.0.1:4317"));
  CHECK_FALSE(loops("127.0.0.1:14317", "127.0.0.1:4317"));
  CHECK_FALSE(loops("jaeger-collector.invalid:4317", "127.0.0.1:4317"));  // not this host
  CHECK_NOTHROW(check_startup(load_config_text("exporter: {endpoint: \"localhost:4317\"}\n"
                                               "receivers: {otlp_grpc: {enabled: false}}\n",
                                               "t.yaml"),
                              "t.yaml"));
}

TEST_CASE("the environment's endpoint is checked against the receiver too", "[config]") {
  struct Unset {
    ~Unset() { ::unsetenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); }
  } unset;
  ::setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://localhost:4317", 1);
  CHECK_THROWS_WITH(load_for_start(""), Contains("built-in defaults: exporter.endpoint"));
  ::setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:14317", 1);
  CHECK(load_for_start("").exporter.endpoint == "127.0.0.1:14317");
}

TEST_CASE("OTEL_EXPORTER_OTLP_PROTOCOL other than grpc is refused, naming it", "[config]") {
  struct Unset {
    ~Unset() { ::unsetenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"); }
  } unset;
  ::setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc", 1);
  CHECK_NOTHROW(load_defaults());
  ::setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf", 1);
  CHECK_THROWS_WITH(load_defaults(), Contains("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") &&
                                         Contains("\"http/protobuf\""));
}

TEST_CASE("start-up refuses exporter headers gRPC would abort on, naming them", "[config]") {
  const auto refused = [](const std::string& headers) {
    const auto c = load_config_text(
        "exporter: {endpoint: \"jaeger.invalid:4317\", headers: {" + headers + "}}\n", "t.yaml");
    try {
      check_startup(c, "t.yaml");
      return std::string();
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
  };
  CHECK_THAT(refused("x: \"a\\nb\""), Contains("t.yaml: exporter.headers") && Contains("\"x\""));
  CHECK_THAT(refused("\"X-Bad Key\": \"1\""), Contains("header name"));
  CHECK_THAT(refused("grpc-timeout: \"1S\""), Contains("grpc-"));
  CHECK(refused("authorization: \"Bearer abc\", x-scope_orgid.1: \"t-1\"").empty());
  CHECK(refused("Authorization: \"Bearer abc\"").empty());  // names are case-insensitive
  // From the environment, percent-decoded: %0A is a newline.
  struct Unset {
    ~Unset() {
      ::unsetenv("OTEL_EXPORTER_OTLP_HEADERS");
      ::unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
    }
  } unset;
  ::setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "jaeger.invalid:4317", 1);
  ::setenv("OTEL_EXPORTER_OTLP_HEADERS", "x=%0Aevil", 1);
  CHECK_THROWS_WITH(load_for_start(""), Contains("exporter.headers"));
}
