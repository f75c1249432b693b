// Attribute keys after a burst of junk keys (outside attack: 5,000 keys sent once filled the one
// key table for good, every later buffered span's keys inline, 170 -> 251 B RSS a span): the trace
// table and the hold intern them again in a fresh table, a trace that began before still decodes
// field for field, the old table is counted while a trace refers to it and freed after.
// Written against the trace table's, the hold's and the pipeline's own interfaces only, so that
// the same file builds against the single table this replaced (and fails there).

#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "pipeline/hold.hpp"
#include "pipeline/trace_table.hpp"
#include "support/packed_span.hpp"
#include "support/pipeline_harness.hpp"
#include "support/span_builder.hpp"
#include "wire/pack.hpp"

using namespace tailgate;

namespace {

constexpr std::uint64_t kJunkTrace = 999'999;

// Span `index` of trace `trace`, never failed (a failed one carries a status message: a few
// bytes more), so that spans of one index cost the same bytes whatever their trace.
model::Span normal_span(std::uint64_t trace, std::uint64_t index) {
  auto s = testing::make_span(trace, index, nullptr);
  s.status = model::StatusCode::Unset;
  s.status_message.clear();
  return s;
}

// 5,000 keys never seen before, once: 50 spans of 100 attributes, of one trace.
std::vector<model::Span> junk_spans() {
  std::vector<model::Span> spans;
  for (std::uint64_t n = 0; n < 50; ++n) {
    auto s = normal_span(kJunkTrace, n);
    s.attributes.clear();
    for (std::uint64_t k = 0; k < 100; ++k) {
      s.attributes.push_back({"junk." + std::to_string(n * 100 + k), std::int64_t{1}});
    }
    spans.push_back(std::move(s));
  }
  return spans;
}

// Span 1 of trace `trace`, its keys renamed: keys the table has not seen.
model::Span renamed_span(std::uint64_t trace) {
  auto s = normal_span(trace, 1);
  for (auto& a : s.attributes) a.key = "venue." + a.key;
  return s;
}

// What a one-span trace (`make`) costs the table after `traces` traces of such traffic (each
// taken out at once), the keys of the first ones turned away if the table is full.
std::size_t bytes_after_traffic(pipeline::TraceTable& table, std::uint64_t first,
                                std::uint64_t traces,
                                model::Span (*make)(std::uint64_t) = renamed_span) {
  std::size_t bytes = 0;
  for (std::uint64_t t = first; t < first + traces; ++t) {
    bytes = table.add(make(t), 0).bytes;
    (void)table.take(testing::trace_id_of(t));
  }
  return bytes;
}

}  // namespace

