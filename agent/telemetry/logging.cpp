#include "telemetry/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "telemetry/log_escape.hpp"
#include "telemetry/log_json.hpp"

namespace tailgate::telemetry {
namespace {

constexpr std::size_t kLastErrors = 10;
// Warnings and errors also go here (spdlog's own bounded sink, thread-safe), for the status page.
std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> last_errors_sink;

// %j: the message's logfmt pairs as JSON members (log_json.hpp).
class JsonFields final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string out;
    append_logfmt_as_json(std::string_view(msg.payload.data(), msg.payload.size()), out);
    dest.append(out.data(), out.data() + out.size());
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonFields>();
  }
};

// %k: the level in the config's words (warn, not spdlog's warning).
class LevelName final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const auto name = level_name(msg.level);
    dest.append(name.data(), name.data() + name.size());
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<LevelName>();
  }
};

// %w: the message with control characters, line separators and bytes that are not UTF-8
// escaped (\n, \xHH, \u2028; log_escape.hpp). Messages carry text from senders (a Thrift method
// name, a parse error): a newline in it would start a line of the sender's making, e.g. a forged
// `error event=...` (found by an outside attack).
class SafeMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string out;
    append_log_escaped(std::string_view(msg.payload.data(), msg.payload.size()), false, out);
    dest.append(out.data(), out.data() + out.size());
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<SafeMessage>();
  }
};

// RFC 3339 in UTC, to the microsecond: lines from hosts in different zones sort together.
constexpr const char* kTime = "%Y-%m-%dT%H:%M:%S.%fZ";

std::unique_ptr<spdlog::formatter> formatter(config::LogFormat format) {
  auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  f->add_flag<LevelName>('k');
  if (format == config::LogFormat::Json) {
    f->add_flag<JsonFields>('j').set_pattern(
        fmt::format(R"({{"time":"{}","level":"%k",%j}})", kTime));
  } else {
    f->add_flag<SafeMessage>('w').set_pattern(fmt::format("{} %k %w", kTime));
  }
  return f;
}

spdlog::level::level_enum to_spdlog(config::LogLevel level) {
  using config::LogLevel;
  switch (level) {
    case LogLevel::Trace:
      return spdlog::level::trace;
    case LogLevel::Debug:
      return spdlog::level::debug;
    case LogLevel::Info:
      return spdlog::level::info;
    case LogLevel::Warn:
      return spdlog::level::warn;
    case LogLevel::Error:
      return spdlog::level::err;
    case LogLevel::Off:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

}  // namespace

void set_log_level(config::LogLevel level) {
  spdlog::default_logger()->set_level(to_spdlog(level));
}

void setup_logging(const config::LogConfig& config) {
  // A second set-up (tests) replaces the first logger.
  spdlog::drop("tailgate");
  auto logger = spdlog::stderr_logger_mt("tailgate");
  logger->set_formatter(formatter(config.format));
  logger->set_level(to_spdlog(config.level));
  last_errors_sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(kLastErrors);
  last_errors_sink->set_level(spdlog::level::warn);
  last_errors_sink->set_formatter(formatter(config::LogFormat::Text));
  logger->sinks().push_back(last_errors_sink);
  // Info lines are few (events, stats every 10 s) and an operator wants them at once.
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

std::vector<std::string> last_errors() {
  if (!last_errors_sink) return {};
  auto lines = last_errors_sink->last_formatted();
  for (auto& line : lines) {
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  }
  return lines;
}

}  // namespace tailgate::telemetry
