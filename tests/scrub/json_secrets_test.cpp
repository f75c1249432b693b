// Secrets inside attribute values that are JSON text: how OTLP maps (kvlists) arrive.
#include "scrub/json_secrets.hpp"

#include <catch2/catch.hpp>

#include "scrub/scrubber.hpp"
#include "support/span_builder.hpp"

using namespace tailgate;

namespace {

const std::string& text_of(const model::Span& span, std::string_view key) {
  for (const auto& a : span.attributes)
    if (a.key == key) return std::get<std::string>(a.value);
  FAIL("no attribute " << key);
  static const std::string none;
  return none;
}

}  // namespace

TEST_CASE("a secret inside a map value is replaced by its keyed hash, at any depth", "[scrub]") {
  telemetry::Counters counters;
  config::RedactionConfig redaction;
  redaction.hash_key = "desk-7-key";
  scrub::Scrubber s(redaction, config::LimitsConfig{}, counters);
  auto span = testing::make_span(1, 1, nullptr);
  // As the OTLP receivers write a kvlist {db: {password: sk-live-123, user: ops}, port: 5432}.
  span.attributes.push_back(
      {"db.config", std::string(R"({"db":{"password":"sk-live-123","user":"ops"},"port":5432})")});
  span.attributes.push_back({"hosts", std::string(R"([{"api_key":"sk-live-123"},"b"])")});
  span.events[0].attributes.push_back({"request", std::string(R"({"Authorization":"Bearer x"})")});
  s.apply(span);
  // The same hash a top-level api_key with that value gets (scrubber_test).
  CHECK(
      text_of(span, "db.config") ==
      R"({"db":{"password":"hmac-sha256:896199be51ea44a75c451dc62abf1ab1","user":"ops"},"port":5432})");
  CHECK(text_of(span, "hosts") ==
        R"([{"api_key":"hmac-sha256:896199be51ea44a75c451dc62abf1ab1"},"b"])");
  CHECK(std::get<std::string>(span.events[0].attributes.back().value).find("Bearer") ==
        std::string::npos);
  CHECK(counters.attributes_redacted.load() == 3);
}

TEST_CASE("remove leaves a map's secret member out, and JSON without secrets stays byte for byte",
          "[scrub]") {
  telemetry::Counters counters;
  config::RedactionConfig redaction;
  redaction.action = config::RedactionAction::Remove;
  scrub::Scrubber s(redaction, config::LimitsConfig{}, counters);
  auto span = testing::make_span(1, 1, nullptr);
  span.attributes.push_back({"db.config", std::string(R"({"password":{"a":1},"user":"ops"})")});
  // Spacing and key order a user wrote, nothing to redact: not re-written.
  span.attributes.push_back({"order", std::string(R"({ "z": 1, "a": [1, 2] })")});
  span.attributes.push_back({"almost", std::string(R"({"password": )")});  // not JSON
  s.apply(span);
  CHECK(text_of(span, "db.config") == R"({"user":"ops"})");
  CHECK(text_of(span, "order") == R"({ "z": 1, "a": [1, 2] })");
  CHECK(text_of(span, "almost") == R"({"password": )");
  CHECK(counters.attributes_redacted.load() == 1);
}

TEST_CASE("JSON nested past 64 levels is left unparsed instead of exhausting the stack",
          "[scrub]") {
  std::string deep(100'000, '[');
  deep += R"({"password":"x"})";
  deep += std::string(100'000, ']');
  const auto before = deep;
  const scrub::JsonRedaction how{[](std::string_view key) { return key == "password"; },
                                 [](std::string_view) { return std::string("redacted"); }, false};
  CHECK(scrub::redact_json_secrets(deep, how) == 0);
  CHECK(deep == before);
  std::string shallow = R"([[[{"password":"x"}]]])";
  CHECK(scrub::redact_json_secrets(shallow, how) == 1);
  CHECK(shallow == R"([[[{"password":"redacted"}]]])");
}
