#include "config/load_config.hpp"

#include <cstdlib>

#include <catch2/catch.hpp>

using namespace tailgate::config;
using Catch::Matchers::Contains;

namespace {

// Restores an environment variable when the test ends, pass or fail.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_.empty())
      ::unsetenv(name_);
    else
      ::setenv(name_, old_.c_str(), 1);
  }

 private:
  const char* name_;
  std::string old_;
};

}  // namespace

TEST_CASE("the shipped config/tailgate.yaml equals the built-in defaults", "[config]") {
  CHECK(load_config(TAILGATE_SHIPPED_CONFIG) == Config{});
}

TEST_CASE("an empty file means every default", "[config]") {
  CHECK(load_config_text("", "empty.yaml") == Config{});
}

TEST_CASE("values from the file replace the defaults", "[config]") {
  const auto c = load_config_text(R"(
log: {level: debug}
receivers:
  udp: {enabled: false, endpoint: "[::1]:7000", socket_buffer: 64KiB}
exporter:
  endpoint: jaeger:4317
  insecure: true
  headers: {authorization: "Bearer abc"}
  compression: gzip
  timeout: 1.5s
  max_batch_spans: 100
  max_batch_delay: 50ms
)",
                                  "t.yaml");
  CHECK(c.log.level == LogLevel::Debug);
  CHECK_FALSE(c.receivers.udp.enabled);
  CHECK(c.receivers.udp.endpoint == "[::1]:7000");
  CHECK(c.receivers.udp.socket_buffer_bytes == 64 * 1024);
  CHECK(c.exporter.endpoint == "jaeger:4317");
  CHECK(c.exporter.headers.at("authorization") == "Bearer abc");
  CHECK(c.exporter.compression == Compression::Gzip);
  CHECK(c.exporter.timeout == std::chrono::milliseconds(1500));
  CHECK(c.exporter.max_batch_spans == 100);
  CHECK(c.exporter.max_batch_delay == std::chrono::milliseconds(50));
}

TEST_CASE("each bad file names its key and line", "[config]") {
  struct Case {
    const char* file;
    std::size_t line;
    const char* key;
    const char* says;
  };
  const Case cases[] = {
      {"bad_duration.yaml", 3, "exporter.timeout", "got \"fast\""},
      {"unknown_key.yaml", 4, "receivers.udp.socket_bufer", "unknown key"},
      {"bad_log_level.yaml", 2, "log.level",
       "expected one of trace, debug, info, warn, error, off"},
      {"bad_batch_spans.yaml", 2, "exporter.max_batch_spans", "whole number above 0"},
      {"bad_udp_endpoint.yaml", 3, "receivers.udp.endpoint", "port from 0 to 65535"},
      {"bad_bool.yaml", 2, "exporter.insecure", "expected true or false"},
      {"bad_otlp_request_size.yaml", 4, "receivers.otlp_http.max_request_bytes",
       "from 1KiB to 1GiB"},
      {"bad_jaeger_endpoint.yaml", 4, "receivers.jaeger_compact.endpoint", "port from 0 to 65535"},
      // Past 2^32 the port parse overflowed and read as 0 ("any port").
      {"bad_admin_endpoint_port_overflow.yaml", 2, "admin.endpoint", "port from 0 to 65535"},
      // Port 0 binds any port; as an address to export to it means nothing.
      {"bad_exporter_endpoint_port_zero.yaml", 3, "exporter.endpoint", "port from 1 to 65535"},
      {"wrong_type_section.yaml", 2, "receivers.udp", "expected a mapping"},
      {"not_yaml.yaml", 3, "", "not valid YAML"},
      {"batch_larger_than_queue.yaml", 2, "exporter.max_batch_spans", "must not exceed"},
      {"unset_env.yaml", 4, "exporter.endpoint", "TAILGATE_TEST_UNSET_VARIABLE is not set"},
      {"duplicate_policy_name.yaml", 4, "sampling.policies[1].name",
       "duplicate policy name \"error\""},
      {"bad_probability_above_one.yaml", 6, "sampling.policies[0].probability",
       "[0, 1], got \"1.5\""},
      {"bad_latency_threshold_zero.yaml", 3, "sampling.policies[0].threshold", "duration above 0"},
      {"unknown_policy_type.yaml", 3, "sampling.policies[0].type",
       "expected one of error, latency"},
      {"empty_patterns.yaml", 3, "sampling.policies[0].patterns", "at least one pattern"},
      {"span_metrics_buckets_not_increasing.yaml", 3, "span_metrics.buckets[2]",
       "bounds must increase"},
      {"span_metrics_bad_bucket.yaml", 2, "span_metrics.buckets[1]", "got \"soon\""},
      {"span_metrics_label_taken.yaml", 4, "span_metrics.dimensions[1]",
       "the label span_name, which is taken"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.file) {
      const std::string path = std::string(TAILGATE_CONFIG_TESTDATA) + "/" + c.file;
      try {
        (void)load_config(path);
        FAIL("loaded without error");
      } catch (const ConfigError& e) {
        INFO(e.what());
        CHECK(e.line() == c.line);
        CHECK(e.key() == c.key);
        CHECK_THAT(e.what(), Contains(c.says));
        CHECK_THAT(e.what(), Contains(path + ":" + std::to_string(c.line) + ":"));
      }
    }
  }
}

