#include "telemetry/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace tailgate::telemetry {
namespace {

constexpr std::size_t kLastErrors = 10;
// Warnings and errors also go here (spdlog's own bounded sink, thread-safe), for the status page.
std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> last_errors_sink;

// %j: the message as a JSON string body, so that a log line with quotes or backslashes (error
// texts, config values) stays one valid JSON object.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (const char c : msg.payload) {
      switch (c) {
        case '"':
          dest.append(std::string_view("\\\""));
          break;
        case '\\':
          dest.append(std::string_view("\\\\"));
          break;
        case '\n':
          dest.append(std::string_view("\\n"));
          break;
        case '\t':
          dest.append(std::string_view("\\t"));
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            fmt::format_to(std::back_inserter(dest), "\\u{:04x}", static_cast<int>(c));
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

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
  auto logger = spdlog::stderr_logger_mt("tailgate");
  if (config.format == config::LogFormat::Json) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<JsonEscapedMessage>('j').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e","level":"%l","msg":"%j"})");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  }
  using config::LogLevel;
  switch (config.level) {
    case LogLevel::Trace:
      logger->set_level(spdlog::level::trace);
      break;
    case LogLevel::Debug:
      logger->set_level(spdlog::level::debug);
      break;
    case LogLevel::Info:
      logger->set_level(spdlog::level::info);
      break;
    case LogLevel::Warn:
      logger->set_level(spdlog::level::warn);
      break;
    case LogLevel::Error:
      logger->set_level(spdlog::level::err);
      break;
    case LogLevel::Off:
      logger->set_level(spdlog::level::off);
      break;
  }
  last_errors_sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(kLastErrors);
  last_errors_sink->set_level(spdlog::level::warn);
  last_errors_sink->set_pattern("%Y-%m-%dT%H:%M:%S %l %v");
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
