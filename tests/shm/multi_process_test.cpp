// Several producer processes, several threads each (more threads than lanes: one per process goes
// to the overflow lane), over 1M records, drained by this process as the agent would drain them.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <catch2/catch.hpp>

#include "shm/segment.hpp"
#include "support/child_process.hpp"

using namespace tailgate;
namespace fs = std::filesystem;

namespace {

constexpr int kProcesses = 3;
constexpr int kThreads = 3;  // lanes = 2: the third thread of each process shares the overflow
constexpr std::uint64_t kPerThread = 120'000;
constexpr std::uint64_t kEnd = ~std::uint64_t{0};  // a thread's last record: sequence "end"

struct Payload {
  std::uint32_t process;
  std::uint32_t thread;
  std::uint64_t seq;
};

std::vector<std::byte> record(const Payload& p, std::size_t filler) {
  std::vector<std::byte> r(wire::kRecordHeaderSize + sizeof p + filler,
                           static_cast<std::byte>(p.seq & 0xFF));
  const wire::RecordHeader h{static_cast<std::uint32_t>(r.size()),
                             static_cast<std::uint16_t>(wire::RecordType::Span),
                             wire::kSchemaVersion};
  std::memcpy(r.data(), &h, sizeof h);
  std::memcpy(r.data() + sizeof h, &p, sizeof p);
  return r;
}

/// A producer process: kThreads threads each write kPerThread records, retrying a full lane up to
/// `retries` times (0: drop at once), then an end record retried until it fits, which also
/// carries any last loss record. Every refused try counts as a drop; the end record's refused
/// tries are written to <dir>/<process>.end_retries. Exits 0 if every end record was written.
[[noreturn]] void produce(const std::string& dir, std::uint32_t process, std::size_t lane_bytes,
                          int retries) noexcept try {
  auto segment = shm::Segment::create({.directory = dir, .lanes = 2, .lane_bytes = lane_bytes});
  std::atomic<int> ended{0};
  std::atomic<std::uint64_t> end_retries{0};
  std::vector<std::thread> threads;
  for (std::uint32_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto own = segment->claim_lane();
      auto shared = segment->overflow_lane();
      const auto write = [&](const std::vector<std::byte>& r) {
        return own.attached() ? own.try_write(r) : shared.try_write(r);
      };
      for (std::uint64_t seq = 0; seq < kPerThread; ++seq) {
        const auto r = record({process, t, seq}, 8 * (seq % 9));
        bool ok = write(r);
        for (int i = 0; i < retries && !ok; ++i) {
          std::this_thread::yield();
          ok = write(r);
        }
      }
      const auto end = record({process, t, kEnd}, 0);
      for (int i = 0; i < 200'000; ++i) {
        if (write(end)) {
          ++ended;
          break;
        }
        ++end_retries;
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
      own.release();
    });
  }
  for (auto& t : threads) t.join();
  std::ofstream(dir + "/" + std::to_string(process) + ".end_retries") << end_retries.load();
  ::_exit(ended == kThreads ? 0 : 1);
} catch (...) {
  ::_exit(2);  // never back into the test runner in a forked child
}

struct Tally {
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint64_t> next;  // expected seq
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint64_t> received;
  std::uint64_t lost = 0, out_of_order = 0, corrupt = 0, ends = 0;
};

