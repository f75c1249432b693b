// Redaction and limits on kept spans, as the pipeline applies them before export.
#include "scrub/scrubber.hpp"

#include <catch2/catch.hpp>

#include "scrub/utf8.hpp"
#include "support/span_builder.hpp"

using namespace tailgate;

namespace {

const model::AttributeValue* value_of(const std::vector<model::Attribute>& attrs,
                                      std::string_view key) {
  for (const auto& a : attrs)
    if (a.key == key) return &a.value;
  return nullptr;
}

std::uint64_t limited(const telemetry::Counters& c, telemetry::Limit l) {
  return c.limits_applied[static_cast<std::size_t>(l)].load();
}

}  // namespace

TEST_CASE("the default keys catch the secrets the trading guides name, in any letter case",
          "[scrub]") {
  telemetry::Counters counters;
  scrub::Scrubber s(config::RedactionConfig{}, config::LimitsConfig{}, counters);
  for (int pass = 0; pass < 2; ++pass) {  // the second pass answers from the verdict cache
    INFO("pass " << pass);
    for (const auto* key : {"api_key", "exchange.API_KEY", "binance.apiKey", "x-api-key", "secret",
                            "client_secret", "db.password", "auth.token", "Authorization",
                            "user_id", "user.id", "account_id", "private_key"}) {
      INFO(key);
      CHECK(s.secret(key));
    }
    for (const auto* key : {"order.id", "order.symbol", "risk.passed", "service.name", "user"}) {
      INFO(key);
      CHECK_FALSE(s.secret(key));
    }
  }
}

TEST_CASE("verdicts stay right past the cache's bound, keys differing only in case apart",
          "[scrub]") {
  telemetry::Counters counters;
  scrub::Scrubber s(config::RedactionConfig{}, config::LimitsConfig{}, counters);
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < 10'000; ++i) {
      const auto key = "k" + std::to_string(i) + (i % 3 == 0 ? ".Token" : ".price");
      INFO(key);
      REQUIRE(s.secret(key) == (i % 3 == 0));
    }
  }
  CHECK(s.secret("PASSWORD"));
  CHECK(s.secret("password"));
  CHECK_FALSE(s.secret("pass"));
}

TEST_CASE("hash replaces a secret by its keyed HMAC-SHA256, in span and event attributes",
          "[scrub]") {
  telemetry::Counters counters;
  config::RedactionConfig redaction;
  redaction.hash_key = "desk-7-key";
  scrub::Scrubber s(redaction, config::LimitsConfig{}, counters);
  auto span = testing::make_span(1, 1, nullptr);
  span.attributes.push_back({"api_key", std::string("sk-live-123")});
  span.attributes.push_back({"user_id", std::int64_t{42}});
  span.events[0].attributes.push_back({"auth.token", std::string("sk-live-123")});
  s.apply(span);
  // HMAC-SHA256("desk-7-key", ...), first 16 bytes, computed independently (Python's hmac).
  CHECK(std::get<std::string>(*value_of(span.attributes, "api_key")) ==
        "hmac-sha256:896199be51ea44a75c451dc62abf1ab1");
  CHECK(std::get<std::string>(*value_of(span.attributes, "user_id")) ==
        "hmac-sha256:aea99e7aabb4ccd959333be60b72b4b9");
  CHECK(std::get<std::string>(*value_of(span.events[0].attributes, "auth.token")) ==
        "hmac-sha256:896199be51ea44a75c451dc62abf1ab1");  // same value, same hash
  CHECK(std::get<std::string>(*value_of(span.attributes, "order.symbol")) == "BTCUSDT");
  CHECK(counters.attributes_redacted.load() == 3);
}

TEST_CASE("link attributes are redacted and their values cut like the span's own", "[scrub]") {
  telemetry::Counters counters;
  config::RedactionConfig redaction;
  redaction.hash_key = "desk-7-key";
  config::LimitsConfig limits;
  limits.max_attribute_value_bytes = 48;  // the hash (44 bytes) fits
  scrub::Scrubber s(redaction, limits, counters);
  auto span = testing::make_span(1, 1, nullptr);
  span.links.push_back(
      {testing::trace_id_of(2),
       testing::span_id_of(3),
       "",
       {{"api_key", std::string("sk-live-123")},
        {"order.note", std::string("a note for the desk, longer than forty-eight bytes")}}});
  s.apply(span);
  const auto& link = span.links[0].attributes;
  CHECK(std::get<std::string>(*value_of(link, "api_key")) ==
        "hmac-sha256:896199be51ea44a75c451dc62abf1ab1");  // as the span's own api_key hashes
  CHECK(std::get<std::string>(*value_of(link, "order.note")).size() <= 48);
  CHECK(counters.attributes_redacted.load() == 1);
  CHECK(limited(counters, telemetry::Limit::AttributeValueBytes) == 1);
}

