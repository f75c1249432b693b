// Real segments on a real filesystem, written by a real child process.
#include "shm/segment.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "support/child_process.hpp"
#include "support/hostile_segment.hpp"
#include "wire/encode.hpp"

using namespace tailgate;
namespace fs = std::filesystem;

namespace {

std::vector<std::byte> resource_record() {
  std::vector<std::byte> out(512);
  const std::array<wire::AttributeView, 1> attrs{{{"service.name", std::string_view("orders")}}};
  out.resize(wire::encode_resource(out, attrs));
  return out;
}

/// A span-typed record of `size` bytes whose payload starts with `seq`.
std::vector<std::byte> numbered_record(std::uint64_t seq, std::uint32_t size) {
  std::vector<std::byte> r(size);
  const wire::RecordHeader h{size, static_cast<std::uint16_t>(wire::RecordType::Span), 1};
  std::memcpy(r.data(), &h, sizeof h);
  std::memcpy(r.data() + 8, &seq, sizeof seq);
  return r;
}

std::string only_segment(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir)) found.push_back(e.path());
  REQUIRE(found.size() == 1);
  return found[0];
}

}  // namespace

TEST_CASE("a child process's records are read from its segment after it exits", "[shm]") {
  testing::TempDir dir;
  const auto resource = resource_record();
  const pid_t child = ::fork();
  if (child == 0) {
    auto segment = shm::Segment::create(
        {.directory = dir.file("ring"), .lanes = 2, .lane_bytes = 1 << 16, .resource = resource});
    auto lane = segment->claim_lane();
    for (std::uint64_t seq = 0; seq < 100; ++seq) {
      if (!lane.try_write(numbered_record(seq, 64))) ::_exit(1);
    }
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WEXITSTATUS(status) == 0);

  const auto path = only_segment(dir.file("ring"));
  CHECK(path.ends_with(".ring"));
  CHECK_THAT(path, Catch::Matchers::Contains(std::to_string(child) + "-"));
  CHECK((fs::status(path).permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
         fs::perms::group_write));
  auto segment = shm::Segment::attach(path);
  CHECK(segment->pid() == child);
  CHECK(segment->producer_liveness() == shm::Liveness::Dead);  // exited (and reaped): gone
  CHECK(std::equal(segment->resource().begin(), segment->resource().end(), resource.begin(),
                   resource.end()));
  std::uint64_t next = 0;
  for (std::size_t lane = 0; lane < segment->lane_count(); ++lane) {
    segment->reader(lane).drain(
        [&](wire::RecordType, std::span<const std::byte> payload) {
          std::uint64_t seq = 0;
          std::memcpy(&seq, payload.data(), sizeof seq);
          CHECK(seq == next++);
        },
        SIZE_MAX);
  }
  CHECK(next == 100);
}

TEST_CASE("a running producer is alive, and its start time tells a reused pid apart", "[shm]") {
  testing::TempDir dir;
  auto segment =
      shm::Segment::create({.directory = dir.file("ring"), .lanes = 1, .lane_bytes = 4096});
  CHECK(segment->producer_liveness() == shm::Liveness::Alive);
  CHECK(shm::process_start_time(::getpid()) == segment->start_time());
  CHECK(shm::process_start_time(0x7FFFFFF0) == 0);
}

TEST_CASE("attach refuses a foreign file, another layout version and a size mismatch", "[shm]") {
  testing::TempDir dir;
  std::string path;
  {
    auto segment =
        shm::Segment::create({.directory = dir.file("ring"), .lanes = 1, .lane_bytes = 4096});
    path = segment->path();
  }
  const auto patch = [&](std::size_t offset, std::uint32_t value) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(reinterpret_cast<const char*>(&value), sizeof value);
  };
  patch(8, 99);  // layout version
  CHECK_THROWS_WITH(shm::Segment::attach(path), Catch::Matchers::Contains("layout version 99"));
  patch(8, shm::kLayoutVersion);
  patch(12, 3);  // lane count that the file size cannot hold
  CHECK_THROWS_WITH(shm::Segment::attach(path), Catch::Matchers::Contains("do not match"));
  patch(12, 1);
  CHECK_NOTHROW(shm::Segment::attach(path));
  patch(0, 0xDEADBEEF);
  CHECK_THROWS_WITH(shm::Segment::attach(path), Catch::Matchers::Contains("bad magic"));
  ::chmod(path.c_str(), 0666);  // writable by anyone on the host: refused
  CHECK_THROWS_WITH(shm::Segment::attach(path), Catch::Matchers::Contains("mode 0666") &&
                                                    Catch::Matchers::Contains("other users"));
  ::chmod(path.c_str(), 0660);
  std::ofstream(dir.file("short.ring")) << "tiny";
  CHECK_THROWS_WITH(shm::Segment::attach(dir.file("short.ring")),
                    Catch::Matchers::Contains("shorter"));
}

