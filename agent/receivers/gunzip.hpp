#pragma once
// gzip inflation that never produces more than a limit: a small request that inflates to
// hundreds of MiB (a gzip bomb) costs `limit` bytes at most, whichever receiver it came through.

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace tailgate::receivers {

enum class Inflate { Ok, TooLarge, Corrupt };

/// Inflates one gzip stream given in pieces (the slices it arrived in) into `out`; stops, and
/// answers TooLarge, as soon as the output would pass `limit` bytes.
Inflate gunzip(std::span<const std::string_view> in, std::size_t limit, std::string& out);

inline Inflate gunzip(std::string_view in, std::size_t limit, std::string& out) {
  return gunzip(std::span<const std::string_view>(&in, 1), limit, out);
}

/// Whether bytes start as gzip does. An OTLP request (protobuf) never does: its first byte would
/// be a field with wire type 7, which does not exist.
[[nodiscard]] inline bool looks_gzipped(std::string_view first) noexcept {
  return first.size() >= 2 && first[0] == '\x1f' && first[1] == '\x8b';
}

}  // namespace tailgate::receivers
