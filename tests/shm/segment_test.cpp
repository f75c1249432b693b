// Real segments on a real filesystem, written by a real child process.
#include "shm/segment.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "support/child_process.hpp"
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
      std::vector<std::byte> r(64);
      const wire::RecordHeader h{64, static_cast<std::uint16_t>(wire::RecordType::Span), 1};
      std::memcpy(r.data(), &h, sizeof h);
      std::memcpy(r.data() + 8, &seq, sizeof seq);
      if (!lane.try_write(r)) ::_exit(1);
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
  CHECK_FALSE(segment->producer_alive());  // exited (and reaped): gone
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
  CHECK(segment->producer_alive());
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
  const auto rec = [](std::uint64_t seq) {
    std::vector<std::byte> r(16);
    const wire::RecordHeader h{16, static_cast<std::uint16_t>(wire::RecordType::Span), 1};
    std::memcpy(r.data(), &h, sizeof h);
    std::memcpy(r.data() + 8, &seq, sizeof seq);
    return r;
  };
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
