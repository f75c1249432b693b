// Values from outside in log lines (found by an outside attack): a quote cannot end a quoted value
// early and add fields, and no line separator reaches the log raw, in the text log and the JSON
// log alike (telemetry/log_escape.hpp).
#include "telemetry/log_escape.hpp"

#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "support/captured_stderr.hpp"
#include "telemetry/log_json.hpp"

using namespace tailgate;

namespace {

// The message of the one line `log` writes in the text log: what follows `<time> warn `.
template <typename Log>
std::string text_message(Log&& log) {
  config::LogConfig config;
  config.format = config::LogFormat::Text;
  const auto text = testing::captured_stderr(config, log);
  REQUIRE(text.size() > 33);
  REQUIRE(text.substr(26, 7) == "Z warn ");
  REQUIRE(text.find('\n') == text.size() - 1);
  return text.substr(33, text.size() - 34);
}

// The one line `log` writes in the JSON log, raw and parsed.
template <typename Log>
std::pair<std::string, nlohmann::json> json_line(Log&& log) {
  config::LogConfig config;
  config.format = config::LogFormat::Json;
  const auto text = testing::captured_stderr(config, log);
  REQUIRE(text.find('\n') == text.size() - 1);
  return {text, nlohmann::json::parse(text)};
}

nlohmann::json fields(std::string_view message) {
  std::string out = "{";
  telemetry::append_logfmt_as_json(message, out);
  return nlohmann::json::parse(out + "}");
}

bool has_line_separator(std::string_view text) {
  for (const std::string_view s : {"\xC2\x85", "\xE2\x80\xA8", "\xE2\x80\xA9"})
    if (text.find(s) != std::string_view::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("a quoted value cannot add fields to a log line, text or JSON", "[telemetry]") {
  // A service name (or Thrift method name, error text...) of a sender's making.
  const std::string forged = R"(x" event=admin_login user="root)";
  const auto log = [&] {
    spdlog::warn("event=otlp_spans_rejected error={} n=1", telemetry::quoted(forged));
  };
  CHECK(text_message(log) == R"(event=otlp_spans_rejected error="x\" event=admin_login )"
                             R"(user=\"root" n=1)");
  const auto [raw, j] = json_line(log);
  INFO(raw);
  CHECK(j["event"] == "otlp_spans_rejected");
  CHECK(j["error"] == forged);
  CHECK(j["n"] == 1);
  CHECK_FALSE(j.contains("user"));
  CHECK(j.size() == 5);  // time, level, event, error, n
}

TEST_CASE("a backslash in a quoted value is escaped and read back", "[telemetry]") {
  // Ending in a backslash, a backslash before a quote, and text that looks like an escape.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"(C:\temp\)", R"("C:\\temp\\")"},
      {R"(a\" event=forged b=")", R"("a\\\" event=forged b=\"")"},
      {R"(literal \n and \u2028 and \x01)", R"("literal \\n and \\u2028 and \\x01")"},
  };
  for (const auto& [value, escaped] : cases) {
    INFO(value);
    CHECK(text_message([&] { spdlog::warn("event=x v={} n=2", telemetry::quoted(value)); }) ==
          "event=x v=" + escaped + " n=2");
    const auto j =
        json_line([&] { spdlog::warn("event=x v={} n=2", telemetry::quoted(value)); }).second;
    CHECK(j["v"] == value);
    CHECK(j["n"] == 2);
    CHECK(j.size() == 5);
  }
}

TEST_CASE("line separators U+0085, U+2028, U+2029 are escaped in text and JSON logs",
          "[telemetry]") {
  const std::vector<std::pair<std::string, std::string>> separators = {
      {"\xC2\x85", R"(\u0085)"}, {"\xE2\x80\xA8", R"(\u2028)"}, {"\xE2\x80\xA9", R"(\u2029)"}};
  for (const auto& [separator, escape] : separators) {
    INFO(escape);
    const std::string value = "a" + separator + "2026-12-07T00:00:00.000000Z error event=forged";
    // Quoted or bare (an unquoted value, or text outside any value): escaped all the same.
    const auto log = [&] {
      spdlog::warn("event=x q={} bare=b{}c", telemetry::quoted(value), separator);
    };
    const auto text = text_message(log);
    CHECK(text == "event=x q=\"a" + escape + "2026-12-07T00:00:00.000000Z error event=forged\" " +
                      "bare=b" + escape + "c");
    CHECK_FALSE(has_line_separator(text));
    const auto [raw, j] = json_line(log);
    INFO(raw);
    CHECK_FALSE(has_line_separator(raw));
    CHECK_THAT(raw, Catch::Matchers::Contains(escape));
    CHECK(j["q"] == value);  // read back: the separator itself
    CHECK(j["bare"] == "b" + separator + "c");
    // The status page's last errors are text lines, escaped as the text log.
    const auto last = telemetry::last_errors().back();
    CHECK(last.ends_with("Z warn " + text));
    CHECK_FALSE(has_line_separator(last));
  }
}

TEST_CASE("invalid UTF-8 around line separators hides none and forges none", "[telemetry]") {
  // Cut sequences before and after separators, a separator's bytes out of order, and the
  // overlong 4-byte form of U+2028 that a lenient decoder would still read as one.
  const std::string value =
      "\xE2\x80"
      "\xE2\x80\xA8"
      "\xA8\xC2"
      "\xC2\x85"
      "\xFF"
      "\xE2\x80\xA9"
      "\x85\xA8\x80\xE2"
      "\xF0\x82\x80\xA8"
      "caf\xC3\xA9";
  const auto text = text_message([&] { spdlog::warn("event=x q={}", telemetry::quoted(value)); });
  CHECK(text ==
        R"(event=x q="\xe2\x80\u2028\xa8\xc2\u0085\xff\u2029\x85\xa8\x80\xe2\xf0\x82\x80\xa8)"
        "caf\xC3\xA9\"");
  const auto [raw, j] = json_line([&] { spdlog::warn("event=x q={}", telemetry::quoted(value)); });
  INFO(raw);
  CHECK_FALSE(has_line_separator(raw));
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(j["q"] == fffd + fffd + "\xE2\x80\xA8" + fffd + fffd + "\xC2\x85" + fffd + "\xE2\x80\xA9" +
                      fffd + fffd + fffd + fffd + fffd + fffd + fffd + fffd + "caf\xC3\xA9");
}

TEST_CASE("ordinary values are logged as before, bare values quoted only when they must be",
          "[telemetry]") {
  CHECK(text_message([] {
          spdlog::warn("event=export_failed code={} message={} path={} spans={}", 14,
                       telemetry::quoted("connect: Connection refused (caf\xC3\xA9)"),
                       telemetry::bare_or_quoted("/dev/shm/tailgate/app-12.ring"), 3);
        }) ==
        "event=export_failed code=14 message=\"connect: Connection refused (caf\xC3\xA9)\" "
        "path=/dev/shm/tailgate/app-12.ring spans=3");
  // A file name in the ring directory is any producer's making: bare only when it is one word.
  CHECK(fmt::format("{}", telemetry::bare_or_quoted("/r/a b=c.ring")) == R"("/r/a b=c.ring")");
  CHECK(fmt::format("{}", telemetry::bare_or_quoted("/r/a\"b.ring")) == R"("/r/a\"b.ring")");
  CHECK(fmt::format("{}", telemetry::bare_or_quoted("/r/a\nb.ring")) == R"("/r/a\nb.ring")");
  CHECK(fmt::format("{}", telemetry::bare_or_quoted("")) == R"("")");
  CHECK(fmt::format("{}", telemetry::quoted("")) == R"("")");
  const auto j = fields(fmt::format("event=segment_attached path={} pid=7",
                                    telemetry::bare_or_quoted("/r/x.ring user=root y=.ring")));
  CHECK(j["path"] == "/r/x.ring user=root y=.ring");
  CHECK_FALSE(j.contains("user"));
}

TEST_CASE("any quoted value reads back exactly as its JSON string", "[telemetry]") {
  // Pieces of valid UTF-8 (bytes that are not become U+FFFD, tested above) that quoting must
  // keep apart: quotes, backslashes, escapes' look-alikes, keys, spaces, control characters.
  const std::vector<std::string> pieces = {
      "\"",           "\\",           " ",        "event=", "k=",   "\\\"", "\\u2028",
      "\\x41",        "\n",           "\r",       "\t",     "\x01", "\x7f", "\xC2\x85",
      "\xE2\x80\xA8", "\xE2\x80\xA9", "\xC3\xA9", "x",      "\" ",  "=\""};
  std::mt19937 rng(7);
  for (int i = 0; i < 5000; ++i) {
    std::string value;
    const auto n = rng() % 10;
    for (std::uint32_t k = 0; k < n; ++k) value += pieces[rng() % pieces.size()];
    const auto message =
        fmt::format("event=x a={} b={} n=3", telemetry::quoted(value), telemetry::quoted(value));
    INFO(message);
    REQUIRE_FALSE(has_line_separator(message));
    REQUIRE(message.find_first_of("\n\r\t\x01\x7f") == std::string::npos);
    const auto j = fields(message);
    REQUIRE(j.size() == 4);
    REQUIRE(j["a"] == value);
    REQUIRE(j["b"] == value);
    REQUIRE(j["n"] == 3);
  }
}
