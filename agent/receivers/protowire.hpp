#pragma once
// The protobuf binary encoding (protobuf.dev/programming-guides/encoding), read without building
// messages: the OTLP receivers decode requests with it straight into spans (otlp_packed.hpp).
// The rules follow what the agent's protobuf library (3.21) accepts, so that a request is refused
// here exactly when protobuf would refuse it: varints of at most 10 bytes, lengths of at most 5
// (and under 2 GiB), tags of at most 5, no field number 0, no tag 0 and no end-group outside the
// group it closes, nesting (messages and groups) at most 100 deep, proto3 strings valid UTF-8.
// A field whose wire type is not its declared one is an unknown field, skipped like any other.
// Never reads outside the bytes it is given.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace tailgate::receivers::protowire {

enum class WireType : std::uint8_t {
  Varint = 0,
  I64 = 1,
  Len = 2,
  StartGroup = 3,
  EndGroup = 4,
  I32 = 5
};

/// protobuf's default recursion limit: nested messages (and groups) below the top one.
inline constexpr int kMaxDepth = 100;

class Reader {
 public:
  explicit Reader(std::string_view in) noexcept : p_(in.data()), end_(in.data() + in.size()) {}
  [[nodiscard]] bool done() const noexcept { return p_ == end_; }

  bool varint(std::uint64_t& out) noexcept {
    std::uint64_t v = 0;
    for (int i = 0; i < 10; ++i) {
      if (p_ == end_) return false;
      const auto byte = static_cast<std::uint8_t>(*p_++);
      v |= static_cast<std::uint64_t>(byte & 0x7F) << (7 * i);
      if (byte < 0x80) {
        out = v;
        return true;
      }
    }
    return false;
  }
  /// A tag: at most 5 bytes, its value kept modulo 2^32 as protobuf does.
  bool tag(std::uint32_t& field, WireType& type) noexcept {
    if (p_ != end_ && static_cast<std::uint8_t>(*p_) < 0x80) [[likely]] {  // fields 1 to 15
      const auto v = static_cast<std::uint8_t>(*p_++);
      field = v >> 3u;
      type = static_cast<WireType>(v & 7u);
      return field != 0;
    }
    std::uint32_t v = 0;
    for (int i = 0; i < 5; ++i) {
      if (p_ == end_) return false;
      const auto byte = static_cast<std::uint8_t>(*p_++);
      v |= static_cast<std::uint32_t>(byte & 0x7F) << (7 * i);
      if (byte < 0x80) {
        field = v >> 3;
        type = static_cast<WireType>(v & 7);
        // Field 0 does not exist; tag 0 ends nothing in a length-delimited message.
        return field != 0;
      }
    }
    return false;
  }
  bool fixed64(std::uint64_t& out) noexcept { return fixed(&out, 8); }
  bool fixed32(std::uint32_t& out) noexcept { return fixed(&out, 4); }
  /// A length-delimited field's bytes.
  bool bytes(std::string_view& out) noexcept {
    if (p_ != end_ && static_cast<std::uint8_t>(*p_) < 0x80) [[likely]] {  // under 128 bytes
      const auto n = static_cast<std::uint8_t>(*p_++);
      if (n > static_cast<std::size_t>(end_ - p_)) return false;
      out = {p_, n};
      p_ += n;
      return true;
    }
    std::uint32_t n = 0;
    for (int i = 0; i < 5; ++i) {
      if (p_ == end_) return false;
      const auto byte = static_cast<std::uint8_t>(*p_++);
      if (i == 4 && byte >= 8) return false;  // 2 GiB or more
      n |= static_cast<std::uint32_t>(byte & 0x7F) << (7 * i);
      if (byte < 0x80) {
        if (n > static_cast<std::size_t>(end_ - p_)) return false;
        out = {p_, n};
        p_ += n;
        return true;
      }
    }
    return false;
  }
  /// Moves past a field of `type` (a group to its end, with `depth` levels left for it).
  bool skip(std::uint32_t field, WireType type, int depth) noexcept;

