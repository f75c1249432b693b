#include "scrub/utf8.hpp"

#include <cstdint>

namespace tailgate::scrub {

std::size_t utf8_length(std::string_view s) noexcept {
  const auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) return 1;
  std::size_t n = 0;
  std::uint32_t cp = 0, min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2, cp = b0 & 0x1Fu, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3, cp = b0 & 0x0Fu, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4, cp = b0 & 0x07u, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (std::size_t i = 1; i < n; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (b & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

bool make_valid_utf8(std::string& text) {
  std::string_view rest = text;
  std::size_t valid = 0;  // the prefix checked so far, kept as it is
  while (!rest.empty()) {
    const auto n = utf8_length(rest);
    if (n == 0) break;
    valid += n;
    rest.remove_prefix(n);
  }
  if (rest.empty()) return false;  // the usual case: no copy
  std::string out(text, 0, valid);
  while (!rest.empty()) {
    const auto n = utf8_length(rest);
    if (n > 0) {
      out += rest.substr(0, n);
    } else {
      out += kReplacementCharacter;
    }
    rest.remove_prefix(n > 0 ? n : 1);
  }
  text = std::move(out);
  return true;
}

}  // namespace tailgate::scrub
