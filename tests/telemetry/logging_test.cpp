#include "telemetry/logging.hpp"

#include <algorithm>
#include <random>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "support/captured_stderr.hpp"
#include "telemetry/log_escape.hpp"
#include "telemetry/log_json.hpp"

using namespace tailgate;
using testing::captured_stderr;

namespace {

nlohmann::json fields(std::string_view message) {
  std::string out = "{";
  telemetry::append_logfmt_as_json(message, out);
  return nlohmann::json::parse(out + "}");
}

}  // namespace

TEST_CASE("logfmt pairs become JSON fields of their own", "[telemetry]") {
  const auto j = fields(
      R"(event=export_failed endpoint=jaeger:4317 spans=512 ratio=0.25 tls=true error="connect: refused")");
  CHECK(j["event"] == "export_failed");
  CHECK(j["endpoint"] == "jaeger:4317");
  CHECK(j["spans"] == 512);
  CHECK(j["ratio"] == 0.25);
  CHECK(j["tls"] == true);
  CHECK(j["error"] == "connect: refused");
  CHECK_FALSE(j.contains("msg"));
}

TEST_CASE("JSON log fields survive quotes, ids and odd text", "[telemetry]") {
  // An error text with quotes and a backslash of its own, escaped as quoted() writes it.
  auto j =
      fields(R"(event=reload_failed error="key \"exporter\" at line 3: bad \\d" kept=previous)");
  CHECK(j["error"] == R"(key "exporter" at line 3: bad \d)");
  CHECK(j["kept"] == "previous");
  // A quote that ends neither the message nor a pair: not logfmt, kept whole.
  j = fields(R"(event=x error="a"b" n=1)");
  CHECK(j.size() == 1);
  CHECK(j["msg"] == R"(event=x error="a"b" n=1)");
  // Numbers that are not numbers stay strings: ids with leading zeros, quoted digits, huge ones.
  j = fields(R"(event=x pid=0042 code="17" big=12345678901234567890 neg=-3)");
  CHECK(j["pid"] == "0042");
  CHECK(j["code"] == "17");
  CHECK(j["big"] == "12345678901234567890");
  CHECK(j["neg"] == -3);
  // The line's own keys are not overwritten.
  j = fields("event=x level=debug time=now");
  CHECK(j["field.level"] == "debug");
  CHECK(j["field.time"] == "now");
  // Not logfmt: kept whole, as a message.
  j = fields("protobuf said: \"bad\"\n\x01");
  CHECK(j["msg"] == "protobuf said: \"bad\"\n\x01");
  CHECK(fields("")["msg"] == "");
}

TEST_CASE("every message becomes valid JSON, bytes that are not UTF-8 included", "[telemetry]") {
  CHECK(fields("event=x service=caf\xc3\xa9")["service"] == "caf\xc3\xa9");  // UTF-8 kept
  CHECK(fields("event=x service=caf\xe9")["service"] == "caf\xef\xbf\xbd");  // U+FFFD
  CHECK(fields("event=x s=\xed\xa0\x80")["s"] == "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  // Random messages of logfmt-ish pieces and random bytes: each is one parsable object.
  std::mt19937 rng(11);
  const std::vector<std::string> pieces = {"event=", "k=",   " ",    "\"",   "\\", "=",    "x",
                                           "12",     "-0.5", "\xc3", "\xa9", "\n", "\x01", "true"};
  for (int i = 0; i < 20000; ++i) {
    std::string m;
    const auto n = rng() % 12;
    for (std::uint32_t j = 0; j < n; ++j) {
      if (rng() % 4 == 0)
        m += static_cast<char>(rng() % 256);
      else
        m += pieces[rng() % pieces.size()];
    }
    std::string out = "{";
    telemetry::append_logfmt_as_json(m, out);
    out += "}";
    INFO(out);
    REQUIRE(nlohmann::json::accept(out));
  }
}

TEST_CASE("log levels use the config's words", "[telemetry]") {
  CHECK(telemetry::level_name(spdlog::level::warn) == "warn");
  CHECK(telemetry::level_name(spdlog::level::err) == "error");
  CHECK(telemetry::level_name(spdlog::level::critical) == "error");
  CHECK(telemetry::level_name(spdlog::level::info) == "info");
  CHECK(telemetry::level_name(spdlog::level::debug) == "debug");
  CHECK(telemetry::level_name(spdlog::level::trace) == "trace");
}

TEST_CASE("a JSON log line: UTC RFC 3339 time, the config's level, structured fields",
          "[telemetry]") {
  config::LogConfig config;
  config.format = config::LogFormat::Json;
  config.level = config::LogLevel::Info;
  const auto text = captured_stderr(config, [] {
    spdlog::warn("event=spool_write_failed file={} error={}", "/var/spool/a",
                 telemetry::quoted("disk \"full\""));
    spdlog::debug("event=hidden");
  });
  INFO(text);
  std::istringstream lines(text);
  std::string line;
  REQUIRE(std::getline(lines, line));
  const auto j = nlohmann::json::parse(line);
  CHECK(j["level"] == "warn");
  CHECK(j["event"] == "spool_write_failed");
  CHECK(j["file"] == "/var/spool/a");
  CHECK(j["error"] == "disk \"full\"");
  const std::string time = j["time"];
  // 2026-12-06T03:32:23.123456Z
  CHECK(time.size() == 27);
  CHECK(time[10] == 'T');
  CHECK(time.back() == 'Z');
  CHECK_FALSE(std::getline(lines, line));  // debug is below the level
}

TEST_CASE("text log lines use the same time and level words", "[telemetry]") {
  config::LogConfig config;
  config.format = config::LogFormat::Text;
  const auto text =
      captured_stderr(config, [] { spdlog::warn("event=producer_gone path=/dev/shm/x"); });
  INFO(text);
  CHECK(text.size() > 28);
  CHECK(text.substr(26, 7) == "Z warn ");
  CHECK(text.substr(33) == "event=producer_gone path=/dev/shm/x\n");
  CHECK(telemetry::last_errors().back().ends_with("Z warn event=producer_gone path=/dev/shm/x"));
}

// Found by an outside attack: a Thrift method name with a newline in it, logged as the error of
// an unsupported call, wrote a line of the sender's making into the agent's log.
TEST_CASE("text a sender controls cannot start a log line of its own", "[telemetry]") {
  for (const auto format : {config::LogFormat::Text, config::LogFormat::Json}) {
    config::LogConfig config;
    config.format = format;
    const auto text = captured_stderr(config, [] {
      spdlog::warn("event=jaeger_malformed error=\"unsupported call {}\"",
                   "x\n2026-12-06T00:00:00.000000Z error event=FORGED_LINE\r\x01");
    });
    INFO(text);
    CHECK(std::count(text.begin(), text.end(), '\n') == 1);  // one line, the agent's
    CHECK(text.find("\n2026") == std::string::npos);
    if (format == config::LogFormat::Text) {
      CHECK_THAT(text, Catch::Matchers::Contains(R"(x\n2026-12-06T00:00:00.000000Z error event=)"
                                                 R"(FORGED_LINE\r\x01")"));
    }
  }
}
