// One lane in ordinary memory laid out as in a segment: the producer and consumer halves.
#include "shm/lane.hpp"

#include <atomic>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

using namespace tailgate;

namespace {

struct Lane {
  explicit Lane(std::size_t bytes)
      : memory(shm::kLaneControlBytes + bytes),
        control(new (memory.data()) shm::LaneControl{}),
        data(memory.data() + shm::kLaneControlBytes),
        capacity(bytes) {}
  shm::LaneWriter writer() { return {control, data, capacity}; }
  shm::LaneReader reader() { return {control, data, capacity}; }

  std::vector<std::byte> memory;
  shm::LaneControl* control;
  std::byte* data;
  std::size_t capacity;
};

// A span-typed record whose payload is `n` bytes, each the low byte of `seq`, with seq up front.
std::vector<std::byte> record(std::uint64_t seq, std::size_t payload) {
  std::vector<std::byte> r(wire::kRecordHeaderSize + payload, static_cast<std::byte>(seq & 0xFF));
  const wire::RecordHeader h{static_cast<std::uint32_t>(r.size()),
                             static_cast<std::uint16_t>(wire::RecordType::Span),
                             wire::kSchemaVersion};
  std::memcpy(r.data(), &h, sizeof h);
  std::memcpy(r.data() + sizeof h, &seq, sizeof seq);
  return r;
}

struct Seen {
  std::vector<std::uint64_t> sequences;
  std::uint64_t lost = 0;
  bool intact = true;
};

void collect(shm::LaneReader& reader, Seen& seen) {
  reader.drain(
      [&](wire::RecordType type, std::span<const std::byte> payload) {
        if (type == wire::RecordType::Loss) {
          std::uint64_t n = 0;
          std::memcpy(&n, payload.data(), sizeof n);
          seen.lost += n;
          return;
        }
        std::uint64_t seq = 0;
        std::memcpy(&seq, payload.data(), sizeof seq);
        for (std::size_t i = sizeof seq; i < payload.size(); ++i) {
          seen.intact &= payload[i] == static_cast<std::byte>(seq & 0xFF);
        }
        seen.sequences.push_back(seq);
      },
      SIZE_MAX);
}

}  // namespace

TEST_CASE("records of every size survive wrapping the lane, in order", "[shm]") {
  Lane lane(4096);
  auto writer = lane.writer();
  auto reader = lane.reader();
  Seen seen;
  std::uint64_t sent = 0;
  for (std::uint64_t seq = 0; seq < 5000; ++seq) {
    const auto r = record(seq, 8 + (seq * 37) % 300);
    if (!writer.try_write(r)) {
      collect(reader, seen);
      REQUIRE(writer.try_write(r));
    }
    ++sent;
    if (seq % 7 == 0) collect(reader, seen);
  }
  collect(reader, seen);
  REQUIRE(seen.sequences.size() == sent);
  for (std::uint64_t i = 0; i < sent; ++i) REQUIRE(seen.sequences[i] == i);
  CHECK(seen.intact);
  CHECK(seen.lost == 0);
}

TEST_CASE("a full lane drops and counts, and a loss record says how many before the next",
          "[shm]") {
  Lane lane(4096);
  auto writer = lane.writer();
  auto reader = lane.reader();
  std::uint64_t accepted = 0, refused = 0;
  for (std::uint64_t seq = 0; seq < 200; ++seq)
    (writer.try_write(record(seq, 120)) ? accepted : refused)++;
  CHECK(refused > 0);
  CHECK(writer.dropped() == refused);
  CHECK(lane.control->dropped.load() == refused);
  Seen seen;
  collect(reader, seen);
  CHECK(seen.sequences.size() == accepted);
  CHECK(seen.lost == 0);  // not announced yet: no record has fitted since
  REQUIRE(writer.try_write(record(1000, 120)));
  collect(reader, seen);
  CHECK(seen.lost == refused);
  CHECK(seen.sequences.back() == 1000);
  CHECK(seen.sequences.size() + seen.lost == 201);  // sent = received + dropped, exactly
}

TEST_CASE("an oversize or headerless record is dropped and counted, never written", "[shm]") {
  Lane lane(4096);
  auto writer = lane.writer();
  CHECK_FALSE(writer.try_write(record(1, 4000)));
  CHECK_FALSE(writer.try_write(std::vector<std::byte>(4)));
  CHECK(writer.dropped() == 2);
  shm::LaneWriter detached;
  CHECK_FALSE(detached.try_write(record(1, 8)));
  CHECK(detached.dropped() == 1);
}