TEST_CASE("after junk keys sent once, later spans intern their keys again", "[pipeline]") {
  pipeline::TraceTable fresh(1'000'000'000);
  const auto interned = fresh.add(renamed_span(1), 0).bytes;
  pipeline::TraceTable table(1'000'000'000);
  for (auto& s : junk_spans()) table.add(std::move(s), 0);
  const auto junk_bytes = table.find(testing::trace_id_of(kJunkTrace))->bytes;
  // At first the table is full: keys inline, the span larger.
  CHECK(bytes_after_traffic(table, 10, 1) > interned);
  // A few thousand keys turned away later, new traces intern in a fresh table.
  CHECK(bytes_after_traffic(table, 11, 2000) == interned);
  // The junk's table lives on for its trace, and is counted with it until it goes.
  CHECK(table.bytes() > junk_bytes + 64 * 1024);
  (void)table.take(testing::trace_id_of(kJunkTrace));
  CHECK(table.bytes() == 0);
}

TEST_CASE("traces begun before a new key table still decode field for field", "[pipeline]") {
  pipeline::TraceTable table(1'000'000'000);
  pipeline::Hold hold(1'000'000'000, 1u << 30, &table.keys());
  std::map<model::SpanId, model::Span> sent;
  const auto to_table = [&](std::uint64_t trace, std::uint64_t index) {
    auto s = normal_span(trace, index);
    sent[s.span_id] = s;
    table.add(std::move(s), 0);
  };
  const auto to_hold = [&](std::uint64_t trace, std::uint64_t index) {
    auto s = normal_span(trace, index);
    sent[s.span_id] = s;
    hold.add(s.trace_id, std::move(s), 0);
  };
  const auto id = testing::trace_id_of;
  // Before: A stays in the table; B's first spans go to the hold whole; C waits in the table.
  to_table(100, 0);
  to_table(200, 0);
  to_table(200, 1);
  hold.add(id(200), table.take(id(200)), 0);
  to_table(300, 0);
  pipeline::TraceTable fresh(1'000'000'000);
  const auto interned = fresh.add(renamed_span(1), 0).bytes;
  for (auto& s : junk_spans()) table.add(std::move(s), 0);
  (void)table.take(id(kJunkTrace));
  // Traffic with keys the full table turns away, until a new table takes them.
  CHECK(bytes_after_traffic(table, 1000, 1) > interned);
  REQUIRE(bytes_after_traffic(table, 1001, 2000) == interned);
  // After: A and B take later spans in the table they began in; C's late span reaches the hold
  // first (a new trace there), then its earlier spans join it, written again; D is new.
  to_table(100, 1);
  to_table(100, 2);
  to_hold(200, 2);
  to_hold(300, 1);
  hold.add(id(300), table.take(id(300)), 0);
  to_table(400, 0);
  to_table(400, 1);
  hold.add(id(400), table.take(id(400)), 0);

  std::size_t compared = 0;
  const auto compare = [&](model::PackedSpans&& spans) {
    for (const auto& out : wire::take_spans(std::move(spans))) {
      const auto it = sent.find(out.span_id);
      REQUIRE(it != sent.end());
      testing::check_same_span(out, it->second);
      CHECK(out.resource == it->second.resource);
      ++compared;
    }
  };
  compare(table.take(id(100)));
  for (const auto trace : {200, 300, 400}) compare(hold.take(id(trace)));
  CHECK(compared == sent.size());
  // Nothing refers to the old table any more: nothing counted.
  CHECK(table.bytes() == 0);
  CHECK(hold.spans() == 0);
}

TEST_CASE("junk keys then normal traffic: buffered bytes as without the junk, the identity holds",
          "[pipeline]") {
  const auto send_normal = [](testing::Harness& h, std::uint64_t first, std::uint64_t traces) {
    for (std::uint64_t t = first; t < first + traces; ++t) {
      h.send({normal_span(t, 0), normal_span(t, 1)}, 0);
    }
  };
  const auto decide_all = [](testing::Harness& h) {
    h.pipeline.decide_all(telemetry::DecisionTrigger::Shutdown);
    h.pipeline.flush();
  };
  // Without the junk: what 100 traces cost once blocks have learnt how such traces grow.
  testing::Harness clean(testing::keep_all());
  send_normal(clean, 1, 1000);
  decide_all(clean);
  send_normal(clean, 5000, 100);
  const auto expected = clean.pipeline.table().bytes();

  testing::Harness h(testing::keep_all());
  h.send(junk_spans(), 0);
  send_normal(h, 1, 1000);
  decide_all(h);
  CHECK(h.accounts());
  // The junk's trace gone, its table with it; the same traffic costs what it does without the
  // junk (within how blocks grow: keys inline cost ~100 bytes a trace).
  send_normal(h, 5000, 100);
  CHECK(h.pipeline.table().bytes() <= expected + 100 * 16);
  h.pipeline.tick(0);  // publishes the gauges: /metrics says a table was replaced
  CHECK(h.counters.key_tables_renewed.load() == 1);
  CHECK(h.counters.key_tables_live.load() >= 1);
  decide_all(h);
  CHECK(h.accounts());
  CHECK(h.exported() == 50 + 2000 + 200);
  CHECK(h.pipeline.table().bytes() == 0);
}
