// Resources counted once per store (model/resource_ledger.hpp): the ledger itself, a trace's
// block naming its resources in it (model/packed_spans.hpp), and the hand-off queue's bytes.
#include "model/resource_ledger.hpp"

#include <catch2/catch.hpp>

#include "model/packed_spans.hpp"
#include "model/resource_memo.hpp"
#include "model/span_queue.hpp"

using namespace tailgate;

namespace {

std::shared_ptr<const model::Resource> resource_of(std::size_t value_bytes, char fill = 'r') {
  return std::make_shared<const model::Resource>(
      model::Resource{{{"service.name", std::string(value_bytes, fill)}}});
}

}  // namespace

TEST_CASE("ledger: a resource named by many costs its size once, until the last lets go",
          "[model]") {
  model::ResourceLedger ledger;
  const auto big = resource_of(1 << 20), other = resource_of(100);
  const auto cost = model::ResourceLedger::cost(*big);
  CHECK(cost > (1u << 20));
  for (int i = 0; i < 3; ++i) ledger.acquire(big.get());
  CHECK(ledger.bytes() == cost);
  ledger.acquire(other.get());
  CHECK(ledger.bytes() == cost + model::ResourceLedger::cost(*other));
  CHECK(ledger.resources() == 2);
  for (int i = 0; i < 2; ++i) ledger.release(big.get());
  CHECK(ledger.bytes() == cost + model::ResourceLedger::cost(*other));
  ledger.release(big.get());
  ledger.release(other.get());
  CHECK(ledger.bytes() == 0);
  CHECK(ledger.resources() == 0);
  ledger.release(other.get());  // never more than it was given
  CHECK(ledger.bytes() == 0);
}

TEST_CASE("ledger: a resource named again after its last user let go is counted again", "[model]") {
  model::ResourceLedger ledger;
  const auto small = resource_of(10), big = resource_of(1 << 16);
  for (int round = 0; round < 2; ++round) {
    ledger.acquire(small.get());
    CHECK(ledger.bytes() == model::ResourceLedger::cost(*small));
    ledger.release(small.get());
    CHECK(ledger.bytes() == 0);
  }
  ledger.acquire(small.get());
  ledger.acquire(big.get());
  ledger.release(small.get());  // not the last named: looked up, let go
  CHECK(ledger.bytes() == model::ResourceLedger::cost(*big));
  CHECK(ledger.resources() == 1);
  ledger.release(big.get());
  CHECK(ledger.bytes() == 0);
}

TEST_CASE("packed spans name each resource once in their ledger and let go when destroyed",
          "[model]") {
  const auto keys = std::make_shared<const model::KeyTable>();
  model::ResourceLedger ledger;
  const auto a = resource_of(4096, 'a'), b = resource_of(4096, 'b');
  const auto both = model::ResourceLedger::cost(*a) + model::ResourceLedger::cost(*b);
  {
    model::PackedSpans first, second;
    first.bind(&ledger);
    second.bind(&ledger);
    first.start(model::TraceId{1}, keys);
    second.start(model::TraceId{2}, keys);
    for (const auto& r : {a, b, a}) CHECK(first.resource_index(r).has_value());
    CHECK(second.resource_index(b) == std::optional<std::uint16_t>{0});
    CHECK(ledger.bytes() == both);
    CHECK(first.memory_bytes() < 1024);  // the resources are the ledger's to count, not the trace's
    // Moved, the trace takes its binding along: nothing is let go.
    model::PackedSpans moved(std::move(first));
    CHECK(moved.ledger() == &ledger);
    CHECK(ledger.bytes() == both);
    // Unbound (taken out of its store), it no longer counts there; b is still second's.
    moved.bind(nullptr);
    CHECK(ledger.bytes() == model::ResourceLedger::cost(*b));
    moved.bind(&ledger);
    CHECK(ledger.bytes() == both);
  }
  CHECK(ledger.bytes() == 0);
  CHECK(ledger.resources() == 0);
}

TEST_CASE("a span kept aside names its resource too", "[model]") {
  const auto keys = std::make_shared<const model::KeyTable>();
  model::ResourceLedger ledger;
  const auto big = resource_of(1 << 16);
  model::PackedSpans trace;
  trace.bind(&ledger);
  trace.start(model::TraceId{1}, keys);
  model::Span span;
  span.resource = big;
  trace.add_aside(std::move(span));
  CHECK(ledger.bytes() == model::ResourceLedger::cost(*big));
  trace = model::PackedSpans{};
  CHECK(ledger.bytes() == 0);
}

TEST_CASE("the hand-off queue counts a batch's resource in its bytes, once per run of spans",
          "[model]") {
  // A batch of one span under a 1 MiB resource holds the resource: a queue of 1.5 MiB that holds
  // one such batch refuses a second.
  model::SpanQueue small(1000, 1536 * 1024);
  model::SpanBatch first(1), second(1);
  first[0].resource = resource_of(1 << 20);
  second[0].resource = resource_of(1 << 20);
  CHECK(small.try_push(first));
  CHECK_FALSE(small.try_push(second));
  CHECK(second.size() == 1);
  // 100 spans of one small resource: counted once, not 100 times.
  const auto shared = resource_of(2000);
  model::SpanBatch many(100);
  for (auto& s : many) s.resource = shared;
  const auto span_bytes = 100 * model::memory_bytes(many[0]);
  model::SpanQueue fits(1000, span_bytes + model::ResourceLedger::cost(*shared));
  CHECK(fits.try_push(many));
}

TEST_CASE("a resource memo holds its resources weakly and stays within its bounds", "[model]") {
  model::ResourceMemo<int> memo(4, 100);
  auto first = resource_of(1 << 16);
  const std::weak_ptr<const model::Resource> weak = first;
  memo.put(first, 1, 10);
  CHECK(*memo.find(first.get()) == 1);
  first.reset();
  CHECK(weak.expired());  // the memo kept its address, not its attributes
  std::vector<std::shared_ptr<const model::Resource>> more;
  for (int i = 0; i < 10; ++i) {
    more.push_back(resource_of(10));
    memo.put(more.back(), i, 30);
    CHECK(memo.size() <= 4);
    CHECK(memo.bytes() <= 100);
    CHECK(*memo.find(more.back().get()) == i);
  }
}