 private:
  bool fixed(void* out, std::size_t n) noexcept {
    if (n > static_cast<std::size_t>(end_ - p_)) return false;
    std::memcpy(out, p_, n);
    p_ += n;
    return true;
  }
  const char* p_;
  const char* end_;
};

/// Whether `s` is ASCII alone: as most keys and values are, checked with a few word loads
/// (overlapping at the end) instead of byte by byte.
[[nodiscard]] inline bool ascii(std::string_view s) noexcept {
  const char* p = s.data();
  const std::size_t n = s.size();
  if (n >= 8) {
    std::uint64_t any = 0, word = 0;
    for (std::size_t i = 0; i + 8 < n; i += 8) {
      std::memcpy(&word, p + i, 8);
      any |= word;
    }
    std::memcpy(&word, p + n - 8, 8);
    return ((any | word) & 0x8080808080808080ULL) == 0;
  }
  if (n >= 4) {
    std::uint32_t head = 0, tail = 0;
    std::memcpy(&head, p, 4);
    std::memcpy(&tail, p + n - 4, 4);
    return ((head | tail) & 0x80808080U) == 0;
  }
  unsigned any = 0;
  for (std::size_t i = 0; i < n; ++i) any |= static_cast<unsigned char>(p[i]);
  return any < 0x80;
}

/// RFC 3629 UTF-8 beyond ASCII (valid_utf8's slow path).
[[nodiscard]] bool valid_utf8_text(std::string_view s) noexcept;

/// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF.
[[nodiscard]] inline bool valid_utf8(std::string_view s) noexcept {
  return ascii(s) || valid_utf8_text(s);
}

/// The OTLP trace messages (proto/opentelemetry/...), for validate() and field_kind().
enum class Message : std::uint8_t {
  Request,
  ResourceSpans,
  Resource,
  ScopeSpans,
  Scope,
  Span,
  Event,
  Link,
  Status,
  KeyValue,
  AnyValue,
  ArrayValue,
  KeyValueList,
};

