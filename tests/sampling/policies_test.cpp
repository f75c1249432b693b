// One table per policy: trace in, probability (or no opinion) out. No randomness here: coin
// flipping lives in threshold.cpp.
#include <optional>
#include <vector>

#include <catch2/catch.hpp>

#include "sampling/attribute_policy.hpp"
#include "sampling/base_policy.hpp"
#include "sampling/error_policy.hpp"
#include "sampling/latency_policy.hpp"
#include "sampling/span_name_policy.hpp"
#include "support/packed_span.hpp"
#include "support/trace_builder.hpp"
#include "wire/pack.hpp"

using namespace tailgate;
using namespace std::chrono_literals;
using testing::SpanSpec;
using testing::TraceBuilder;

namespace {
struct Case {
  const char* name;
  std::vector<SpanSpec> spans;
  std::optional<double> expected;
};

void run(const sampling::Policy& policy, const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      const TraceBuilder trace(c.spans);
      CHECK(policy.keep_probability(trace.view()) == c.expected);
      // The same spans as the ring and UDP receivers hand them on, items still packed.
      auto view = trace.view();
      std::vector<model::Span> packed;
      for (const auto span : view.spans) packed.push_back(testing::packed(*span.decoded()));
      view.spans = packed;
      CHECK(policy.keep_probability(view) == c.expected);
      // And as the trace table buffers them: packed in one block, keys interned.
      model::KeyGenerations keys;
      wire::PackScratch scratch;
      model::PackedSpans buffered;
      for (const auto& span : packed) wire::pack(model::Span(span), buffered, keys, scratch);
      view.spans = buffered.list();
      CHECK(policy.keep_probability(view) == c.expected);
    }
  }
}
}  // namespace

TEST_CASE("error policy", "[sampling]") {
  const sampling::ErrorPolicy policy({.probability = 1.0});
  run(policy, {
                  {"no error has no opinion", {{}, {}}, std::nullopt},
                  {"an error in any span keeps", {{}, {.error = true}, {}}, 1.0},
                  {"an error in the root keeps", {{.error = true}}, 1.0},
              });
}

TEST_CASE("latency policy", "[sampling]") {
  const sampling::LatencyPolicy policy({.threshold = 100ms, .probability = 1.0});
  run(policy, {
                  {"a fast trace has no opinion", {{.end_ms = 99}}, std::nullopt},
                  {"exactly at the threshold is kept", {{.end_ms = 100}}, 1.0},
                  {"one slow span keeps", {{.end_ms = 5}, {.start_ms = 1, .end_ms = 150}}, 1.0},
                  {"long trace made of short spans is kept",
                   {{.start_ms = 0, .end_ms = 10}, {.start_ms = 95, .end_ms = 105}},
                   1.0},
              });
}

TEST_CASE("span name policy", "[sampling]") {
  const sampling::SpanNamePolicy policy(
      {.patterns = {"genesis.order.*", "order_execution", "api.exchange.*"}, .probability = 0.1});
  run(policy, {
                  {"no match has no opinion", {{.name = "market_data.tick"}}, std::nullopt},
                  {"a prefix pattern matches a child span",
                   {{.name = "root"}, {.name = "genesis.order.execute_market"}},
                   0.1},
                  {"an exact name matches", {{.name = "order_execution"}}, 0.1},
                  {"an exact name does not match a longer one",
                   {{.name = "order_execution_x"}},
                   std::nullopt},
                  {"the prefix itself without the dot does not match",
                   {{.name = "genesis.order"}},
                   std::nullopt},
              });
}

TEST_CASE("glob patterns match star runs and nothing else", "[sampling]") {
  CHECK(sampling::glob_match("*", ""));
  CHECK(sampling::glob_match("a*c", "abbbc"));
  CHECK(sampling::glob_match("*.place_*", "api.exchange.place_order"));
  CHECK_FALSE(sampling::glob_match("a*c", "abbbd"));
  CHECK_FALSE(sampling::glob_match("a?c", "abc"));  // ? is literal
  CHECK(sampling::glob_match("a?c", "a?c"));
}

TEST_CASE("attribute policy compares the value as text", "[sampling]") {
  const sampling::AttributePolicy policy(
      {.name = "risk_failed", .key = "risk.passed", .values = {"false"}, .probability = 1.0});
  run(policy, {
                  {"bool false matches", {{.attributes = {{"risk.passed", false}}}}, 1.0},
                  {"bool true does not", {{.attributes = {{"risk.passed", true}}}}, std::nullopt},
                  {"the string false matches",
                   {{.attributes = {{"risk.passed", std::string("false")}}}},
                   1.0},
                  {"another key does not", {{.attributes = {{"risk.ok", false}}}}, std::nullopt},
              });
  const sampling::AttributePolicy numbers(
      {.name = "big", .key = "order.quantity", .values = {"100", "2.5"}, .probability = 0.5});
  run(numbers,
      {
          {"an int matches its decimal text",
           {{.attributes = {{"order.quantity", std::int64_t{100}}}}},
           0.5},
          {"a double matches its text", {{.attributes = {{"order.quantity", 2.5}}}}, 0.5},
          {"another int does not",
           {{.attributes = {{"order.quantity", std::int64_t{10}}}}},
           std::nullopt},
          {"an array matches when an element does",
           {{.attributes = {{"order.quantity", model::ArrayValue(std::vector<double>{1.0, 2.5})}}}},
           0.5},
          {"an array none of whose elements does, does not",
           {{.attributes = {{"order.quantity",
                             model::ArrayValue(std::vector<std::int64_t>{1, 2})}}}},
           std::nullopt},
          {"an empty array does not",
           {{.attributes = {{"order.quantity", model::ArrayValue{}}}}},
           std::nullopt},
      });
}

TEST_CASE("base policy always applies at the current rate", "[sampling]") {
  const sampling::AdaptiveRate rate(0.01, 0);
  const sampling::BasePolicy policy({}, rate);
  run(policy, {{"any trace", {{}}, 0.01}});
}
