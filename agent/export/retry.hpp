#pragma once
// Whether and when to retry a failed export, per the OTLP specification: the retryable gRPC codes
// (CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS, and
// RESOURCE_EXHAUSTED only when the server sends a RetryInfo), exponential backoff with jitter,
// or exactly the delay the server's RetryInfo asks for. Pure but for the random jitter.

#include <chrono>
#include <random>

#include "config/config.hpp"

namespace grpc {
class Status;
}

namespace tailgate::exporter {

struct RetryPlan {
  bool retry = false;
  std::chrono::milliseconds delay{0};
  bool from_server = false;  ///< the delay came from the server's RetryInfo
};

/// `attempts` counts the attempts made so far (1 after the first failure).
[[nodiscard]] RetryPlan plan_retry(const grpc::Status& status, int attempts,
                                   const config::ExporterConfig& config, std::minstd_rand& jitter);

}  // namespace tailgate::exporter
