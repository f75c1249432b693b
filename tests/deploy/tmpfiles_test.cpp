// The shipped systemd-tmpfiles entry, applied by the real systemd-tmpfiles to a scratch root: the
// ring directory exists at boot, before any producer or the agent, owned by the agent's user with
// the ring group and 2770, and a directory squatted there before is put right.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "support/child_process.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

TEST_CASE("systemd/tailgate.tmpfiles makes /dev/shm/tailgate tailgate:tailgate 2770 at boot",
          "[deploy]") {
  tailgate::testing::TempDir root;
  fs::create_directories(root.file("etc"));
  fs::create_directories(root.file("dev/shm"));
  // The users the .deb's postinst creates, in the scratch root's own files (--root reads those).
  std::ofstream(root.file("etc/passwd")) << "tailgate:x:4242:4242::/nonexistent:/bin/false\n";
  std::ofstream(root.file("etc/group")) << "tailgate:x:4242:\n";
  const auto apply = [&] {
    tailgate::testing::ChildProcess tmpfiles(
        {"/usr/bin/systemd-tmpfiles", "--create", "--root=" + root.file(""),
         TAILGATE_SOURCE_DIR "/systemd/tailgate.tmpfiles"},
        root.file("out"), root.file("err"));
    const auto status = tmpfiles.wait(30s);
    INFO(tailgate::testing::read_file(root.file("err")));
    REQUIRE(status == 0);
    struct stat st {};
    REQUIRE(::stat(root.file("dev/shm/tailgate").c_str(), &st) == 0);
    CHECK(st.st_uid == 4242);
    CHECK(st.st_gid == 4242);
    CHECK((st.st_mode & 07777) == 02770);
  };
  apply();
  REQUIRE(::chown(root.file("dev/shm/tailgate").c_str(), 65534, 65534) == 0);
  REQUIRE(::chmod(root.file("dev/shm/tailgate").c_str(), 02777) == 0);
  apply();
}
