#pragma once
// Raw protobuf encoding, for what protobuf's own classes never write (malformed or merged
// fields), or would take the memory under test to build.

#include <cstdint>
#include <string>

namespace tailgate::testing {

inline std::string varint(std::uint64_t v) {
  std::string out;
  do {
    out += static_cast<char>((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
    v >>= 7;
  } while (v != 0);
  return out;
}
inline std::string tag(std::uint32_t field, int wire_type) {
  return varint(static_cast<std::uint64_t>(field) << 3 | static_cast<std::uint32_t>(wire_type));
}
// A length-delimited field: a string, bytes or a message.
inline std::string len(std::uint32_t field, const std::string& body) {
  return tag(field, 2) + varint(body.size()) + body;
}

}  // namespace tailgate::testing