/// What a declared field holds: a scalar of its wire type, UTF-8 text, bytes or a message.
enum class Kind : std::uint8_t { Unknown, Scalar, String, Bytes, Message };
struct Field {
  Kind kind = Kind::Unknown;
  WireType type = WireType::Varint;
  Message message = Message::Request;  ///< for Kind::Message
};
namespace detail {
constexpr Field declared_by_switch(Message m, std::uint32_t number) noexcept {
  constexpr auto varint = Field{Kind::Scalar, WireType::Varint};
  constexpr auto i64 = Field{Kind::Scalar, WireType::I64};
  constexpr auto i32 = Field{Kind::Scalar, WireType::I32};
  constexpr auto text = Field{Kind::String, WireType::Len};
  constexpr auto bytes = Field{Kind::Bytes, WireType::Len};
  const auto message = [](Message of) { return Field{Kind::Message, WireType::Len, of}; };
  switch (m) {
    case Message::Request:
      if (number == 1) return message(Message::ResourceSpans);
      break;
    case Message::ResourceSpans:
      if (number == 1) return message(Message::Resource);
      if (number == 2) return message(Message::ScopeSpans);
      if (number == 3) return text;  // schema_url
      break;
    case Message::Resource:
      if (number == 1) return message(Message::KeyValue);
      if (number == 2) return varint;
      break;
    case Message::ScopeSpans:
      if (number == 1) return message(Message::Scope);
      if (number == 2) return message(Message::Span);
      if (number == 3) return text;
      break;
    case Message::Scope:
      if (number == 1 || number == 2) return text;
      if (number == 3) return message(Message::KeyValue);
      if (number == 4) return varint;
      break;
    case Message::Span:
      switch (number) {
        case 1:
        case 2:
        case 4:
          return bytes;
        case 3:
        case 5:
          return text;
        case 6:
        case 10:
        case 12:
        case 14:
          return varint;
        case 7:
        case 8:
          return i64;
        case 9:
          return message(Message::KeyValue);
        case 11:
          return message(Message::Event);
        case 13:
          return message(Message::Link);
        case 15:
          return message(Message::Status);
        case 16:
          return i32;
        default:
          break;
      }
      break;
    case Message::Event:
      if (number == 1) return i64;
      if (number == 2) return text;
      if (number == 3) return message(Message::KeyValue);
      if (number == 4) return varint;
      break;
    case Message::Link:
      if (number == 1 || number == 2) return bytes;
      if (number == 3) return text;
      if (number == 4) return message(Message::KeyValue);
      if (number == 5) return varint;
      if (number == 6) return i32;
      break;
    case Message::Status:
      if (number == 2) return text;
      if (number == 3) return varint;
      break;
    case Message::KeyValue:
      if (number == 1) return text;
      if (number == 2) return message(Message::AnyValue);
      break;
    case Message::AnyValue:
      switch (number) {
        case 1:
          return text;
        case 2:
        case 3:
          return varint;
        case 4:
          return i64;
        case 5:
          return message(Message::ArrayValue);
        case 6:
          return message(Message::KeyValueList);
        case 7:
          return bytes;
        default:
          break;
      }
      break;
    case Message::ArrayValue:
      if (number == 1) return message(Message::AnyValue);
      break;
    case Message::KeyValueList:
      if (number == 1) return message(Message::KeyValue);
      break;
  }
  return {};
}

inline constexpr std::size_t kMessages = static_cast<std::size_t>(Message::KeyValueList) + 1;
inline constexpr std::uint32_t kMaxDeclared = 16;  // Span.flags
// declared_by_switch as a table by tag (number and wire type), looked up for every field of every
// request: Kind::Unknown where the wire type is not the declared one.
inline constexpr auto kDeclared = [] {
  std::array<std::array<Field, (kMaxDeclared + 1) * 8>, kMessages> table{};
  for (std::size_t m = 0; m < kMessages; ++m) {
    for (std::uint32_t n = 0; n <= kMaxDeclared; ++n) {
      const auto field = declared_by_switch(static_cast<Message>(m), n);
      if (field.kind != Kind::Unknown)
        table[m][n * 8 + static_cast<std::uint32_t>(field.type)] = field;
    }
  }
  return table;
}();

}  // namespace detail

/// Whether a field read with `type` is the declared `number` of `m` (else it is unknown).
[[nodiscard]] inline bool is(Message m, std::uint32_t number, WireType type, Field& out) noexcept {
  if (number > detail::kMaxDeclared) [[unlikely]] {
    out = {};
    return false;
  }
  out =
      detail::kDeclared[static_cast<std::size_t>(m)][number * 8 + static_cast<std::uint32_t>(type)];
  return out.kind != Kind::Unknown;
}

enum class Problem : std::uint8_t { None, Malformed, InvalidUtf8, TooDeep };
[[nodiscard]] std::string_view to_string(Problem p) noexcept;

/// Checks `bytes` as message `m` with `depth` levels of nesting left, as protobuf parses it, and
/// adds the number of Span messages in it to `spans` (a decoder's batch is sized by it).
[[nodiscard]] Problem validate(std::string_view bytes, Message m, std::size_t& spans,
                               int depth = kMaxDepth) noexcept;

/// The Span messages in an ExportTraceServiceRequest's `bytes`, counted by their tags alone (to
/// size a decoder's batch): of one that is not well formed, those before where it is not.
[[nodiscard]] std::size_t count_spans(std::string_view bytes) noexcept;

/// The messages `bytes` hold as message `m`, itself and those nested in it, counted by their tags
/// alone (what parsing it allocates one by one, and mapping it to the model): of one that is not
/// well formed, those before where it is not.
[[nodiscard]] std::size_t count_messages(std::string_view bytes, Message m,
                                         int depth = kMaxDepth) noexcept;

}  // namespace tailgate::receivers::protowire
