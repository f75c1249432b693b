// The C++ client's context: the current span per thread, explicit and remote parents, and trace
// ids in fmt and spdlog output. Spans are read back from the real segment, as the agent reads them.
#include <map>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "shm/segment.hpp"
#include "support/child_process.hpp"
#include "support/segment_spans.hpp"
#include "tailgate/fmt.hpp"
#include "tailgate/spdlog.hpp"
#include "tailgate/tailgate.hpp"
#include "wire/decode.hpp"

using namespace tailgate;

namespace {

std::map<std::string, model::Span> drain_by_name(const std::string& path) {
  std::map<std::string, model::Span> spans;
  for (auto& span : testing::segment_spans(path)) spans[span.name] = std::move(span);
  return spans;
}

bool same(const model::SpanId& a, const std::array<std::uint8_t, 8>& b) {
  return std::equal(a.begin(), a.end(), b.begin());
}

void order_flow(Tracer& tracer) {  // instrumented code that is handed no span
  auto span = tracer.span("genesis.order.place");
  span.set("order.symbol", "BTCUSDT");
}

}  // namespace

TEST_CASE("a span started without a parent is a child of the thread's current span", "[client]") {
  testing::TempDir dir;
  Tracer tracer({.service_name = "orders", .directory = dir.file("ring")});
  CHECK(current_span() == nullptr);
  CHECK_FALSE(current_context().valid());
  SpanContext root_context, risk_context;
  {
    auto root = tracer.span("genesis.signal.handle");
    root_context = root.context();
    CHECK(current_span() == &root);
    {
      auto risk = tracer.span("genesis.risk.check");
      risk_context = risk.context();
      CHECK(current_span() == &risk);
      order_flow(tracer);  // a child of risk
      CHECK(current_span() == &risk);
    }
    CHECK(current_span() == &root);
    auto fresh = tracer.root_span("genesis.marketdata.tick");  // a new trace on purpose
    CHECK(fresh.context().trace_id != root_context.trace_id);
  }
  CHECK(current_span() == nullptr);
  auto spans = drain_by_name(tracer.segment_path());
  REQUIRE(spans.size() == 4);
  CHECK(spans["genesis.signal.handle"].is_root());
  CHECK(same(spans["genesis.risk.check"].parent_span_id, root_context.span_id));
  CHECK(same(spans["genesis.order.place"].parent_span_id, risk_context.span_id));
  CHECK(spans["genesis.order.place"].trace_id == spans["genesis.signal.handle"].trace_id);
  CHECK(spans["genesis.marketdata.tick"].is_root());
  for (const auto& [name, span] : spans) CHECK_FALSE(span.parent_is_remote);
}

TEST_CASE("each thread has its own current span", "[client]") {
  testing::TempDir dir;
  Tracer tracer({.service_name = "orders", .directory = dir.file("ring")});
  auto main_span = tracer.span("main.loop");
  SpanContext seen_by_worker{.trace_flags = 0};
  std::thread worker([&] {
    seen_by_worker = current_context();  // the main thread's span is not this thread's
    auto own = tracer.span("worker.job");
  });
  worker.join();
  main_span.end();
  CHECK_FALSE(seen_by_worker.valid());
  auto spans = drain_by_name(tracer.segment_path());
  CHECK(spans["worker.job"].is_root());
  CHECK(spans["worker.job"].trace_id != spans["main.loop"].trace_id);
}

TEST_CASE("an outer span ended early leaves the current chain intact", "[client]") {
  testing::TempDir dir;
  Tracer tracer({.service_name = "orders", .directory = dir.file("ring")});
  auto outer = tracer.span("outer");
  {
    auto inner = tracer.span("inner");
    outer.end();  // not the innermost: unlinked where it stands
    CHECK(current_span() == &inner);
  }
  CHECK(current_span() == nullptr);  // not the ended outer span
  auto after = tracer.span("after");
  CHECK(after.context().trace_id != outer.context().trace_id);
}

TEST_CASE("a parent from a traceparent is remote: the span is the local root", "[client]") {
  testing::TempDir dir;
  Tracer tracer({.service_name = "orders", .directory = dir.file("ring")});
  const auto incoming =
      SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  REQUIRE(incoming);
  CHECK(incoming->remote);
  {
    auto server = tracer.span("orders.handle", *incoming, SpanKind::Server);
    CHECK_FALSE(server.context().remote);
    auto child = tracer.span("orders.validate");
  }
  auto spans = drain_by_name(tracer.segment_path());
  const auto& server = spans["orders.handle"];
  CHECK(server.parent_is_remote);
  CHECK(server.is_local_root());
  CHECK_FALSE(server.is_root());
  CHECK(same(server.parent_span_id, incoming->span_id));
  CHECK_FALSE(spans["orders.validate"].parent_is_remote);
  CHECK_FALSE(spans["orders.validate"].is_local_root());
}

TEST_CASE("fmt prints a span context's ids", "[client]") {
  const auto c =
      SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  REQUIRE(c);
  CHECK(fmt::format("{}", *c) ==
        "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7");
  CHECK(fmt::format("{:t}/{:s}", *c, *c) == "4bf92f3577b34da6a3ce929d0e0e4736/00f067aa0ba902b7");
  CHECK(fmt::format("{:p}", *c) == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  CHECK(fmt::format("[{}]", SpanContext{}) == "[trace_id= span_id=]");
}

TEST_CASE("spdlog lines carry the current span's ids", "[client]") {
  testing::TempDir dir;
  Tracer tracer({.service_name = "orders", .directory = dir.file("ring")});
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(out);
  spdlog::logger log("orders", sink);
  log.set_formatter(log::pattern_formatter("%l [%&/%*] %v"));
  SpanContext context;
  {
    auto span = tracer.span("genesis.order.execute_market");
    context = span.context();
    log.info("filled {}", 42);
    log.info("again [{}]", current_context());
  }
  log.info("idle");
  std::istringstream lines(out.str());
  std::string inside, again, idle;
  std::getline(lines, inside);
  std::getline(lines, again);
  std::getline(lines, idle);
  CHECK(inside == "info [" + context.trace_id_hex() + "/" + context.span_id_hex() + "] filled 42");
  CHECK(again == "info [" + context.trace_id_hex() + "/" + context.span_id_hex() +
                     "] again [trace_id=" + context.trace_id_hex() +
                     " span_id=" + context.span_id_hex() + "]");
  CHECK(idle == "info [/] idle");
}
