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

namespace {

// Peak resident memory of this process so far (VmHWM), in bytes.
std::size_t peak_rss() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("VmHWM:")) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// A file with the spool's header layout: magic, version, spans, crc, payload bytes.
void write_spool_file(const std::string& path, std::uint32_t spans, std::uint64_t payload_bytes,
                      const std::string& body) {
  std::ofstream out(path, std::ios::binary);
  const std::uint32_t version = 1, crc = 0;
  out.write("TGSP", 4);
  out.write(reinterpret_cast<const char*>(&version), 4);
  out.write(reinterpret_cast<const char*>(&spans), 4);
  out.write(reinterpret_cast<const char*>(&crc), 4);
  out.write(reinterpret_cast<const char*>(&payload_bytes), 8);
  out << body;
}

}  // namespace

TEST_CASE("a header claiming 900 MB in a tiny file is refused before anything is allocated",
          "[export][spool_corrupt]") {
  tailgate::testing::TempDir dir;
  fs::create_directories(dir.file("spool"));
  const auto path = dir.file("spool/00000000000000000001-7.otlp");
  write_spool_file(path, 7, 900'000'000, std::string(100, 'x'));
  const auto before = peak_rss();
  Spool spool(dir.file("spool"), std::size_t{1} << 30);  // the bound alone would let 900 MB in
  CHECK_FALSE(spool.take_oldest());
  CHECK(peak_rss() - before < (std::size_t{64} << 20));  // the old code touched 900 MB here
  CHECK_FALSE(fs::exists(path));
  CHECK(spool.corrupt_files() == 1);
  CHECK(spool.corrupt_bytes() == 124);
  CHECK(spool.corrupt_spans() == 7);  // lost, and said so: dropped spool_corrupt
  CHECK(spool.recovered_spans() == 7);
  CHECK(spool.spans() == 0);
}

TEST_CASE("a truncated file's spans are known from its name and counted as corrupt",
          "[export][spool_corrupt]") {
  tailgate::testing::TempDir dir;
  {
    Spool spool(dir.file("spool"), 1 << 20);
    REQUIRE(spool.put(std::string(2000, 'a'), 5));
    REQUIRE(spool.put("intact", 3));
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir.file("spool"))) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() == 2);
  fs::resize_file(files[0], 10);  // even the header is gone
  Spool spool(dir.file("spool"), 1 << 20);
  CHECK(spool.recovered_spans() == 8);
  CHECK(spool.corrupt_spans() == 5);
  CHECK(spool.spans() == 3);
  CHECK(spool.recovered_spans() == spool.spans() + spool.corrupt_spans());  // the identity
  const auto batch = spool.take_oldest();
  REQUIRE(batch);
  CHECK(batch->payload == "intact");
  CHECK(batch->spans == 3);
}

TEST_CASE("garbage in the spool is removed, and with no count to read its spans are unknown",
          "[export][spool_corrupt]") {
  tailgate::testing::TempDir dir;
  fs::create_directories(dir.file("spool"));
  std::ofstream(dir.file("spool/00000000000000000001.otlp")) << std::string(300, '\xff');
  std::ofstream(dir.file("spool/00000000000000000002-4.otlp")) << "not a spool file at all";
  std::ofstream(dir.file("spool/notes.txt")) << "not ours: left alone";
  Spool spool(dir.file("spool"), 1 << 20);
  CHECK_FALSE(spool.take_oldest());
  CHECK(spool.corrupt_files() == 2);
  CHECK(spool.corrupt_bytes() == 300 + 23);
  CHECK(spool.corrupt_spans() == 4);  // the first file's count is unknown: bytes only
  CHECK(spool.files() == 0);
  CHECK(fs::exists(dir.file("spool/notes.txt")));
  REQUIRE(spool.put("next", 1));  // numbering continues past the damaged files
  CHECK(fs::exists(dir.file("spool/00000000000000000003-1.otlp")));
}

TEST_CASE("a file damaged after start-up counts its spans when it is read",
          "[export][spool_corrupt]") {
  tailgate::testing::TempDir dir;
  Spool spool(dir.file("spool"), 1 << 20);
  REQUIRE(spool.put(std::string(1000, 'a'), 6));
  for (const auto& e : fs::directory_iterator(dir.file("spool"))) {
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(500);
    f.put('X');  // the checksum catches it
  }
  CHECK_FALSE(spool.take_oldest());
  CHECK(spool.corrupt_spans() == 6);
  CHECK(spool.spans() == 0);
  CHECK(spool.bytes() == 0);
}

TEST_CASE("a batch spooled at a place reserved earlier is taken before those written since",
          "[export]") {
  tailgate::testing::TempDir dir;
  Spool spool(dir.file("spool"), 1 << 20);
  const auto first = spool.reserve();  // cut first, failed last
  REQUIRE(spool.put("second", 1));
  REQUIRE(spool.put("first", 1, first));
  CHECK_FALSE(spool.put("again", 1, first));  // a place holds one batch
  CHECK(spool.oldest_available() == first);
  CHECK(spool.take_oldest()->payload == "first");
  CHECK(spool.take_oldest()->payload == "second");
  CHECK(spool.oldest_available() == 0);
}
