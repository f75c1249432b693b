#include "sampling/sampler.hpp"

#include <algorithm>
#include <cstring>
#include <random>

#include <catch2/catch.hpp>

#include "sampling/adaptive_rate.hpp"
#include "sampling/decision_cache.hpp"
#include "support/trace_builder.hpp"

using namespace tailgate;
using testing::SpanSpec;
using testing::TraceBuilder;

TEST_CASE("the highest matching probability wins and names the decision", "[sampling]") {
  sampling::Sampler sampler(config::SamplingConfig{});  // the default policies
  const TraceBuilder error_and_critical(
      testing::Specs{{.name = "api.exchange.place_order", .error = true}});
  const auto d = sampler.decide(error_and_critical.view());
  CHECK(d.keep);
  CHECK(d.probability == 1.0);
  CHECK(sampler.policy_name(d.policy) == "error");

  const TraceBuilder critical(testing::Specs{{.name = "api.exchange.place_order"}});
  const auto c = sampler.decide(critical.view());
  CHECK(c.probability == 0.1);
  CHECK(sampler.policy_name(c.policy) == "critical");

  const TraceBuilder ordinary(testing::Specs{{.name = "market_data.tick"}});
  CHECK(sampler.policy_name(sampler.decide(ordinary.view()).policy) == "base");
}

TEST_CASE("keep or drop does not depend on the order of the policies", "[sampling]") {
  auto policies = config::default_policies();
  policies.push_back(config::AttributePolicyConfig{
      .name = "risk_failed", .key = "risk.passed", .values = {"false"}, .probability = 0.1});
  std::sort(policies.begin(), policies.end(),
            [](const auto& a, const auto& b) { return a.index() < b.index(); });
  std::mt19937 shuffle(3);
  std::vector<std::vector<bool>> outcomes;
  for (int round = 0; round < 6; ++round) {
    config::SamplingConfig c;
    c.policies = policies;
    sampling::Sampler sampler(c);
    std::vector<bool> keeps;
    for (std::uint64_t i = 0; i < 2000; ++i) {
      const TraceBuilder t(testing::Specs{{.name = i % 3 ? "api.exchange.x" : "other",
                                           .error = i % 50 == 0,
                                           .end_ms = i % 40 == 0 ? 200u : 1u,
                                           .attributes = {{"risk.passed", i % 7 != 0}}}},
                           i * 2654435761u);
      keeps.push_back(sampler.decide(t.view()).keep);
    }
    outcomes.push_back(keeps);
    std::shuffle(policies.begin(), policies.end(), shuffle);
  }
  for (const auto& o : outcomes) CHECK(o == outcomes.front());
}

TEST_CASE("a tie is named by the policy listed first", "[sampling]") {
  config::SamplingConfig c;
  c.policies = {
      config::SpanNamePolicyConfig{.name = "first", .patterns = {"x"}, .probability = 0.5},
      config::SpanNamePolicyConfig{.name = "second", .patterns = {"x"}, .probability = 0.5}};
  sampling::Sampler sampler(c);
  CHECK(sampler.policy_name(
            sampler.decide(TraceBuilder(testing::Specs{{.name = "x"}}).view()).policy) == "first");
}

TEST_CASE("no matching policy drops the trace", "[sampling]") {
  config::SamplingConfig c;
  c.policies = {config::ErrorPolicyConfig{}};
  sampling::Sampler sampler(c);
  const auto d = sampler.decide(TraceBuilder(testing::Specs{{}}).view());
  CHECK_FALSE(d.keep);
  CHECK(d.policy == sampling::Decision::kNoPolicy);
}

TEST_CASE("the fast path decides only what is already certain", "[sampling]") {
  sampling::Sampler sampler(config::SamplingConfig{});
  CHECK(sampler.decide_early(TraceBuilder(testing::Specs{{.error = true}}).view()));
  CHECK(sampler.decide_early(TraceBuilder(testing::Specs{{.end_ms = 150}}).view()));
  CHECK_FALSE(
      sampler.decide_early(TraceBuilder(testing::Specs{{.name = "api.exchange.x"}}).view()));
  CHECK_FALSE(sampler.decide_early(TraceBuilder(testing::Specs{{}}).view()));
}

