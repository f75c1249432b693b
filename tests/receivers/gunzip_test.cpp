#include "receivers/gunzip.hpp"

#include <zlib.h>

#include <vector>

#include <catch2/catch.hpp>

using namespace tailgate::receivers;

namespace {

std::string gzip_of(const std::string& in) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) ==
          Z_OK);
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace

TEST_CASE("gunzip: pieces as slices arrive, the limit holds while inflating", "[receivers]") {
  std::string text;
  for (int i = 0; i < 20000; ++i) text += std::to_string(i * 7919) + ",";
  const auto packed = gzip_of(text);
  CHECK(looks_gzipped(packed));
  CHECK_FALSE(looks_gzipped("\x0a\x8b"));
  std::string out;
  SECTION("whole, and cut into pieces of every size from 1 byte") {
    CHECK(gunzip(packed, text.size(), out) == Inflate::Ok);
    CHECK(out == text);
    for (const std::size_t cut : {std::size_t{1}, std::size_t{7}, packed.size() / 2}) {
      std::vector<std::string_view> pieces;
      for (std::size_t at = 0; at < packed.size(); at += cut) {
        pieces.push_back(std::string_view(packed).substr(at, cut));
      }
      CHECK(gunzip(pieces, text.size(), out) == Inflate::Ok);
      CHECK(out == text);
    }
  }
  SECTION("one byte over the limit is too large; output never passes it") {
    CHECK(gunzip(packed, text.size() - 1, out) == Inflate::TooLarge);
    CHECK(out.size() <= text.size() - 1);
    const auto bomb = gzip_of(std::string(64u << 20, 'a'));
    CHECK(gunzip(bomb, 1u << 20, out) == Inflate::TooLarge);
    CHECK(out.size() <= (1u << 20));
  }
  SECTION("truncated or not gzip: corrupt") {
    CHECK(gunzip(std::string_view(packed).substr(0, packed.size() - 9), 1u << 30, out) ==
          Inflate::Corrupt);
    CHECK(gunzip("\x1f\x8bgarbage", 1u << 30, out) == Inflate::Corrupt);
    CHECK(gunzip(std::string_view(), 1u << 30, out) == Inflate::Corrupt);
  }
}
