#include "receivers/gunzip.hpp"

#include <zlib.h>

#include <vector>

#include <catch2/catch.hpp>

#include "support/gzip.hpp"

using namespace tailgate::receivers;

TEST_CASE("gunzip: pieces as slices arrive, the limit holds while inflating", "[receivers]") {
  std::string text;
  for (int i = 0; i < 20000; ++i) text += std::to_string(i * 7919) + ",";
  const auto packed = tailgate::testing::gzip(text);
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
    const auto bomb = tailgate::testing::gzip(std::string(64u << 20, 'a'));
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
