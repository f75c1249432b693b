// The C++ client against a real segment: spans are read back from the file the way the agent reads
// them (attach, drain every lane, decode).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <filesystem>
#include <map>
#include <set>
#include <span>
#include <string_view>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "shm/segment.hpp"
#include "support/child_process.hpp"
#include "support/segment_spans.hpp"
#include "tailgate/tailgate.hpp"
#include "wire/decode.hpp"

using namespace tailgate;

namespace {

std::vector<model::Span> drain(const std::string& path, model::Resource* resource_out = nullptr) {
  return testing::segment_spans(path, resource_out);
}

const model::AttributeValue* attribute(const model::Span& span, std::string_view key) {
  for (const auto& a : span.attributes)
    if (a.key == key) return &a.value;
  return nullptr;
}

}  // namespace

TEST_CASE("a span carries its name, typed attributes, events, status and parent", "[client]") {
  testing::TempDir dir;
  Tracer tracer({.service_name = "orders",
                 .service_version = "1.4.2",
                 .resource = {{"deployment.environment", "test"}},
                 .directory = dir.file("ring")});
  REQUIRE(tracer.error().empty());
  SpanContext parent_context;
  {
    auto parent = tracer.span("genesis.order.execute_market", {}, SpanKind::Server);
    parent_context = parent.context();
    auto child = tracer.span("genesis.risk.check", parent);
    child.set("order.symbol", "BTCUSDT")
        .set("order.quantity", 0.5)
        .set("order.id", 12345)
        .set("risk.passed", false)
        .set("order.venue", std::string("binance"));
    child.event("risk.limit_hit", {{"limit", "position"}, {"value", std::int64_t{7}}});
    child.error("position limit");
  }
  const auto spans = drain(tracer.segment_path());
  REQUIRE(spans.size() == 2);
  const auto& child = spans[0];  // ended first
  const auto& parent = spans[1];
  CHECK(child.name == "genesis.risk.check");
  CHECK(parent.name == "genesis.order.execute_market");
  CHECK(parent.kind == model::SpanKind::Server);
  CHECK(child.trace_id == parent.trace_id);
  CHECK(child.parent_span_id == parent.span_id);
  CHECK(std::equal(parent.span_id.begin(), parent.span_id.end(), parent_context.span_id.begin()));
  CHECK(parent.parent_span_id == model::SpanId{});
  CHECK(std::get<std::string>(*attribute(child, "order.symbol")) == "BTCUSDT");
  CHECK(std::get<double>(*attribute(child, "order.quantity")) == 0.5);
  CHECK(std::get<std::int64_t>(*attribute(child, "order.id")) == 12345);
  CHECK(std::get<bool>(*attribute(child, "risk.passed")) == false);
  CHECK(std::get<std::string>(*attribute(child, "order.venue")) == "binance");
  REQUIRE(child.events.size() == 1);
  CHECK(child.events[0].name == "risk.limit_hit");
  CHECK(child.events[0].attributes.size() == 2);
  CHECK(child.status == model::StatusCode::Error);
  CHECK(child.status_message == "position limit");
  CHECK(child.start_unix_ns >= parent.start_unix_ns);
  CHECK(child.end_unix_ns >= child.start_unix_ns);
  CHECK(parent.end_unix_ns >= child.end_unix_ns);
  const auto& resource = *child.resource;
  std::map<std::string, std::string> r;
  for (const auto& a : resource.attributes) {
    if (const auto* text = std::get_if<std::string>(&a.value)) r[a.key] = *text;
  }
  // process.pid is an int, as OpenTelemetry's semantic conventions have it.
  const auto pid = std::find_if(resource.attributes.begin(), resource.attributes.end(),
                                [](const auto& a) { return a.key == "process.pid"; });
  REQUIRE(pid != resource.attributes.end());
  CHECK(std::get<std::int64_t>(pid->value) == ::getpid());
  CHECK(r["service.name"] == "orders");
  CHECK(r["service.version"] == "1.4.2");
  CHECK(r["deployment.environment"] == "test");
  CHECK(r["telemetry.sdk.language"] == "cpp");
  CHECK_FALSE(r["host.name"].empty());
}