TEST_CASE("kept spans carry the policy, the probability and the tracestate threshold",
          "[sampling]") {
  sampling::Sampler sampler(config::SamplingConfig{});
  const TraceBuilder t(testing::Specs{{.name = "api.exchange.place_order"}});
  model::Span span = *t.view().spans.front().decoded();
  sampler.annotate(span, {true, 2, 0.1});
  REQUIRE(span.attributes.size() == 2);
  CHECK(span.attributes[0] == model::Attribute{"sampling.policy", std::string("critical")});
  CHECK(span.attributes[1] == model::Attribute{"sampling.probability", 0.1});
  CHECK(span.trace_state == "ot=th:e666");
}

TEST_CASE("a threshold from upstream is raised, never lowered", "[sampling]") {
  sampling::Sampler sampler(config::SamplingConfig{});
  const TraceBuilder t(testing::Specs{{.error = true}});
  model::Span span = *t.view().spans.front().decoded();
  span.trace_state = "ot=th:e666;rv:f0000000000000";          // head-sampled at 10% by its client
  sampler.annotate(span, {true, 0, 1.0});                     // kept by the error policy
  CHECK(span.trace_state == "ot=th:e666;rv:f0000000000000");  // still counts 10 times
  span.trace_state = "ot=th:8";
  sampler.annotate(span, {true, 2, 0.1});
  CHECK(span.trace_state == "ot=th:e666");
}

TEST_CASE("the adaptive rate settles on the budget left after other policies", "[sampling]") {
  sampling::AdaptiveRate rate(0.01, 1000);
  for (int i = 0; i < 40; ++i) rate.update(50'000, 200, 1.0);
  CHECK(rate.probability() == Approx((1000.0 - 200) / 50'000).epsilon(0.01));
  for (int i = 0; i < 40; ++i) rate.update(50'000, 5'000, 1.0);  // others exceed the budget
  CHECK(rate.probability() == sampling::AdaptiveRate::kMinProbability);
  for (int i = 0; i < 40; ++i) rate.update(100, 0, 1.0);  // a trickle: keep everything
  CHECK(rate.probability() == 1.0);
  sampling::AdaptiveRate fixed(0.01, 0);
  fixed.update(50'000, 0, 1.0);
  CHECK(fixed.probability() == 0.01);
}

TEST_CASE("the decision cache holds 3M recent decisions in under 16 MB", "[sampling]") {
  sampling::DecisionCache cache(config::SamplingConfig{}.decision_cache_entries);
  CHECK(cache.memory_bytes() <= 16'000'000);
  const auto id_of = [](std::uint64_t seed) {
    // splitmix64: a cheap, well-spread id per seed.
    const auto next = [&seed] {
      std::uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      return z ^ (z >> 31);
    };
    model::TraceId id{};
    const std::uint64_t hi = next(), lo = next();
    std::memcpy(id.data(), &hi, 8);
    std::memcpy(id.data() + 8, &lo, 8);
    return id;
  };
  constexpr std::uint64_t kDecisions = 3'000'000;  // 5 minutes at 10k traces/s
  for (std::uint64_t i = 0; i < kDecisions; ++i) {
    cache.record(id_of(i), {i % 10 == 0, static_cast<std::uint8_t>(i % 4)});
  }
  std::uint64_t found = 0, wrong = 0;
  for (std::uint64_t i = 0; i < kDecisions; ++i) {
    if (const auto e = cache.find(id_of(i))) {
      ++found;
      wrong += e->kept != (i % 10 == 0) || e->policy != i % 4;
    }
  }
  CHECK(found >= kDecisions * 995 / 1000);
  // A 27-bit fingerprint in 16 slots: about 0.4 mistaken matches expected over 3M lookups.
  CHECK(wrong <= 5);
  std::uint64_t false_matches = 0;
  for (std::uint64_t i = 0; i < 1'000'000; ++i)
    false_matches += cache.find(id_of(kDecisions + 1 + i)).has_value();
  CHECK(false_matches <= 5);
}