/// Drains every segment in `dir` until the producers have exited and everything is read.
Tally consume(const std::string& dir, const std::vector<pid_t>& producers, bool gaps_allowed) {
  Tally tally;
  std::map<std::string, std::unique_ptr<shm::Segment>> segments;
  std::size_t running = producers.size();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (std::chrono::steady_clock::now() < deadline) {
    for (const auto& e : fs::directory_iterator(dir)) {
      const auto path = e.path().string();
      if (path.ends_with(".ring") && !segments.contains(path))
        segments.emplace(path, shm::Segment::attach(path));
    }
    std::size_t taken = 0;
    for (auto& [path, segment] : segments) {
      for (std::size_t lane = 0; lane <= segment->lane_count(); ++lane) {
        taken += segment->reader(lane)
                     .drain(
                         [&](wire::RecordType type, std::span<const std::byte> payload) {
                           if (type == wire::RecordType::Loss) {
                             std::uint64_t n = 0;
                             std::memcpy(&n, payload.data(), sizeof n);
                             tally.lost += n;
                             return;
                           }
                           Payload p{};
                           std::memcpy(&p, payload.data(), sizeof p);
                           for (std::size_t i = sizeof p; i < payload.size(); ++i)
                             tally.corrupt += payload[i] != static_cast<std::byte>(p.seq & 0xFF);
                           const auto key = std::make_pair(p.process, p.thread);
                           if (p.seq == kEnd) {
                             ++tally.ends;
                             return;
                           }
                           auto& expected = tally.next[key];
                           if (p.seq < expected || (!gaps_allowed && p.seq != expected))
                             ++tally.out_of_order;
                           expected = p.seq + 1;
                           ++tally.received[key];
                         },
                         SIZE_MAX)
                     .records;
      }
    }
    for (const auto pid : producers) {
      if (pid > 0 && ::waitpid(pid, nullptr, WNOHANG) == pid) --running;
    }
    if (running == 0 && taken == 0 && segments.size() == producers.size()) break;
    if (taken == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return tally;
}

std::uint64_t total(const Tally& t) {
  std::uint64_t n = 0;
  for (const auto& [key, count] : t.received) n += count;
  return n;
}

}  // namespace

TEST_CASE(
    "3 processes x 3 threads x 120k records: each exactly once, in its thread's order, intact",
    "[shm]") {
  testing::TempDir dir;
  fs::create_directories(dir.file("ring"));
  std::vector<pid_t> producers;
  for (std::uint32_t p = 0; p < kProcesses; ++p) {
    const pid_t pid = ::fork();
    if (pid == 0) produce(dir.file("ring"), p, 1 << 20, 1'000'000);  // retry: lose nothing
    producers.push_back(pid);
  }
  const auto tally = consume(dir.file("ring"), producers, /*gaps_allowed=*/false);
  CHECK(tally.corrupt == 0);
  CHECK(tally.out_of_order == 0);
  CHECK(tally.ends == kProcesses * kThreads);
  CHECK(tally.received.size() == kProcesses * kThreads);
  // Every record once: a full lane made its writer retry (each refused try is counted as a drop
  // and announced, so loss records may be > 0), never lose one.
  CHECK(total(tally) == kProcesses * kThreads * kPerThread);
}

TEST_CASE("undersized lanes: sent = received + dropped exactly, and loss records say so", "[shm]") {
  testing::TempDir dir;
  fs::create_directories(dir.file("ring"));
  std::vector<pid_t> producers;
  for (std::uint32_t p = 0; p < kProcesses; ++p) {
    const pid_t pid = ::fork();
    if (pid == 0) produce(dir.file("ring"), p, 1 << 13, 0);  // 8 KiB lanes, no retry: drops
    producers.push_back(pid);
  }
  const auto tally = consume(dir.file("ring"), producers, /*gaps_allowed=*/true);
  std::uint64_t dropped = 0, end_retries = 0;
  for (const auto& e : fs::directory_iterator(dir.file("ring"))) {
    if (e.path().extension() == ".ring") {
      dropped += shm::Segment::attach(e.path())->producer_dropped();
    } else {
      end_retries += std::stoull(testing::read_file(e.path()));
    }
  }
  CHECK(tally.corrupt == 0);
  CHECK(tally.out_of_order == 0);
  CHECK(tally.ends == kProcesses * kThreads);
  CHECK(dropped > 0);
  // Sent: every record once, plus the end records' refused tries (each one a counted drop).
  CHECK(total(tally) + dropped == kProcesses * kThreads * kPerThread + end_retries);
  CHECK(tally.lost == dropped);  // every drop announced by a loss record before the end record
}