TEST_CASE("remove leaves the secret out, and an empty key list redacts nothing", "[scrub]") {
  telemetry::Counters counters;
  config::RedactionConfig remove;
  remove.action = config::RedactionAction::Remove;
  scrub::Scrubber s(remove, config::LimitsConfig{}, counters);
  auto span = testing::make_span(1, 0, nullptr);
  span.attributes.push_back({"password", std::string("hunter2")});
  const auto before = span.attributes.size();
  s.apply(span);
  CHECK(span.attributes.size() == before - 1);
  CHECK(value_of(span.attributes, "password") == nullptr);

  config::RedactionConfig off;
  off.keys.clear();
  scrub::Scrubber none(off, config::LimitsConfig{}, counters);
  span.attributes.push_back({"password", std::string("hunter2")});
  none.apply(span);
  CHECK(value_of(span.attributes, "password") != nullptr);
}

TEST_CASE("limits cut values and names at a character boundary and count what they leave out",
          "[scrub]") {
  telemetry::Counters counters;
  config::LimitsConfig limits;
  limits.max_attribute_value_bytes = 16;
  limits.max_span_name_bytes = 10;
  limits.max_attributes_per_span = 3;
  limits.max_events_per_span = 1;
  scrub::Scrubber s(config::RedactionConfig{}, limits, counters);
  auto span = testing::make_span(1, 1, nullptr);  // 4 attributes, 1 event
  span.name = "genesis.order.execute_market";
  span.attributes[0].value = std::string("ééééééééééé");  // 22 bytes of 2-byte characters
  span.events.push_back(span.events[0]);
  span.events.push_back(span.events[0]);
  s.apply(span);
  const auto& cut = std::get<std::string>(span.attributes[0].value);
  CHECK(cut == "éééééé\xE2\x80\xA6");  // 12 + 3 bytes: the next é would not fit with the mark
  CHECK(cut.size() <= 16);
  CHECK(span.name == "genesis\xE2\x80\xA6");
  CHECK(span.attributes.size() == 3);
  CHECK(span.dropped_attributes == 1);
  CHECK(span.events.size() == 1);
  CHECK(span.dropped_events == 2);
  CHECK(limited(counters, telemetry::Limit::AttributeValueBytes) == 1);
  CHECK(limited(counters, telemetry::Limit::SpanNameBytes) == 1);
  CHECK(limited(counters, telemetry::Limit::AttributesPerSpan) == 1);
  CHECK(limited(counters, telemetry::Limit::EventsPerSpan) == 2);
}

TEST_CASE("a resource's secrets are redacted and its long values cut, once per resource",
          "[scrub]") {
  telemetry::Counters counters;
  config::RedactionConfig redaction;
  redaction.hash_key = "desk-7-key";
  config::LimitsConfig limits;
  limits.max_attribute_value_bytes = 48;
  scrub::Scrubber s(redaction, limits, counters);
  const auto leaky = std::make_shared<const model::Resource>(model::Resource{
      {{"service.name", std::string("orders")},
       {"vault.token", std::string("sk-live-123")},
       {"deployment.note", std::string("a note for the desk, longer than forty-eight bytes")}},
      {"genesis", "1.0"}});
  const auto clean = std::make_shared<const model::Resource>(
      model::Resource{{{"service.name", std::string("risk")}}, {}});
  auto a = testing::make_span(1, 1, nullptr), b = testing::make_span(1, 2, nullptr),
       c = testing::make_span(2, 3, nullptr);
  a.resource = b.resource = leaky;
  c.resource = clean;
  s.apply(a);
  s.apply(b);
  s.apply(c);
  REQUIRE(a.resource != leaky);
  CHECK(b.resource == a.resource);  // one copy, shared as the original was: export groups by it
  CHECK(c.resource == clean);       // nothing to scrub: the resource itself
  const auto& attrs = a.resource->attributes;
  CHECK(std::get<std::string>(*value_of(attrs, "vault.token")) ==
        "hmac-sha256:896199be51ea44a75c451dc62abf1ab1");
  CHECK(std::get<std::string>(*value_of(attrs, "deployment.note")).size() <= 48);
  CHECK(std::get<std::string>(*value_of(attrs, "service.name")) == "orders");
  CHECK(a.resource->scope == leaky->scope);
  // The original, which the receiver may still hand out, is untouched.
  CHECK(std::get<std::string>(*value_of(leaky->attributes, "vault.token")) == "sk-live-123");
  CHECK(counters.attributes_redacted.load() == 1);
  CHECK(limited(counters, telemetry::Limit::AttributeValueBytes) == 1);
}