TEST_CASE("lanes are claimed once per thread, given back, and threads beyond share the overflow",
          "[shm]") {
  testing::TempDir dir;
  auto segment =
      shm::Segment::create({.directory = dir.file("ring"), .lanes = 2, .lane_bytes = 4096});
  auto a = segment->claim_lane();
  auto b = segment->claim_lane();
  auto c = segment->claim_lane();
  CHECK(a.attached());
  CHECK(b.attached());
  CHECK_FALSE(c.attached());
  const auto rec = [](std::uint64_t seq) { return numbered_record(seq, 16); };
  REQUIRE(segment->overflow_lane().try_write(rec(7)));
  REQUIRE(a.try_write(rec(1)));
  a.release();  // the thread ended: the next thread continues the lane where it stopped
  auto d = segment->claim_lane();
  REQUIRE(d.attached());
  REQUIRE(d.try_write(rec(2)));
  std::vector<std::uint64_t> seen;
  for (std::size_t lane = 0; lane <= segment->lane_count(); ++lane) {
    segment->reader(lane).drain(
        [&](wire::RecordType, std::span<const std::byte> payload) {
          std::uint64_t seq = 0;
          std::memcpy(&seq, payload.data(), sizeof seq);
          seen.push_back(seq);
        },
        SIZE_MAX);
  }
  CHECK(seen == std::vector<std::uint64_t>{1, 2, 7});
}

TEST_CASE("a dead producer's lane says whether it died before or after committing its record",
          "[shm]") {
  testing::TempDir dir;
  std::string path;
  {
    auto segment =
        shm::Segment::create({.directory = dir.file("ring"), .lanes = 1, .lane_bytes = 4096});
    path = segment->path();
  }
  const auto set_writing = [&](std::uint32_t value) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(shm::lane_offset(0, 4096) +
                                        offsetof(shm::LaneControl, writing)));
    f.write(reinterpret_cast<const char*>(&value), sizeof value);
  };
  CHECK(shm::Segment::attach(path)->torn_records() == 0);  // idle
  set_writing(shm::writing_mark(64));                      // copying up to 64; the tail is 0
  CHECK(shm::Segment::attach(path)->torn_records() == 1);
  set_writing(shm::writing_mark(0));  // the tail reached its mark: committed, then died
  CHECK(shm::Segment::attach(path)->torn_records() == 0);
}

TEST_CASE("a writer leaves its last commit's mark in the lane, which reads as idle, not torn",
          "[shm]") {
  testing::TempDir dir;
  auto producer =
      shm::Segment::create({.directory = dir.file("ring"), .lanes = 1, .lane_bytes = 4096});
  auto lane = producer->claim_lane();
  for (std::uint64_t seq = 0; seq < 3; ++seq) REQUIRE(lane.try_write(numbered_record(seq, 16)));
  // The producer stops here for good, its lane held, as a killed one would.
  std::ifstream f(producer->path(), std::ios::binary);
  shm::LaneControl control{};
  f.seekg(static_cast<std::streamoff>(shm::lane_offset(0, 4096)));
  f.read(reinterpret_cast<char*>(&control), sizeof control);
  REQUIRE(control.tail.load() == 48);
  // The commit does not store writing again: the mark it set before copying stays.
  CHECK(control.writing.load() == shm::writing_mark(48));
  auto consumer = shm::Segment::attach(producer->path());
  CHECK(consumer->torn_records() == 0);
  std::size_t records = 0;
  consumer->reader(0).drain([&](wire::RecordType, std::span<const std::byte>) { ++records; },
                            SIZE_MAX);
  CHECK(records == 3);
}