TEST_CASE("a corrupt header costs what is committed, not the lane", "[shm]") {
  Lane lane(4096);
  auto writer = lane.writer();
  auto reader = lane.reader();
  REQUIRE(writer.try_write(record(1, 64)));
  std::memset(lane.data, 0, 4);  // the first record's length: 0
  Seen seen;
  collect(reader, seen);
  CHECK(seen.sequences.empty());
  REQUIRE(writer.try_write(record(2, 64)));
  collect(reader, seen);
  CHECK(seen.sequences == std::vector<std::uint64_t>{2});
}

TEST_CASE("a tail more than a lane ahead is skipped, not walked round the lane for ever", "[shm]") {
  // Found by fuzz/fuzz_ring_segment: padding headers everywhere and a far tail made drain loop
  // (padding is not a record, so max_records never stopped it).
  Lane lane(4096);
  for (std::size_t at = 0; at < 4096; at += 64) {
    const std::uint64_t padding =
        64 | (std::uint64_t{static_cast<std::uint16_t>(wire::RecordType::Padding)} << 32);
    std::memcpy(lane.data + at, &padding, sizeof padding);
  }
  lane.control->head.store(0);
  lane.control->tail.store(std::uint64_t{1} << 62);
  Seen seen;
  const auto drained = lane.reader().drain(
      [&](wire::RecordType, std::span<const std::byte>) { seen.sequences.push_back(0); }, 100);
  CHECK(seen.sequences.empty());
  CHECK(drained.skipped_bytes == std::uint64_t{1} << 62);
  CHECK(lane.control->head.load() == lane.control->tail.load());
}

TEST_CASE("one producer thread and one consumer thread: 1M records, exactly once, in order",
          "[shm]") {
  Lane lane(1 << 16);
  constexpr std::uint64_t kRecords = 1'000'000;
  std::atomic<bool> done{false};
  std::uint64_t accepted = 0;
  std::thread producer([&] {
    auto writer = lane.writer();
    for (std::uint64_t seq = 0; seq < kRecords; ++seq) {
      // Retry a bounded number of times, then let it drop: the count must still add up.
      bool ok = false;
      for (int attempt = 0; attempt < 1000 && !ok; ++attempt)
        ok = writer.try_write(record(seq, 24 + seq % 64));
      accepted += ok;
    }
    done.store(true, std::memory_order_release);
  });
  auto reader = lane.reader();
  Seen seen;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    const bool finished = done.load(std::memory_order_acquire);
    collect(reader, seen);
    if (finished && reader.backlog() == 0) break;
  }
  producer.join();
  collect(reader, seen);
  CHECK(seen.intact);
  CHECK(seen.sequences.size() == accepted);
  CHECK(seen.sequences.size() + seen.lost + (kRecords - accepted - seen.lost) == kRecords);
  CHECK(std::is_sorted(seen.sequences.begin(), seen.sequences.end()));
  CHECK(std::adjacent_find(seen.sequences.begin(), seen.sequences.end()) == seen.sequences.end());
}

TEST_CASE("a lane given back keeps its unannounced drops for the next owner to report", "[shm]") {
  Lane lane(4096);
  auto first = lane.writer();
  std::uint64_t accepted = 0;
  for (std::uint64_t seq = 0; seq < 100; ++seq) accepted += first.try_write(record(seq, 120));
  const auto refused = 100 - accepted;
  REQUIRE(refused > 0);
  first.release();
  Seen seen;
  auto reader = lane.reader();
  collect(reader, seen);
  auto second = lane.writer();
  REQUIRE(second.try_write(record(500, 120)));
  collect(reader, seen);
  CHECK(seen.lost == refused);
  CHECK(seen.sequences.size() == accepted + 1);
}

namespace {

struct SharedLane : Lane {
  using Lane::Lane;
  shm::SharedLaneWriter writer() { return {control, data, capacity}; }
  shm::LaneReader reader() { return {control, data, capacity, true}; }
};

}  // namespace

