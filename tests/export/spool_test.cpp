#include "export/spool.hpp"

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "support/child_process.hpp"

using tailgate::exporter::Spool;
namespace fs = std::filesystem;

TEST_CASE("batches come back oldest first and leave only when delivered", "[export]") {
  tailgate::testing::TempDir dir;
  Spool spool(dir.file("spool"), 1 << 20);
  REQUIRE(spool.put("first", 3));
  REQUIRE(spool.put("second", 4));
  auto a = spool.take_oldest();
  REQUIRE(a);
  CHECK(a->payload == "first");
  CHECK(a->spans == 3);
  auto b = spool.take_oldest();  // the first is taken: the next one comes
  REQUIRE(b);
  CHECK(b->payload == "second");
  CHECK_FALSE(spool.take_oldest());
  spool.release(a->sequence);  // not delivered: available again
  CHECK(spool.take_oldest()->payload == "first");
  spool.remove(a->sequence);
  spool.remove(b->sequence);
  CHECK(spool.files() == 0);
  CHECK(spool.bytes() == 0);
}

TEST_CASE("a new spool over an old directory finds what the last run left", "[export]") {
  tailgate::testing::TempDir dir;
  {
    Spool spool(dir.file("spool"), 1 << 20);
    REQUIRE(spool.put("kept across a restart", 5));
  }
  std::ofstream(dir.file("spool/00000000000000000009.tmp")) << "half written";
  Spool again(dir.file("spool"), 1 << 20);
  CHECK(again.files() == 1);
  CHECK(again.spans() == 5);
  CHECK_FALSE(fs::exists(dir.file("spool/00000000000000000009.tmp")));  // the torn write is gone
  CHECK(again.take_oldest()->payload == "kept across a restart");
  REQUIRE(again.put("after", 1));  // numbering continues past the old files
  CHECK(again.files() == 2);
}

TEST_CASE("a damaged or truncated file is counted and skipped, never returned", "[export]") {
  tailgate::testing::TempDir dir;
  {
    Spool spool(dir.file("spool"), 1 << 20);
    REQUIRE(spool.put(std::string(1000, 'a'), 1));
    REQUIRE(spool.put(std::string(1000, 'b'), 1));
    REQUIRE(spool.put("good", 1));
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir.file("spool"))) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  fs::resize_file(files[0], 500);  // truncated
  {
    std::fstream f(files[1], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(600);
    f.put('X');  // one flipped byte: the checksum catches it
  }
  Spool spool(dir.file("spool"), 1 << 20);
  const auto batch = spool.take_oldest();
  REQUIRE(batch);
  CHECK(batch->payload == "good");
  CHECK(spool.corrupt_files() == 2);
  CHECK(spool.files() == 1);
}

TEST_CASE("the spool refuses what would pass its byte bound", "[export]") {
  tailgate::testing::TempDir dir;
  Spool spool(dir.file("spool"), 3000);
  CHECK(spool.put(std::string(1000, 'x'), 1));
  CHECK(spool.put(std::string(1000, 'x'), 1));
  CHECK_FALSE(spool.put(std::string(1000, 'x'), 1));
  CHECK(spool.bytes() <= 3000);
  CHECK(spool.files() == 2);
}

TEST_CASE("the spool directory is private to its owner", "[export]") {
  tailgate::testing::TempDir dir;
  Spool spool(dir.file("spool"), 1 << 20);
  CHECK((fs::status(dir.file("spool")).permissions() & fs::perms::all) == fs::perms::owner_all);
}