TEST_CASE("default keys: dot, dash and camel forms of secrets and cookies, ordinary keys untouched",
          "[scrub]") {
  telemetry::Counters counters;
  scrub::Scrubber s(config::RedactionConfig{}, config::LimitsConfig{}, counters);
  for (const auto* key :
       {"private.key", "private-key", "Private_Key", "tls.privateKey", "api.key", "cookie",
        "Cookie", "set-cookie", "http.request.header.cookie", "http.response.header.set-cookie",
        "aws.access_key_id", "db.connection_string", "ssh.passphrase", "user-id"}) {
    INFO(key);
    CHECK(s.secret(key));
  }
  for (const auto* key : {"http.status_code", "http.response.status_code", "keyboard.layout",
                          "messaging.kafka.message.key", "cache.key", "url.full", "user.name"}) {
    INFO(key);
    CHECK_FALSE(s.secret(key));
  }
}

TEST_CASE("URL passwords are redacted in span, event, link and resource values and status",
          "[scrub]") {
  telemetry::Counters counters;
  scrub::Scrubber s(config::RedactionConfig{}, config::LimitsConfig{}, counters);
  auto resource = std::make_shared<model::Resource>();
  resource->attributes.push_back({"db.url", std::string("postgres://u:SECRET@h/db")});
  auto span = testing::make_span(1, 1, resource);
  span.attributes.push_back({"db.url", std::string("postgres://u:SECRET@h/db")});
  span.attributes.push_back({"proxy", std::string("via https://bob:p/ss@proxy:3128 ok")});
  span.attributes.push_back({"plain", std::string("https://h:8080/x?mail=a@b.com")});
  span.attributes.push_back({"user_only", std::string("ssh://git@github.com/x")});
  span.events[0].attributes.push_back({"dsn", std::string("redis://:SECRET@h:6379")});
  span.status_message = "connect amqp://guest:SECRET@mq failed";
  span.trace_state = "vendor=https://svc:hunter2@h/cb,ot=th:0";
  s.apply(span);
  CHECK(std::get<std::string>(*value_of(span.attributes, "db.url")) ==
        "postgres://u:REDACTED@h/db");
  CHECK(std::get<std::string>(*value_of(span.attributes, "proxy")) ==
        "via https://bob:REDACTED@proxy:3128 ok");
  CHECK(std::get<std::string>(*value_of(span.attributes, "plain")) ==
        "https://h:8080/x?mail=a@b.com");
  CHECK(std::get<std::string>(*value_of(span.attributes, "user_only")) == "ssh://git@github.com/x");
  CHECK(std::get<std::string>(*value_of(span.events[0].attributes, "dsn")) ==
        "redis://:REDACTED@h:6379");
  CHECK(span.status_message == "connect amqp://guest:REDACTED@mq failed");
  CHECK(span.trace_state == "vendor=https://svc:REDACTED@h/cb,ot=th:0");
  CHECK(std::get<std::string>(*value_of(span.resource->attributes, "db.url")) ==
        "postgres://u:REDACTED@h/db");
}

TEST_CASE("text that is not UTF-8 leaves as U+FFFD, so one bad span cannot sink a batch",
          "[scrub]") {
  // A backend's protobuf refuses a whole request over one invalid string: before this, one
  // datagram with the name "bad\xff" cost the ten other producers' spans in its batch.
  telemetry::Counters counters;
  scrub::Scrubber s(config::RedactionConfig{}, config::LimitsConfig{}, counters);
  auto resource = std::make_shared<model::Resource>();
  resource->attributes.push_back({"host.name", std::string("h\xc3")});  // truncated sequence
  auto span = testing::make_span(1, 1, resource);
  span.name = "bad\xff";
  span.status_message = "\xed\xa0\x80x";  // a surrogate
  span.attributes.push_back({"k\xfe", std::string("v\xff\xfe")});
  span.attributes.push_back({"ok", std::string("caf\xc3\xa9 \xf0\x9f\x93\x88")});  // valid
  span.events[0].name = "\xc0\xaf";                                                // overlong '/'
  s.apply(span);
  const std::string r(scrub::kReplacementCharacter);
  CHECK(span.name == "bad" + r);
  CHECK(span.status_message == r + r + r + "x");
  CHECK(span.attributes[span.attributes.size() - 2].key == "k" + r);
  CHECK(std::get<std::string>(*value_of(span.attributes, "k" + r)) == "v" + r + r);
  CHECK(std::get<std::string>(*value_of(span.attributes, "ok")) == "caf\xc3\xa9 \xf0\x9f\x93\x88");
  CHECK(span.events[0].name == r + r);
  CHECK(std::get<std::string>(*value_of(span.resource->attributes, "host.name")) == "h" + r);
  CHECK(std::get<std::string>(*value_of(resource->attributes, "host.name")) == "h\xc3");
  // Counted, string by string: name, status message, key, value, event name, resource value.
  CHECK(counters.utf8_strings_repaired.load() == 6);
}