TEST_CASE("an exception is recorded as OpenTelemetry's event and leaves the status alone",
          "[client]") {
  testing::TempDir dir;
  Tracer tracer({.service_name = "orders", .directory = dir.file("ring")});
  {
    auto handled = tracer.span("genesis.order.place");
    try {
      throw std::runtime_error("venue timeout");
    } catch (const std::exception& e) {
      handled.exception(e);  // handled and retried: not the span's failure
    }
    auto failed = tracer.span("genesis.order.cancel");
    try {
      throw std::out_of_range("no such order");
    } catch (const std::exception& e) {
      failed.exception(e).error(e.what());  // this one fails the span: marked so explicitly
    }
  }
  const auto spans = drain(tracer.segment_path());
  REQUIRE(spans.size() == 2);
  const auto& failed = spans[0].name == "genesis.order.cancel" ? spans[0] : spans[1];
  const auto& handled = spans[0].name == "genesis.order.cancel" ? spans[1] : spans[0];
  CHECK(handled.status == model::StatusCode::Unset);
  CHECK(failed.status == model::StatusCode::Error);
  CHECK(failed.status_message == "no such order");
  REQUIRE(handled.events.size() == 1);
  CHECK(handled.events[0].name == "exception");
  std::map<std::string, std::string> e;
  for (const auto& a : handled.events[0].attributes) e[a.key] = std::get<std::string>(a.value);
  CHECK(e["exception.message"] == "venue timeout");
  CHECK(e["exception.type"] == "std::runtime_error");  // demangled
  REQUIRE(failed.events.size() == 1);
  CHECK(std::get<std::string>(failed.events[0].attributes[0].value) == "std::out_of_range");
}

TEST_CASE("the clock agrees with the system clock, and times are in order", "[client]") {
  testing::TempDir dir;
  Tracer tracer({.service_name = "clock", .directory = dir.file("ring")});
  const auto system_ns = [] {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  };
  const auto before = system_ns();
  const auto ours = tracer.now_ns();
  const auto after = system_ns();
  // Within a millisecond of the system clock (calibration error is microseconds).
  CHECK(ours + 1'000'000 >= before);
  CHECK(ours <= after + 1'000'000);
  std::uint64_t last = 0;
  for (int i = 0; i < 1000; ++i) {
    const auto t = tracer.now_ns();
    CHECK(t >= last);
    last = t;
  }
}