TEST_CASE("sampling policies are read in order with their settings", "[config]") {
  const auto c = load_config_text(R"(
sampling:
  decision_wait: 500ms
  target_spans_per_second: 1000
  policies:
    - {name: errors, type: error}
    - {name: risk_failed, type: attribute, key: risk.passed, values: ["false"], probability: 1}
    - {name: rest, type: base, probability: 0.05}
)",
                                  "t.yaml");
  CHECK(c.sampling.decision_wait == std::chrono::milliseconds(500));
  CHECK(c.sampling.target_spans_per_second == 1000);
  REQUIRE(c.sampling.policies.size() == 3);
  CHECK(std::get<ErrorPolicyConfig>(c.sampling.policies[0]).name == "errors");
  const auto& risk = std::get<AttributePolicyConfig>(c.sampling.policies[1]);
  CHECK(risk.key == "risk.passed");
  CHECK(risk.values == std::vector<std::string>{"false"});
  CHECK(std::get<BasePolicyConfig>(c.sampling.policies[2]).probability == 0.05);
}

TEST_CASE("a missing file is an error naming the file", "[config]") {
  CHECK_THROWS_WITH(load_config("/nonexistent/tailgate.yaml"),
                    Contains("/nonexistent/tailgate.yaml") && Contains("cannot open"));
}

TEST_CASE("${VAR} and ${VAR:-default} are substituted in values", "[config]") {
  ScopedEnv token("TAILGATE_TEST_TOKEN", "s3cret");
  const auto c = load_config_text(R"(
exporter:
  endpoint: ${TAILGATE_TEST_HOST_UNSET:-collector}:4317
  headers: {authorization: "Bearer ${TAILGATE_TEST_TOKEN}"}
)",
                                  "t.yaml");
  CHECK(c.exporter.endpoint == "collector:4317");
  CHECK(c.exporter.headers.at("authorization") == "Bearer s3cret");
}

TEST_CASE("OpenTelemetry environment variables override the file", "[config]") {
  ScopedEnv endpoint("OTEL_EXPORTER_OTLP_ENDPOINT", "https://jaeger.example:4317/");
  ScopedEnv headers("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer x,tenant=desk-7");
  ScopedEnv compression("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip");
  const auto c =
      load_config_text("exporter: {endpoint: localhost:4317, insecure: true}\n", "t.yaml");
  CHECK(c.exporter.endpoint == "jaeger.example:4317");
  CHECK_FALSE(c.exporter.insecure);
  CHECK(c.exporter.headers.at("authorization") == "Bearer x");
  CHECK(c.exporter.headers.at("tenant") == "desk-7");
  CHECK(c.exporter.compression == Compression::Gzip);
}