TEST_CASE("overflow lane: four writer threads, exactly once, in each thread's order, drops counted",
          "[shm]") {
  SharedLane lane(1 << 14);  // small: it fills, so loss records are exercised too
  constexpr std::uint64_t kPerThread = 250'000;
  constexpr int kThreads = 4;
  std::atomic<int> running{kThreads};
  std::atomic<std::uint64_t> accepted{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      auto writer = lane.writer();
      std::uint64_t ok = 0;
      for (std::uint64_t i = 0; i < kPerThread; ++i) {
        const std::uint64_t seq = (static_cast<std::uint64_t>(t) << 32) | i;
        ok += writer.try_write(record(seq, 8 + i % 200));
      }
      accepted += ok;
      running.fetch_sub(1, std::memory_order_release);
    });
  }
  auto reader = lane.reader();
  Seen seen;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    const bool finished = running.load(std::memory_order_acquire) == 0;
    collect(reader, seen);
    if (finished && reader.backlog() == 0) break;
  }
  for (auto& w : writers) w.join();
  collect(reader, seen);
  CHECK(seen.intact);
  CHECK(seen.sequences.size() == accepted.load());
  // Drops announced by loss records, plus those still waiting for the next record that fits.
  CHECK(seen.lost + lane.control->unreported.load() + seen.sequences.size() ==
        kPerThread * kThreads);
  CHECK(lane.control->dropped.load() == kPerThread * kThreads - accepted.load());
  std::vector<std::uint64_t> last(kThreads, 0);
  std::vector<bool> any(kThreads, false);
  bool ordered = true;
  for (const auto seq : seen.sequences) {
    const auto t = seq >> 32, i = seq & 0xFFFFFFFF;
    if (any[t] && i <= last[t]) ordered = false;
    any[t] = true;
    last[t] = i;
  }
  CHECK(ordered);
}

namespace {
std::atomic<bool> g_release_stalled{false};
std::atomic<bool> g_stalled{false};
void stall_until_released() {
  g_stalled = true;
  for (int i = 0; i < 10'000 && !g_release_stalled; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}
}  // namespace

TEST_CASE("overflow lane: a writer stopped between claim and commit holds up nobody for good",
          "[shm]") {
  SharedLane lane(4096);
  auto reader = lane.reader();
  g_release_stalled = false;
  g_stalled = false;
  std::thread stalled([&] {
    auto writer = lane.writer();
    writer.between_claim_and_commit = stall_until_released;
    CHECK_FALSE(writer.try_write(record(99, 40)));  // the agent gave it up: its commit fails
  });
  while (!g_stalled) std::this_thread::yield();
  auto other = lane.writer();
  for (std::uint64_t seq = 0; seq < 5; ++seq) REQUIRE(other.try_write(record(seq, 40)));
  Seen seen;
  auto drained = reader.drain([](wire::RecordType, std::span<const std::byte>) {}, SIZE_MAX);
  CHECK(drained.records == 0);  // everything waits behind the claim
  REQUIRE(drained.stalled_at.has_value());
  REQUIRE(reader.abandon(*drained.stalled_at));
  collect(reader, seen);
  CHECK(seen.sequences == std::vector<std::uint64_t>{0, 1, 2, 3, 4});
  g_release_stalled = true;
  stalled.join();
  // The lane goes on as before.
  REQUIRE(other.try_write(record(5, 40)));
  collect(reader, seen);
  CHECK(seen.sequences.back() == 5);
  CHECK(seen.intact);
}

TEST_CASE("overflow lane: a commit that beats the agent's abandon is kept", "[shm]") {
  SharedLane lane(4096);
  auto writer = lane.writer();
  REQUIRE(writer.try_write(record(1, 40)));
  auto reader = lane.reader();
  CHECK_FALSE(reader.abandon(0));  // committed: nothing to give up
  Seen seen;
  collect(reader, seen);
  CHECK(seen.sequences == std::vector<std::uint64_t>{1});
}

TEST_CASE("overflow lane: positions left misaligned or a lane apart are skipped, never read",
          "[shm]") {
  // What a broken or hostile process could leave in a segment (found by fuzz/fuzz_ring_segment:
  // a misaligned head made the record header an unaligned atomic).
  SharedLane lane(4096);
  auto writer = lane.writer();
  std::size_t seen = 0;
  const auto count = [&](wire::RecordType, std::span<const std::byte>) { ++seen; };
  REQUIRE(writer.try_write(record(1, 16)));
  lane.control->head.store(3);
  auto drained = lane.reader().drain(count, 100);
  CHECK(seen == 0);
  CHECK(drained.skipped_bytes == lane.control->tail.load() - 3);
  CHECK(lane.control->head.load() == lane.control->tail.load());

  lane.control->head.store(64);
  lane.control->tail.store(64 + (std::uint64_t{1} << 40));  // far more than a lane ahead
  drained = lane.reader().drain(count, 100);
  CHECK(seen == 0);
  CHECK(drained.skipped_bytes == std::uint64_t{1} << 40);

  // The lane works again from where the writer's claims now start.
  REQUIRE(writer.try_write(record(2, 16)));
  drained = lane.reader().drain(count, 100);
  CHECK(seen == 1);
  CHECK(drained.records == 1);
}