TEST_CASE("W3C traceparent: inject, extract, and the specification's examples", "[client]") {
  const auto parsed =
      SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  REQUIRE(parsed.has_value());
  CHECK(parsed->trace_id_hex() == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(parsed->span_id_hex() == "00f067aa0ba902b7");
  CHECK(parsed->trace_flags == 1);
  CHECK(parsed->traceparent() == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  // Not sampled; a future version with more fields is read by its known part.
  CHECK(SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
            ->trace_flags == 0);
  CHECK(SpanContext::from_traceparent(
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds")
            .has_value());
  for (const auto* bad : {
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // zero trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   // zero span id
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // forbidden version
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   // upper case
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",  // v00 with more
           "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",    // short
           "",
       }) {
    INFO(bad);
    CHECK_FALSE(SpanContext::from_traceparent(bad).has_value());
  }
  testing::TempDir dir;
  Tracer tracer({.service_name = "gateway", .directory = dir.file("ring")});
  std::string header;
  {
    auto outgoing = tracer.span("gateway.call", {}, SpanKind::Client);
    header = outgoing.context().traceparent();
  }
  const auto incoming = SpanContext::from_traceparent(header);
  REQUIRE(incoming.has_value());
  { auto server = tracer.span("orders.handle", *incoming, SpanKind::Server); }
  const auto spans = drain(tracer.segment_path());
  REQUIRE(spans.size() == 2);
  CHECK(spans[1].trace_id == spans[0].trace_id);
  CHECK(spans[1].parent_span_id == spans[0].span_id);
}

TEST_CASE("with no agent the lanes fill, then spans are dropped and counted, never waited for",
          "[client]") {
  testing::TempDir dir;
  Tracer tracer(
      {.service_name = "orders", .directory = dir.file("ring"), .lanes = 1, .lane_bytes = 4096});
  int ended = 0;
  for (int i = 0; i < 200; ++i) {
    auto span = tracer.span("genesis.md.tick");
    span.set("market.symbol", "ETHUSDT");
    ++ended;
  }
  const auto stats = tracer.stats();
  const auto spans = drain(tracer.segment_path());
  CHECK(stats.dropped > 0);
  CHECK(spans.size() + stats.dropped == static_cast<std::size_t>(ended));
}

TEST_CASE("without a segment the tracer says why, and drops and counts", "[client]") {
  testing::TempDir dir;
  std::ofstream(dir.file("not-a-directory")) << "x";
  Tracer tracer({.service_name = "orders", .directory = dir.file("not-a-directory/ring")});
  CHECK_FALSE(tracer.error().empty());
  CHECK_FALSE(tracer.stats().attached);
  { auto span = tracer.span("a"); }
  { auto span = tracer.span("b"); }
  CHECK(tracer.stats().dropped == 2);
}

TEST_CASE("a span past its in-place buffer grows: a 1,500-byte attribute and those after it arrive",
          "[client]") {
  testing::TempDir dir;
  Tracer tracer({.service_name = "orders", .directory = dir.file("ring")});
  const std::string note(1500, 'n');
  {
    auto span = tracer.span("big");
    span.set("first", 1).set("order.note", note);
    for (int i = 0; i < 100; ++i) span.set("attribute.number." + std::to_string(i), i);
    span.event("filled", {{"fill.note", std::string_view(note)}}).error("after all that");
  }
  const auto spans = drain(tracer.segment_path());
  REQUIRE(spans.size() == 1);
  CHECK(spans[0].attributes.size() == 102);
  CHECK(std::get<std::string>(*attribute(spans[0], "order.note")) == note);
  CHECK(std::get<std::int64_t>(*attribute(spans[0], "attribute.number.99")) == 99);
  CHECK(spans[0].events.size() == 1);
  CHECK(spans[0].status_message == "after all that");
  CHECK(spans[0].dropped_attributes == 0);
  CHECK(tracer.stats().dropped_items == 0);
}

TEST_CASE("a name longer than the in-place buffer arrives whole, and an ended span takes no more",
          "[client]") {
  testing::TempDir dir;
  Tracer tracer({.service_name = "orders", .directory = dir.file("ring")});
  const std::string name(1000, 'n');  // with the record's 64 fixed bytes, past the 1 KiB in place
  {
    auto span = tracer.span(name);
    span.set("order.id", 7);
    CHECK(span.end());
    span.set("order.late", true).set("order.note", "after the end");  // ignored, not written
    CHECK_FALSE(span.end());
  }
  const auto spans = drain(tracer.segment_path());
  REQUIRE(spans.size() == 1);
  CHECK(spans[0].name == name);
  REQUIRE(spans[0].attributes.size() == 1);
  CHECK(std::get<std::int64_t>(spans[0].attributes[0].value) == 7);
  CHECK(tracer.stats().dropped == 0);
}

TEST_CASE("what does not fit the largest record is left out and counted on the span itself",
          "[client]") {
  testing::TempDir dir;
  Tracer tracer({.service_name = "orders", .directory = dir.file("ring")});
  const std::string blob(40'000, 'b');
  {
    auto span = tracer.span("too.big");
    span.set("first", "kept").set("blob.1", blob).set("blob.2", blob).set("last", "kept too");
    span.event("huge", {{"blob", std::string_view(blob)}});
  }
  const auto spans = drain(tracer.segment_path());
  REQUIRE(spans.size() == 1);
  CHECK(attribute(spans[0], "first") != nullptr);
  CHECK(attribute(spans[0], "blob.1") != nullptr);
  CHECK(attribute(spans[0], "blob.2") == nullptr);
  CHECK(attribute(spans[0], "last") != nullptr);
  CHECK(spans[0].dropped_attributes == 1);  // exported as OTLP dropped_attributes_count
  CHECK(spans[0].dropped_events == 1);
  CHECK(tracer.stats().dropped_items == 2);
}

TEST_CASE("one tracer per process", "[client]") {
  testing::TempDir dir;
  Tracer tracer({.service_name = "a", .directory = dir.file("ring")});
  CHECK_THROWS_AS(Tracer({.service_name = "b", .directory = dir.file("ring")}), std::logic_error);
}

TEST_CASE("threads beyond the lanes share the overflow lane: every span once, in thread order",
          "[client]") {
  testing::TempDir dir;
  Tracer tracer(
      {.service_name = "orders", .directory = dir.file("ring"), .lanes = 2, .lane_bytes = 1 << 20});
  constexpr int kThreads = 6, kSpans = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&tracer, t] {
      for (int i = 0; i < kSpans; ++i) {
        auto span = tracer.span("worker");
        span.set("thread", t).set("seq", i);
      }
    });
  }
  for (auto& t : threads) t.join();
  const auto spans = drain(tracer.segment_path());
  CHECK(tracer.stats().dropped == 0);
  REQUIRE(spans.size() == kThreads * kSpans);
  std::map<std::int64_t, std::int64_t> next;
  bool ordered = true;
  for (const auto& s : spans) {
    const auto t = std::get<std::int64_t>(*attribute(s, "thread"));
    const auto seq = std::get<std::int64_t>(*attribute(s, "seq"));
    ordered &= seq == next[t];
    next[t] = seq + 1;
  }
  CHECK(ordered);
}

TEST_CASE("a forked child writes into a segment of its own, never into its parent's lanes",
          "[client]") {
  testing::TempDir dir;
  const auto ring = dir.file("ring");
  Tracer tracer({.service_name = "bot", .directory = ring});
  REQUIRE(tracer.error().empty());
  { auto before = tracer.span("parent.before"); }  // the parent's thread has claimed its lane
  const pid_t child = ::fork();
  if (child == 0) {
    // The child: its spans, then straight out (no Catch2, no destructors of the parent's).
    bool ok = true;
    for (int i = 0; i < 100; ++i) {
      auto s = tracer.span("child.span");
      s.set("seq", i);
      ok = s.end() && ok;
    }
    ok = ok && tracer.segment_path().find(std::to_string(::getpid())) != std::string::npos;
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  for (int i = 0; i < 100; ++i) {  // where the child wrote, had it shared the parent's lane
    auto s = tracer.span("parent.after");
    s.set("seq", i);
  }
  // Two segments: the parent's with only its own spans, whole and in order...
  const auto parent_spans = drain(tracer.segment_path());
  REQUIRE(parent_spans.size() == 101);
  CHECK(parent_spans[0].name == "parent.before");
  for (std::size_t i = 1; i < parent_spans.size(); ++i) {
    CHECK(parent_spans[i].name == "parent.after");
    CHECK(std::get<std::int64_t>(*attribute(parent_spans[i], "seq")) ==
          static_cast<std::int64_t>(i - 1));
  }
  // ... and the child's, with the child's pid in its resource.
  std::string child_path;
  for (const auto& entry : std::filesystem::directory_iterator(ring)) {
    if (entry.path().string() != tracer.segment_path()) child_path = entry.path().string();
  }
  REQUIRE(!child_path.empty());
  model::Resource resource;
  const auto child_spans = drain(child_path, &resource);
  REQUIRE(child_spans.size() == 100);
  CHECK(child_spans.front().name == "child.span");
  // Ids of its own too: the child's generator was the parent's, copied, until it reseeded.
  std::set<model::SpanId> parent_ids;
  for (const auto& s : parent_spans) parent_ids.insert(s.span_id);
  for (const auto& s : child_spans) CHECK(parent_ids.count(s.span_id) == 0);
  CHECK(std::get<std::int64_t>(*[&] {
          for (const auto& a : resource.attributes)
            if (a.key == "process.pid") return &a.value;
          return static_cast<const model::AttributeValue*>(nullptr);
        }()) == child);
}

TEST_CASE("array attributes arrive as arrays of their type, in spans and events", "[client]") {
  testing::TempDir dir;
  Tracer tracer({.service_name = "orders", .directory = dir.file("ring")});
  REQUIRE(tracer.error().empty());
  const std::vector<std::string_view> venues = {"binance", "okx"};
  const std::vector<std::int64_t> fills = {5, -7};
  const std::array<double, 1> prices = {0.25};
  const std::array<bool, 2> checks = {true, false};
  {
    auto span = tracer.span("genesis.order.execute_market");
    span.set("order.venues", venues)
        .set("order.fills", fills)
        .set("order.prices", prices)
        .set("risk.checks", checks);
    span.event("fills", {{"fill.ids", wire::ArrayView(std::span<const std::int64_t>(fills))}});
  }
  const auto spans = drain(tracer.segment_path());
  REQUIRE(spans.size() == 1);
  const auto& span = spans[0];
  const auto array = [](auto v) { return model::AttributeValue(model::ArrayValue(std::move(v))); };
  CHECK(*attribute(span, "order.venues") == array(std::vector<std::string>{"binance", "okx"}));
  CHECK(*attribute(span, "order.fills") == array(std::vector<std::int64_t>{5, -7}));
  CHECK(*attribute(span, "order.prices") == array(std::vector<double>{0.25}));
  CHECK(*attribute(span, "risk.checks") == array(std::vector<bool>{true, false}));
  REQUIRE(span.events.size() == 1);
  CHECK(span.events[0].attributes.at(0).value == array(std::vector<std::int64_t>{5, -7}));
}
