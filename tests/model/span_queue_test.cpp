#include "model/span_queue.hpp"

#include <atomic>
#include <thread>

#include <catch2/catch.hpp>

using namespace tailgate::model;

namespace {
SpanBatch batch_of(std::size_t n, std::uint64_t first) {
  SpanBatch b(n);
  for (std::size_t i = 0; i < n; ++i) b[i].start_unix_ns = first + i;
  return b;
}
}  // namespace

TEST_CASE("a batch that does not fit is refused whole and left with the caller", "[model]") {
  SpanQueue q(10);
  auto a = batch_of(8, 0);
  CHECK(q.try_push(a));
  CHECK(a.empty());
  auto b = batch_of(3, 100);
  CHECK_FALSE(q.try_push(b));
  CHECK(b.size() == 3);
  CHECK(q.size_spans() == 8);
}

TEST_CASE("pop_all returns every queued span in order and appends to what is held", "[model]") {
  SpanQueue q(100);
  auto a = batch_of(3, 0);
  auto b = batch_of(2, 3);
  REQUIRE(q.try_push(a));
  REQUIRE(q.try_push(b));
  SpanBatch out = batch_of(1, 99);
  CHECK(q.pop_all(out, std::chrono::milliseconds(0)) == 5);
  REQUIRE(out.size() == 6);
  for (std::size_t i = 0; i < 5; ++i) CHECK(out[i + 1].start_unix_ns == i);
  CHECK(q.size_spans() == 0);
}

TEST_CASE("pop_all times out empty, and close wakes a waiting consumer", "[model]") {
  SpanQueue q(10);
  SpanBatch out;
  CHECK(q.pop_all(out, std::chrono::milliseconds(1)) == 0);
  std::thread closer([&q] { q.close(); });
  CHECK(q.pop_all(out, std::chrono::hours(1)) == 0);  // returns because of close, not the timeout
  closer.join();
  CHECK(q.closed());
}

TEST_CASE("many producers, one consumer: every span arrives exactly once", "[model]") {
  SpanQueue q(1 << 20);
  constexpr int kProducers = 4;
  constexpr std::uint64_t kBatches = 500, kPerBatch = 10;
  std::vector<std::thread> producers;
  std::atomic<int> refused{0};  // Catch's assertions are not thread-safe: count, check after
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&q, &refused, p] {
      for (std::uint64_t i = 0; i < kBatches; ++i) {
        auto b = batch_of(kPerBatch, (static_cast<std::uint64_t>(p) << 32) + i * kPerBatch);
        if (!q.try_push(b)) refused.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  SpanBatch got;
  const auto total = kProducers * kBatches * kPerBatch;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (got.size() < total && std::chrono::steady_clock::now() < deadline) {
    q.pop_all(got, std::chrono::milliseconds(10));
  }
  for (auto& t : producers) t.join();
  CHECK(refused.load() == 0);
  REQUIRE(got.size() == total);
  std::vector<std::uint64_t> next(kProducers, 0);
  for (const auto& s : got) {
    const auto p = s.start_unix_ns >> 32;
    CHECK((s.start_unix_ns & 0xFFFFFFFF) == next[p]);  // each producer's order is kept
    ++next[p];
  }
}

TEST_CASE("a byte bound refuses a batch whose spans would hold too much memory", "[model]") {
  SpanBatch big(4);
  for (auto& s : big) s.name.assign(1000, 'x');  // about 1 KiB of heap each
  const std::size_t one = memory_bytes(big[0]);
  SpanQueue q(1000, 3 * one);
  SpanBatch two(big.begin(), big.begin() + 2);
  CHECK(q.try_push(two));
  CHECK(q.size_bytes() == 2 * one);
  SpanBatch two_more(big.begin() + 2, big.end());
  CHECK_FALSE(q.try_push(two_more));  // 4 spans' worth would pass the bound
  SpanBatch out;
  q.pop_all(out, std::chrono::milliseconds(0));
  CHECK(q.size_bytes() == 0);
  CHECK(q.try_push(two_more));
}

TEST_CASE("an empty queue takes one batch larger than its bytes bound, and nothing beside it",
          "[model]") {
  // Refused even when empty, such a batch (a request whose scopes each carry a copy of a large
  // resource) was refused for good: its sender told to retry forever (outside attack).
  SpanQueue q(100, 1000);
  auto big = batch_of(20, 0);  // 20 spans' bytes: more than 1000
  CHECK(q.try_push(big));
  auto one = batch_of(1, 100);
  CHECK_FALSE(q.try_push(one));
  SpanBatch out;
  CHECK(q.pop_all(out, std::chrono::milliseconds(0)) == 20);
  CHECK(q.try_push(one));
}
