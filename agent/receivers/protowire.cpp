#include "receivers/protowire.hpp"

#include <cstddef>

namespace tailgate::receivers::protowire {

bool Reader::skip(std::uint32_t field, WireType type, int depth) noexcept {
  std::uint64_t scalar = 0;
  std::string_view text;
  switch (type) {
    case WireType::Varint:
      return varint(scalar);
    case WireType::I64:
      return fixed64(scalar);
    case WireType::I32: {
      std::uint32_t v = 0;
      return fixed32(v);
    }
    case WireType::Len:
      return bytes(text);
    case WireType::StartGroup: {
      if (--depth < 0) return false;
      std::uint32_t inner = 0;
      WireType inner_type{};
      while (tag(inner, inner_type)) {
        if (inner_type == WireType::EndGroup) return inner == field;
        if (!skip(inner, inner_type, depth)) return false;
      }
      return false;  // ended (or broke) before its end-group
    }
    case WireType::EndGroup:  // closes no group here
      break;
  }
  return false;  // wire types 6 and 7 do not exist
}

bool valid_utf8_text(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p != end) {
    // Most text is ASCII: eight bytes at a time while no high bit is set.
    while (end - p >= 8) {
      std::uint64_t word = 0;
      std::memcpy(&word, p, 8);
      if ((word & 0x8080808080808080ULL) != 0) break;
      p += 8;
    }
    if (p == end) break;
    const unsigned c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t n = 0;
    unsigned lo = 0x80, hi = 0xBF;  // the range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // past U+10FFFF
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) <= n) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (std::size_t i = 2; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
    }
    p += n + 1;
  }
  return true;
}

std::string_view to_string(Problem p) noexcept {
  switch (p) {
    case Problem::None:
      return "none";
    case Problem::Malformed:
      return "a field is truncated or not in the protobuf encoding";
    case Problem::InvalidUtf8:
      return "a string field is not valid UTF-8";
    case Problem::TooDeep:
      return "nested deeper than 100 levels";
  }
  return "unknown";
}

Problem validate(std::string_view bytes, Message m, std::size_t& spans, int depth) noexcept {
  if (m == Message::Span) ++spans;
  Reader r(bytes);
  std::uint32_t number = 0;
  WireType type{};
  Field field;
  while (!r.done()) {
    if (!r.tag(number, type)) return Problem::Malformed;
    if (!is(m, number, type, field)) {
      if (type == WireType::StartGroup && depth < 1) return Problem::TooDeep;
      if (!r.skip(number, type, depth)) return Problem::Malformed;
      continue;
    }
    std::string_view body;
    if (field.kind == Kind::Scalar) {
      if (!r.skip(number, type, depth)) return Problem::Malformed;
    } else if (!r.bytes(body)) {
      return Problem::Malformed;
    } else if (field.kind == Kind::String && !valid_utf8(body)) {
      return Problem::InvalidUtf8;
    } else if (field.kind == Kind::Message) {
      if (depth < 1) return Problem::TooDeep;
      if (const auto p = validate(body, field.message, spans, depth - 1); p != Problem::None)
        return p;
    }
  }
  return Problem::None;
}

namespace {

// The fields `wanted` (messages) of `m`'s bytes: counted, or at `inner`, counted inside.
std::size_t count_nested(std::string_view bytes, Message m) noexcept {
  const bool request = m == Message::Request;
  const std::uint32_t wanted = request ? 1 : 2;  // resource_spans; scope_spans, spans
  std::size_t count = 0;
  Reader r(bytes);
  while (!r.done()) {
    std::uint32_t number = 0;
    WireType type{};
    std::string_view body;
    if (!r.tag(number, type)) break;
    if (number != wanted || type != WireType::Len) {
      if (!r.skip(number, type, kMaxDepth)) break;
    } else if (!r.bytes(body)) {
      break;
    } else if (m == Message::ScopeSpans) {
      ++count;
    } else {
      count += count_nested(body, request ? Message::ResourceSpans : Message::ScopeSpans);
    }
  }
  return count;
}

}  // namespace

std::size_t count_spans(std::string_view bytes) noexcept {
  return count_nested(bytes, Message::Request);
}

std::size_t count_messages(std::string_view bytes, Message m, int depth) noexcept {
  std::size_t count = 1;
  Reader r(bytes);
  while (!r.done()) {
    std::uint32_t number = 0;
    WireType type{};
    Field field;
    std::string_view body;
    if (!r.tag(number, type)) break;
    if (!is(m, number, type, field) || field.kind != Kind::Message) {
      if (!r.skip(number, type, depth)) break;
    } else if (!r.bytes(body)) {
      break;
    } else if (depth >= 1) {
      count += count_messages(body, field.message, depth - 1);
    }
  }
  return count;
}

}  // namespace tailgate::receivers::protowire