TEST_CASE("span metrics settings are read", "[config]") {
  const auto c = load_config_text(R"(
span_metrics:
  dimensions: [order.type, market.type]
  buckets: [100us, 2.5ms, 1s]
  max_series: 200
)",
                                  "t.yaml");
  CHECK(c.span_metrics.dimensions == std::vector<std::string>{"order.type", "market.type"});
  CHECK(c.span_metrics.buckets == std::vector<std::chrono::nanoseconds>{
                                      std::chrono::microseconds(100),
                                      std::chrono::microseconds(2500), std::chrono::seconds(1)});
  CHECK(c.span_metrics.max_series == 200);
  CHECK(metric_label_name("order.type") == "order_type");
  CHECK(metric_label_name("9lives") == "_9lives");
}

TEST_CASE("durations and sizes parse with their units", "[config]") {
  std::chrono::milliseconds d{};
  CHECK((parse_duration("250ms", d) && d.count() == 250));
  CHECK((parse_duration("2s", d) && d.count() == 2000));
  CHECK((parse_duration("1m", d) && d.count() == 60000));
  CHECK_FALSE(parse_duration("5", d));
  CHECK_FALSE(parse_duration("5 s", d));
  CHECK_FALSE(parse_duration("-1s", d));
  std::size_t s = 0;
  CHECK((parse_size("8MiB", s) && s == 8u << 20));
  CHECK((parse_size("4096", s) && s == 4096));
  CHECK((parse_size("1GB", s) && s == 1000000000));
  CHECK_FALSE(parse_size("8 MiB", s));
  CHECK_FALSE(parse_size("99999999999GiB", s));
}

