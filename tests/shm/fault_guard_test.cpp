// A segment truncated under the reader: real files, real mappings, a real SIGBUS.
#include "shm/fault_guard.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <catch2/catch.hpp>

#include "shm/segment.hpp"
#include "support/child_process.hpp"

using namespace tailgate;

namespace {

std::vector<std::byte> span_record(std::uint64_t seq) {
  std::vector<std::byte> r(16);
  const wire::RecordHeader h{16, static_cast<std::uint16_t>(wire::RecordType::Span), 1};
  std::memcpy(r.data(), &h, sizeof h);
  std::memcpy(r.data() + 8, &seq, sizeof seq);
  return r;
}

/// Runs `body` in a child process; its exit status as waitpid reports it.
template <typename Fn>
int in_child(Fn&& body) {
  const pid_t child = ::fork();
  if (child == 0) {
    body();
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return status;
}

}  // namespace

TEST_CASE("a segment truncated under the reader costs that segment only: the drain reports it",
          "[shm][truncate]") {
  shm::install_fault_handler();
  testing::TempDir dir;
  auto producer =
      shm::Segment::create({.directory = dir.file("ring"), .lanes = 2, .lane_bytes = 4096});
  auto consumer = shm::Segment::attach(producer->path());
  auto lane = producer->claim_lane();
  REQUIRE(lane.try_write(span_record(1)));
  std::size_t seen = 0;
  const auto count = [&](wire::RecordType, std::span<const std::byte>) { ++seen; };
  CHECK_FALSE(consumer->reader(0).drain(count, SIZE_MAX).faulted);
  CHECK(seen == 1);
  REQUIRE(lane.try_write(span_record(2)));
  REQUIRE(::truncate(producer->path().c_str(), 4096) == 0);  // the header page only
  for (std::size_t i = 0; i <= consumer->lane_count(); ++i) {
    INFO("lane " << i);
    CHECK(consumer->reader(i).drain(count, SIZE_MAX).faulted);
  }
  CHECK(seen == 1);  // the record behind the new end is gone, and nothing was made up
  CHECK_FALSE(consumer->reader(consumer->lane_count()).abandon(0));
  CHECK(consumer->torn_records() == 0);
  CHECK(consumer->faulted());
  // The header page is still there, but nothing else: attach refuses what is left.
  CHECK_THROWS_WITH(shm::Segment::attach(producer->path()),
                    Catch::Matchers::Contains("do not match"));
}

TEST_CASE("a SIGBUS outside a guarded read still ends the process, as it would without us",
          "[shm][truncate]") {
  constexpr int kSetupFailed = 99;
  testing::TempDir dir;
  const auto path = dir.file("victim");
  const int status = in_child([&] {
    shm::install_fault_handler();
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0600);
    if (fd < 0 || ::ftruncate(fd, 8192) != 0) ::_exit(kSetupFailed);
    auto* map = static_cast<volatile char*>(
        ::mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    if (::ftruncate(fd, 0) != 0) ::_exit(kSetupFailed);
    // A guard over another range is no cover for this one.
    char other[8] = {};
    (void)shm::guarded(other, sizeof other, [&] { (void)map[4096]; });
    ::_exit(0);  // survived: wrong
  });
  // Killed by SIGBUS; under a sanitizer its own handler (which we hand the signal to) reports
  // the fault and exits non-zero instead (ASan: 1).
  CHECK((WIFSIGNALED(status) ? WTERMSIG(status) == SIGBUS
                             : WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != kSetupFailed));
  const int sent = in_child([] {
    shm::install_fault_handler();
    ::raise(SIGBUS);  // sent, not a fault: must not be swallowed either
    ::_exit(0);
  });
  CHECK((WIFSIGNALED(sent) ? WTERMSIG(sent) == SIGBUS : WEXITSTATUS(sent) != 0));
}
