#include "export/retry.hpp"

#include <algorithm>
#include <optional>

#include <grpcpp/grpcpp.h>

#include "google/rpc/status.pb.h"

namespace tailgate::exporter {
namespace {

std::optional<std::chrono::milliseconds> server_delay(const grpc::Status& status) {
  if (status.error_details().empty()) return std::nullopt;
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) return std::nullopt;
  for (const auto& any : details.details()) {
    google::rpc::RetryInfo info;
    if (any.Is<google::rpc::RetryInfo>() && any.UnpackTo(&info)) {
      const auto& d = info.retry_delay();
      return std::chrono::milliseconds(
          std::max<std::int64_t>(0, d.seconds() * 1000 + d.nanos() / 1'000'000));
    }
  }
  return std::nullopt;
}

}  // namespace

RetryPlan plan_retry(const grpc::Status& status, int attempts, const config::ExporterConfig& config,
                     std::minstd_rand& jitter) {
  const auto delay = server_delay(status);
  switch (status.error_code()) {
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DATA_LOSS:
      break;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      if (delay) break;  // throttled, and told when to come back
      return {};
    default:
      return {};
  }
  if (delay) return {true, *delay, true};
  const auto shift = std::clamp(attempts - 1, 0, 20);
  const auto backoff = std::min(config.initial_backoff * (1 << shift), config.max_backoff);
  // Jitter over the upper half: spreads a fleet's retries, never retries at once.
  std::uniform_int_distribution<std::int64_t> spread(backoff.count() / 2, backoff.count());
  return {true, std::chrono::milliseconds(spread(jitter)), false};
}

}  // namespace tailgate::exporter
