// SpanContext: W3C traceparent out of a span's ids and back.
#include <array>
#include <cstring>
#include <string>

#include "tailgate/tailgate.hpp"

namespace tailgate {
namespace {

constexpr char kHex[] = "0123456789abcdef";

template <std::size_t N>
void to_hex(const std::array<std::uint8_t, N>& bytes, char* out) noexcept {
  for (std::size_t i = 0; i < N; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 0xF];
  }
}

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // W3C: lowercase only
}

template <std::size_t N>
bool from_hex(std::string_view text, std::array<std::uint8_t, N>& out) noexcept {
  if (text.size() != 2 * N) return false;
  bool any = false;
  for (std::size_t i = 0; i < N; ++i) {
    const int hi = hex_digit(text[2 * i]), lo = hex_digit(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    any |= out[i] != 0;
  }
  return any;
}

}  // namespace

bool SpanContext::valid() const noexcept {
  std::uint64_t t[2], id = 0;
  std::memcpy(t, trace_id.data(), sizeof t);
  std::memcpy(&id, span_id.data(), sizeof id);
  return (t[0] | t[1]) != 0 && id != 0;
}

void SpanContext::traceparent(std::span<char, 55> out) const noexcept {
  char* p = out.data();
  *p++ = '0';
  *p++ = '0';
  *p++ = '-';
  to_hex(trace_id, p);
  p += 32;
  *p++ = '-';
  to_hex(span_id, p);
  p += 16;
  *p++ = '-';
  *p++ = kHex[trace_flags >> 4];
  *p = kHex[trace_flags & 0xF];
}

std::string SpanContext::traceparent() const {
  std::string out(55, '\0');
  traceparent(std::span<char, 55>(out.data(), 55));
  return out;
}

std::optional<SpanContext> SpanContext::from_traceparent(std::string_view h) noexcept {
  // version "-" trace-id "-" parent-id "-" flags; a later version may append "-" fields.
  if (h.size() < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-') return std::nullopt;
  std::array<std::uint8_t, 1> version{}, flags{};
  if (hex_digit(h[0]) < 0 || hex_digit(h[1]) < 0) return std::nullopt;
  version[0] = static_cast<std::uint8_t>(hex_digit(h[0]) << 4 | hex_digit(h[1]));
  if (version[0] == 0xFF || (version[0] == 0 && h.size() != 55)) return std::nullopt;
  if (h.size() > 55 && h[55] != '-') return std::nullopt;
  SpanContext c;
  if (!from_hex(h.substr(3, 32), c.trace_id) || !from_hex(h.substr(36, 16), c.span_id)) {
    return std::nullopt;
  }
  c.remote = true;
  if (hex_digit(h[53]) < 0 || hex_digit(h[54]) < 0) return std::nullopt;
  flags[0] = static_cast<std::uint8_t>(hex_digit(h[53]) << 4 | hex_digit(h[54]));
  c.trace_flags = flags[0];
  return c;
}

std::string SpanContext::trace_id_hex() const {
  std::string out(32, '\0');
  to_hex(trace_id, out.data());
  return out;
}

std::string SpanContext::span_id_hex() const {
  std::string out(16, '\0');
  to_hex(span_id, out.data());
  return out;
}

}  // namespace tailgate
