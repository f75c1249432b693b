// The ring directory from a producer's side, with real directories: made right when the producer
// comes first, refused when other users can enter it, and a segment that carries the directory's
// group where the directory passes none on (no setgid: systemd's RestrictSUIDSGID).
#include "shm/ring_directory.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include <catch2/catch.hpp>

#include "shm/segment.hpp"
#include "support/child_process.hpp"

using namespace tailgate;
namespace fs = std::filesystem;

namespace {

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

struct stat stat_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st;
}

/// TAILGATE_RING_GROUP for one test.
struct RingGroup {
  explicit RingGroup(const std::string& value) {
    ::setenv("TAILGATE_RING_GROUP", value.c_str(), 1);
  }
  ~RingGroup() { ::unsetenv("TAILGATE_RING_GROUP"); }
};

}  // namespace

TEST_CASE("a producer that comes first makes the directory 2770 with the ring group", "[segment]") {
  testing::TempDir dir;
  const RingGroup group(std::to_string(kNogroup));
  const auto segment = shm::Segment::create({.directory = dir.file("ring"), .lane_bytes = 4096});
  const auto st = stat_of(dir.file("ring"));
  CHECK((st.st_mode & 07777) == 02770);
  CHECK(st.st_gid == kNogroup);
  CHECK(stat_of(segment->path()).st_gid == kNogroup);
}

TEST_CASE("a segment gets the directory's group where the directory passes none on", "[segment]") {
  testing::TempDir dir;
  // Someone else's directory, 0770 without setgid: a file made in it gets our group, not its.
  REQUIRE(::mkdir(dir.file("ring").c_str(), 0770) == 0);
  REQUIRE(::chown(dir.file("ring").c_str(), kNobody, kNogroup) == 0);
  REQUIRE(::chmod(dir.file("ring").c_str(), 0770) == 0);
  const auto segment = shm::Segment::create({.directory = dir.file("ring"), .lane_bytes = 4096});
  CHECK(stat_of(segment->path()).st_gid == kNogroup);
  CHECK((stat_of(segment->path()).st_mode & 07777) == 0660);
}

TEST_CASE("a producer refuses someone else's directory that other users can enter", "[segment]") {
  testing::TempDir dir;
  REQUIRE(::mkdir(dir.file("ring").c_str(), 0700) == 0);
  REQUIRE(::chown(dir.file("ring").c_str(), kNobody, kNogroup) == 0);
  REQUIRE(::chmod(dir.file("ring").c_str(), 02777) == 0);
  CHECK_THROWS_WITH(shm::Segment::create({.directory = dir.file("ring"), .lane_bytes = 4096}),
                    Catch::Contains("lets other users in"));
  CHECK(fs::is_empty(dir.file("ring")));
}