TEST_CASE("an array's elements are redacted, repaired and cut one by one, in spans and resources",
          "[scrub]") {
  telemetry::Counters counters;
  config::RedactionConfig redaction;
  redaction.hash_key = "desk-7-key";
  config::LimitsConfig limits;
  limits.max_attribute_value_bytes = 48;
  scrub::Scrubber s(redaction, limits, counters);
  const auto texts = [](std::vector<std::string> v) {
    return model::AttributeValue(model::ArrayValue(std::move(v)));
  };
  auto resource = std::make_shared<model::Resource>();
  resource->attributes.push_back({"db.urls", texts({"postgres://u:SECRET@h/db"})});
  auto span = testing::make_span(1, 1, resource);
  span.attributes.push_back({"api_key", texts({"sk-live-123", "sk-live-123"})});
  span.attributes.push_back({"user_id", model::ArrayValue(std::vector<std::int64_t>{42})});
  span.attributes.push_back({"order.notes", texts({std::string(100, 'n'), "ok", "bad\xff"})});
  span.events[0].attributes.push_back({"proxies", texts({"https://bob:pw@proxy:3128"})});
  s.apply(span);
  // The hashes of the same values as scalars (see the hash test above): an array of them.
  CHECK(*value_of(span.attributes, "api_key") ==
        texts({"hmac-sha256:896199be51ea44a75c451dc62abf1ab1",
               "hmac-sha256:896199be51ea44a75c451dc62abf1ab1"}));
  CHECK(*value_of(span.attributes, "user_id") ==
        texts({"hmac-sha256:aea99e7aabb4ccd959333be60b72b4b9"}));
  const auto& notes = std::get<std::vector<std::string>>(
      std::get<model::ArrayValue>(*value_of(span.attributes, "order.notes")));
  REQUIRE(notes.size() == 3);
  CHECK((notes[0].size() <= 48 && notes[0].ends_with("\xE2\x80\xA6")));
  CHECK(notes[1] == "ok");
  CHECK(notes[2] == "bad\xEF\xBF\xBD");
  CHECK(*value_of(span.events[0].attributes, "proxies") ==
        texts({"https://bob:REDACTED@proxy:3128"}));
  CHECK(*value_of(span.resource->attributes, "db.urls") == texts({"postgres://u:REDACTED@h/db"}));
  CHECK(counters.attributes_redacted.load() == 2);
  CHECK(limited(counters, telemetry::Limit::AttributeValueBytes) == 1);
}

TEST_CASE("a resource scrubbed once is not kept alive by the scrubber's memory of it", "[scrub]") {
  // Outside attack: the scrubber held the last 1,024 resources it saw, each as large as a request
  // (3 MB each: gigabytes with nothing buffered).
  telemetry::Counters counters;
  scrub::Scrubber s(config::RedactionConfig{}, config::LimitsConfig{}, counters);
  for (const bool secret : {true, false}) {
    INFO("with a secret: " << secret);
    auto resource = std::make_shared<const model::Resource>(model::Resource{
        {{secret ? "api_key" : "service.name", std::string(secret ? 1 << 20 : 100, 'x')}}});
    const std::weak_ptr<const model::Resource> original = resource;
    std::shared_ptr<const model::Resource> left[2];
    for (auto& out : left) {
      auto span = testing::make_span(1, 0, resource);
      s.apply(span);
      out = span.resource;
    }
    CHECK(left[0] == left[1]);  // worked out once, remembered
    CHECK((left[0] == resource) == !secret);
    resource.reset();
    left[0].reset();
    left[1].reset();
    CHECK(original.expired());
  }
}