TEST_CASE("the exporter variables apply to the built-in defaults, percent-decoded", "[config]") {
  ScopedEnv endpoint("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://collector.example:4317");
  ScopedEnv headers("OTEL_EXPORTER_OTLP_HEADERS", " Authorization = Bearer%20abc , x-tenant=a%2Cb");
  ScopedEnv timeout("OTEL_EXPORTER_OTLP_TIMEOUT", "2500");
  ScopedEnv ca("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ssl/ca.pem");
  ScopedEnv cert("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "/etc/ssl/me.pem");
  ScopedEnv key("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/etc/ssl/me.key");
  // load_defaults() is what the agent runs without --config: the variables used to be ignored.
  Config c;
  try {
    c = load_defaults();
  } catch (const ConfigError& e) {  // the certificate files do not exist here: named, as in a file
    CHECK_THAT(e.what(), Contains("/etc/ssl/ca.pem"));
  }
  ScopedEnv no_tls("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector.example:4317");
  c = load_defaults();
  CHECK(c.exporter.endpoint == "collector.example:4317");
  CHECK(c.exporter.insecure);
  CHECK(c.exporter.headers.at("authorization") == "Bearer abc");
  CHECK(c.exporter.headers.at("x-tenant") == "a,b");
  CHECK(c.exporter.timeout == std::chrono::milliseconds(2500));
  CHECK(c.exporter.ca_file == "/etc/ssl/ca.pem");
  CHECK(c.exporter.client_cert_file == "/etc/ssl/me.pem");
  CHECK(c.exporter.client_key_file == "/etc/ssl/me.key");
}

TEST_CASE("OTEL_EXPORTER_OTLP_INSECURE applies to an endpoint without a scheme", "[config]") {
  ScopedEnv endpoint("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317");
  {
    ScopedEnv insecure("OTEL_EXPORTER_OTLP_INSECURE", "false");
    CHECK_FALSE(load_config_text("exporter: {insecure: true}\n", "t.yaml").exporter.insecure);
  }
  ScopedEnv insecure("OTEL_EXPORTER_OTLP_INSECURE", "TRUE");
  CHECK(load_config_text("exporter: {insecure: false}\n", "t.yaml").exporter.insecure);
  ScopedEnv bad("OTEL_EXPORTER_OTLP_INSECURE", "yes");
  CHECK_THROWS_WITH(load_defaults(), Contains("OTEL_EXPORTER_OTLP_INSECURE"));
}

TEST_CASE("bad exporter variables are refused, naming the variable", "[config]") {
  {
    ScopedEnv headers("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%2");
    CHECK_THROWS_WITH(load_defaults(), Contains("OTEL_EXPORTER_OTLP_HEADERS"));
  }
  {
    ScopedEnv headers("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "authorization=%zz");
    CHECK_THROWS_WITH(load_defaults(), Contains("OTEL_EXPORTER_OTLP_TRACES_HEADERS"));
  }
  ScopedEnv timeout("OTEL_EXPORTER_OTLP_TIMEOUT", "5s");  // the specification says milliseconds
  CHECK_THROWS_WITH(load_defaults(), Contains("OTEL_EXPORTER_OTLP_TIMEOUT"));
}

TEST_CASE("the file takes the endpoint forms the environment takes", "[config]") {
  auto c = load_config_text("exporter: {endpoint: \"http://jaeger:4317\"}\n", "t.yaml");
  CHECK(c.exporter.endpoint == "jaeger:4317");
  CHECK(c.exporter.insecure);
  c = load_config_text("exporter: {endpoint: \"https://jaeger.example:4317/\"}\n", "t.yaml");
  CHECK(c.exporter.endpoint == "jaeger.example:4317");
  CHECK_FALSE(c.exporter.insecure);
  CHECK_THROWS_WITH(load_config_text("exporter: {endpoint: \"https://jaeger\"}\n", "t.yaml"),
                    Contains("t.yaml:1: exporter.endpoint"));
}

TEST_CASE("duplicate keys are refused with both lines named", "[config]") {
  CHECK_THROWS_WITH(load_config_text("exporter:\n  endpoint: a:4317\n"
                                     "admin:\n  enabled: true\n"
                                     "exporter:\n  endpoint: b:4317\n",
                                     "t.yaml"),
                    Contains("t.yaml:5: exporter: duplicate key (first at line 1)"));
  CHECK_THROWS_WITH(load_config_text("exporter:\n  timeout: 1s\n  timeout: 2s\n", "t.yaml"),
                    Contains("t.yaml:3: exporter.timeout: duplicate key (first at line 2)"));
  CHECK_THROWS_WITH(
      load_config_text("sampling:\n  policies:\n    - {name: a, type: error, name: b}\n", "t.yaml"),
      Contains("sampling.policies[0].name: duplicate key"));
  CHECK_NOTHROW(
      load_config_text("exporter: {headers: {a: x, b: y}}\nadmin: {enabled: true}\n", "t.yaml"));
}

TEST_CASE("admin: the trace lookup window and the Jaeger UI link", "[config]") {
  const auto c = load_config_text(
      "admin: {trace_lookup_entries: 1000, jaeger_ui_url: \"http://jaeger:16686\"}\n", "t.yaml");
  CHECK(c.admin.trace_lookup_entries == 1000);
  CHECK(c.admin.jaeger_ui_url == "http://jaeger:16686");
  CHECK(load_config_text("admin: {enabled: true}\n", "t.yaml").admin.trace_lookup_entries == 65536);
  CHECK_THROWS_WITH(load_config_text("admin: {trace_lookup_entries: 0}\n", "t.yaml"),
                    Contains("admin.trace_lookup_entries"));
  CHECK_THROWS_WITH(load_config_text("admin: {trace_lookup_entries: 99999999}\n", "t.yaml"),
                    Contains("admin.trace_lookup_entries"));
  CHECK_THROWS_WITH(load_config_text("admin: {jaeger_ui_url: \"jaeger:16686\"}\n", "t.yaml"),
                    Contains("t.yaml:1: admin.jaeger_ui_url: expected an http:// or https:// URL"));
}
