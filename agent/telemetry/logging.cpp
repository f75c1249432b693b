#include "telemetry/logging.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace tailgate::telemetry {

void setup_logging(const config::LogConfig& config) {
  auto logger = spdlog::stderr_logger_mt("tailgate");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
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
  // Warnings and errors are rare and matter at once; info lines may wait for the buffer.
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace tailgate::telemetry
