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
  CHECK(sampling::threshold_hex(0.01) == "fd70a");
  model::TraceId max{};
  for (auto& b : max) b = 0xFF;
  CHECK_FALSE(sampling::keep(max, 0.0));
  CHECK(sampling::keep(model::TraceId{}, 1.0));
  CHECK_FALSE(sampling::keep(model::TraceId{}, 0.999));
}

// The specification's table (tracestate-probability-sampling, "Converting floating-point
// probability to threshold value"), at its recommended precision of 4 digits: one rounding, to
// nearest, for every probability (10% was truncated to e6666666666666, 1% rounded up).
TEST_CASE("thresholds are rounded as the specification's table says", "[sampling]") {
  CHECK(sampling::threshold_hex(1.0 / 3) == "aaab");
  CHECK(sampling::threshold_hex(0.2) == "cccd");
  CHECK(sampling::threshold_hex(0.1) == "e666");
  CHECK(sampling::threshold_hex(0.0625) == "f");
  CHECK(sampling::threshold_hex(0.01) == "fd70a");
  CHECK(sampling::threshold_hex(0.001) == "ffbe77");
  CHECK(sampling::threshold_hex(0.0001) == "fff9724");
  CHECK(sampling::threshold_hex(0.00001) == "ffff583a");
  CHECK(sampling::threshold_hex(0.000001) == "ffffef39");
  // The smallest probability still keeps something.
  CHECK(sampling::rejection_threshold(0x1p-56) < sampling::kThresholdScale);
  CHECK(sampling::rejection_threshold(1e-30) < sampling::kThresholdScale);
}

TEST_CASE("the decision uses the threshold the tracestate records", "[sampling]") {
  // Randomness just below the exact 1% threshold 0xfd70a3d70a3d71 but above the recorded fd70a:
  // kept, as th:fd70a says it must be.
  model::TraceId id{};
  const std::uint64_t r = 0xfd70a3d70a3d70;
  for (int i = 0; i < 7; ++i) id[15 - i] = static_cast<std::uint8_t>(r >> (8 * i));
  CHECK(sampling::keep(id, 0.01));
}

TEST_CASE("ot=rv and ot=th are read from the tracestate", "[sampling]") {
  using sampling::explicit_randomness;
  CHECK(explicit_randomness("ot=rv:00000000000000") == 0u);
  CHECK(explicit_randomness("vendor=a, ot=th:c;rv:fffffffffffffe ,x=y") == 0xfffffffffffffeu);
  CHECK_FALSE(explicit_randomness("ot=rv:123"));             // rv is exactly 14 digits
  CHECK_FALSE(explicit_randomness("ot=rv:0000000000000g"));  // hex only
  CHECK_FALSE(explicit_randomness("ot=rv:FFFFFFFFFFFFFF"));  // lowercase only
  CHECK_FALSE(explicit_randomness("vendor=rv:00000000000000"));
  CHECK_FALSE(explicit_randomness("ot=xrv:00000000000000"));
  CHECK(sampling::tracestate_threshold("ot=th:c") == 0xc0000000000000u);
  CHECK(sampling::tracestate_threshold("ot=rv:00000000000001;th:fd70a") == 0xfd70a000000000u);
  CHECK_FALSE(sampling::tracestate_threshold("ot=th:"));
}

TEST_CASE("the threshold goes into tracestate without disturbing other entries", "[sampling]") {
  CHECK(sampling::with_threshold("", "8") == "ot=th:8");
  CHECK(sampling::with_threshold("vendor=a", "8") == "ot=th:8,vendor=a");
  CHECK(sampling::with_threshold("vendor=a, ot=rv:abc;th:c", "8") == "ot=th:8;rv:abc,vendor=a");
}

TEST_CASE("an explicit ot=rv decides in place of the trace id", "[sampling]") {
  config::SamplingConfig c;
  c.policies = {config::BasePolicyConfig{.probability = 0.01}};
  sampling::Sampler sampler(c);
  model::TraceId id{};
  for (auto& b : id) b = 0xFF;  // the id alone says keep at any probability
  std::vector<model::Span> spans(2);
  for (auto& s : spans) s.trace_id = id;
  model::Trace trace;
  trace.trace_id = id;
  trace.spans = spans;
  CHECK(sampler.decide(trace).keep);
  // The case: rv 0 must not be kept at 1%; the child carries the root's tracestate.
  spans[1].trace_state = "ot=rv:00000000000000";
  CHECK_FALSE(sampler.decide(trace).keep);
  CHECK_FALSE(sampler.decide_on_arrival(trace).keep);
  spans[1].trace_state = "ot=rv:fd70a000000000";  // exactly the 1% threshold: kept
  CHECK(sampler.decide(trace).keep);
  CHECK(sampling::randomness(trace) == 0xfd70a000000000u);
  // A kept span records th with its rv, consistent: rv >= th.
  model::Span out = spans[1];
  sampler.annotate(out, sampler.decide(trace));
  CHECK(out.trace_state == "ot=th:fd70a;rv:fd70a000000000");
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
