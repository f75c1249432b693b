#include "export/retry.hpp"

#include <catch2/catch.hpp>
#include <grpcpp/grpcpp.h>

#include "google/rpc/status.pb.h"

using namespace tailgate;
using namespace std::chrono_literals;

namespace {
grpc::Status with_retry_info(grpc::StatusCode code, std::chrono::milliseconds delay) {
  google::rpc::RetryInfo info;
  info.mutable_retry_delay()->set_seconds(delay.count() / 1000);
  info.mutable_retry_delay()->set_nanos(static_cast<int>(delay.count() % 1000) * 1'000'000);
  google::rpc::Status details;
  details.set_code(static_cast<int>(code));
  details.add_details()->PackFrom(info);
  return {code, "slow down", details.SerializeAsString()};
}
}  // namespace

TEST_CASE("the OTLP retryable codes are retried, the others are final", "[export]") {
  config::ExporterConfig c;
  std::minstd_rand rng(1);
  for (const auto code : {grpc::StatusCode::CANCELLED, grpc::StatusCode::DEADLINE_EXCEEDED,
                          grpc::StatusCode::ABORTED, grpc::StatusCode::OUT_OF_RANGE,
                          grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::DATA_LOSS}) {
    CAPTURE(static_cast<int>(code));
    CHECK(exporter::plan_retry(grpc::Status(code, ""), 1, c, rng).retry);
  }
  for (const auto code : {grpc::StatusCode::INVALID_ARGUMENT, grpc::StatusCode::PERMISSION_DENIED,
                          grpc::StatusCode::UNAUTHENTICATED, grpc::StatusCode::UNIMPLEMENTED,
                          grpc::StatusCode::RESOURCE_EXHAUSTED}) {
    CAPTURE(static_cast<int>(code));
    CHECK_FALSE(exporter::plan_retry(grpc::Status(code, ""), 1, c, rng).retry);
  }
}

TEST_CASE("backoff doubles up to max_backoff, jittered over its upper half", "[export]") {
  config::ExporterConfig c;
  c.initial_backoff = 100ms;
  c.max_backoff = 1s;
  std::minstd_rand rng(2);
  for (int attempt = 1; attempt <= 8; ++attempt) {
    const auto ceiling = std::min(100ms * (1 << (attempt - 1)), std::chrono::milliseconds(1s));
    for (int i = 0; i < 50; ++i) {
      const auto plan =
          exporter::plan_retry(grpc::Status(grpc::StatusCode::UNAVAILABLE, ""), attempt, c, rng);
      CHECK(plan.delay <= ceiling);
      CHECK(plan.delay >= ceiling / 2);
      CHECK_FALSE(plan.from_server);
    }
  }
}

TEST_CASE("a server's RetryInfo sets the delay and makes RESOURCE_EXHAUSTED retryable",
          "[export]") {
  config::ExporterConfig c;
  std::minstd_rand rng(3);
  const auto plan = exporter::plan_retry(
      with_retry_info(grpc::StatusCode::RESOURCE_EXHAUSTED, 1500ms), 1, c, rng);
  CHECK(plan.retry);
  CHECK(plan.from_server);
  CHECK(plan.delay == 1500ms);
  CHECK(exporter::plan_retry(with_retry_info(grpc::StatusCode::UNAVAILABLE, 250ms), 7, c, rng)
            .delay == 250ms);
}