TEST_CASE("attach refuses every header whose fields do not hold against the file's real size",
          "[shm][segment][overflow]") {
  testing::TempDir dir;
  const std::uint64_t huge = std::uint64_t{1} << 63;
  struct Row {
    const char* why;
    testing::HostileHeader header;
    std::size_t file_bytes;
    const char* reason;
  };
  const Row rows[] = {
      // 4096 + 2 * (256 + 2^63) wraps to 4608: this file once passed and crashed the drain.
      {"one lane of 2^63 bytes", {.lane_bytes = huge}, 4608, "out of bounds"},
      {"three lanes of 2^62 bytes (wraps to 5120)",
       {.lane_count = 3, .lane_bytes = huge >> 1},
       5120,
       "out of bounds"},
      {"2^32 - 1 lanes", {.lane_count = 0xFFFFFFFF}, 4608, "out of bounds"},
      {"more lanes than any producer makes, with a file of exactly that size",
       {.lane_count = shm::kMaxLanes + 1},
       shm::lane_offset(shm::kMaxLanes + 2, 4096),
       "out of bounds"},
      {"lanes smaller than a page, sized to match",
       {.lane_count = 1, .lane_bytes = 2048},
       shm::lane_offset(2, 2048),
       "out of bounds"},
      {"lane_bytes not a power of two",
       {.lane_bytes = 4097},
       shm::lane_offset(2, 4097),
       "out of bounds"},
      {"lane_bytes 2^40", {.lane_bytes = std::uint64_t{1} << 40}, 4608, "out of bounds"},
      {"no lanes", {.lane_count = 0}, shm::lane_offset(1, 4096), "out of bounds"},
      {"a file shorter than its lanes", {}, shm::segment_bytes(1, 4096) - 4096, "do not match"},
      {"a file longer than its lanes", {}, shm::segment_bytes(1, 4096) + 4096, "do not match"},
      {"resource_bytes past the header page",
       {.resource_bytes = shm::kMaxResourceBytes + 1},
       shm::segment_bytes(1, 4096),
       "resource of"},
      {"resource_bytes 2^32 - 1",
       {.resource_bytes = 0xFFFFFFFF},
       shm::segment_bytes(1, 4096),
       "resource of"},
      {"pid 0", {.pid = 0}, shm::segment_bytes(1, 4096), "pid 0"},
      {"pid 2^32 - 1 (-1 as a pid_t: kill(-1) would mean every process)",
       {.pid = 0xFFFFFFFF},
       shm::segment_bytes(1, 4096),
       "pid 4294967295"},
      {"a pid beyond PID_MAX_LIMIT", {.pid = shm::kMaxPid + 1}, shm::segment_bytes(1, 4096), "pid"},
      {"a file of a header only", {}, shm::kHeaderBytes, "do not match"},
  };
  int n = 0;
  for (const auto& row : rows) {
    INFO(row.why);
    const auto path = testing::write_hostile_segment(dir.file("ring"), row.header, row.file_bytes,
                                                     std::to_string(n++) + ".ring");
    CHECK_THROWS_WITH(shm::Segment::attach(path), Catch::Matchers::Contains(row.reason));
  }
  // The same writer with honest fields makes a segment that attaches.
  const auto good =
      testing::write_hostile_segment(dir.file("ring"), {}, shm::segment_bytes(1, 4096));
  CHECK_NOTHROW(shm::Segment::attach(good));
}

TEST_CASE("a segment's sizes are read once: a header rewritten after attach changes nothing",
          "[shm][segment]") {
  testing::TempDir dir;
  auto producer =
      shm::Segment::create({.directory = dir.file("ring"), .lanes = 1, .lane_bytes = 4096});
  auto consumer = shm::Segment::attach(producer->path());
  auto lane = producer->claim_lane();
  std::vector<std::byte> r(16);
  const wire::RecordHeader h{16, static_cast<std::uint16_t>(wire::RecordType::Span), 1};
  std::memcpy(r.data(), &h, sizeof h);
  REQUIRE(lane.try_write(r));
  {
    std::fstream f(producer->path(), std::ios::in | std::ios::out | std::ios::binary);
    const std::uint64_t huge = std::uint64_t{1} << 63;
    const std::uint32_t lanes = 0xFFFFFFFF;
    f.seekp(12);
    f.write(reinterpret_cast<const char*>(&lanes), sizeof lanes);
    f.write(reinterpret_cast<const char*>(&huge), sizeof huge);
  }
  CHECK(consumer->lane_count() == 1);
  std::size_t records = 0;
  for (std::size_t i = 0; i <= consumer->lane_count(); ++i) {
    records += consumer->reader(i).drain([](auto, auto) {}, SIZE_MAX).records;
  }
  CHECK(records == 1);
}

TEST_CASE("a process that cannot be checked (no file descriptor left) is not taken for dead",
          "[shm][liveness]") {
  const pid_t child = ::fork();
  if (child == 0) {
    // Every descriptor taken: /proc/<pid>/stat cannot be opened (EMFILE), as in a flood of
    // segments. The parent runs all along: "0, no such process" would be a lie.
    const rlimit few{64, 64};
    if (::setrlimit(RLIMIT_NOFILE, &few) != 0) ::_exit(10);
    while (::open("/dev/null", O_RDONLY | O_CLOEXEC) >= 0) {
    }
    if (errno != EMFILE) ::_exit(11);
    const auto parent = shm::process_start_time(::getppid());
    ::_exit(parent == 0 ? 12 : 0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(shm::process_start_time(0x7FFFFFF0) == 0);  // no such process: known to be dead
  CHECK(shm::process_start_time(::getpid()) != 0);
}
