#include "sampling/threshold.hpp"

#include <random>

#include <catch2/catch.hpp>

#include "sampling/sampler.hpp"

using namespace tailgate;

namespace {
model::TraceId random_id(std::mt19937_64& rng) {
  model::TraceId id{};
  for (auto& b : id) b = static_cast<std::uint8_t>(rng());
  return id;
}
}  // namespace

TEST_CASE("randomness is the trace id's last 7 bytes, big-endian", "[sampling]") {
  model::TraceId id{};
  id[8] = 0xFF;  // not part of the randomness
  id[9] = 0x01;
  id[15] = 0x02;
  CHECK(sampling::randomness(id) == 0x01000000000002ULL);
}

TEST_CASE("thresholds at the edges and in OpenTelemetry's th encoding", "[sampling]") {
  CHECK(sampling::rejection_threshold(1.0) == 0);
  CHECK(sampling::rejection_threshold(0.0) == sampling::kThresholdScale);
  CHECK(sampling::threshold_hex(1.0) == "0");
  CHECK(sampling::threshold_hex(0.5) == "8");
  CHECK(sampling::threshold_hex(0.25) == "c");
  CHECK(sampling::threshold_hex(0.01) == "fd70a3d70a3d71");
  model::TraceId max{};
  for (auto& b : max) b = 0xFF;
  CHECK_FALSE(sampling::keep(max, 0.0));
  CHECK(sampling::keep(model::TraceId{}, 1.0));
  CHECK_FALSE(sampling::keep(model::TraceId{}, 0.999));
}

TEST_CASE("the threshold goes into tracestate without disturbing other entries", "[sampling]") {
  CHECK(sampling::with_threshold("", "8") == "ot=th:8");
  CHECK(sampling::with_threshold("vendor=a", "8") == "ot=th:8,vendor=a");
  CHECK(sampling::with_threshold("vendor=a, ot=rv:abc;th:c", "8") == "ot=th:8;rv:abc,vendor=a");
}

TEST_CASE("decisions are a function of trace id and probability alone", "[sampling]") {
  config::SamplingConfig c;
  c.policies = {config::BasePolicyConfig{.probability = 0.01}};
  sampling::Sampler a(c), b(c);
  std::mt19937_64 rng(7);
  std::size_t kept = 0, disagreements = 0, monotonic_violations = 0;
  constexpr std::size_t kIds = 1'000'000;
  for (std::size_t i = 0; i < kIds; ++i) {
    model::Trace t;
    t.trace_id = random_id(rng);
    const auto da = a.decide(t);
    const auto db = b.decide(t);
    disagreements += da.keep != db.keep;
    kept += da.keep;
    // A trace kept at 1% is kept at 10% too.
    if (da.keep && !sampling::keep(t.trace_id, 0.1)) ++monotonic_violations;
  }
  CHECK(disagreements == 0);
  CHECK(monotonic_violations == 0);
  CHECK(kept >= 9500);  // within ±5% of 10,000
  CHECK(kept <= 10500);
}
