#pragma once
// Reads Thrift's compact protocol (Thrift's thrift-compact-protocol.md) from one datagram: the
// message header, field headers with their id deltas, zigzag varints, lists, sets and maps, as
// views into the datagram. Refuses what libthrift's TCompactProtocol refuses with the reference
// decoder's limits (thrift_types.hpp), including its accounting of the message size: varints read
// while 10 or more bytes are left count against it, and a string or container may not claim more
// than is left. Inline: it runs per field of every Jaeger datagram. One thread, one datagram.

#include <bit>
#include <cstring>

#include "receivers/thrift_types.hpp"

namespace tailgate::receivers::thrift {

class CompactReader final : public ReadState {
 public:
  using ReadState::ReadState;

  MessageHeader message_begin() noexcept {
    MessageHeader h;
    if (byte() != 0x82) fail("Bad protocol identifier");
    const auto version_and_type = byte();
    if ((version_and_type & 0x1F) != 1) fail("Bad protocol version");
    h.type = static_cast<std::uint8_t>((version_and_type >> 5) & 0x07);
    std::size_t n = 0;
    varint(n);  // the sequence id: unused by a oneway call
    h.name = binary();
    return h;
  }

  /// The next field's header; `last_id` is the struct's previous field id (0 at its start).
  FieldHeader field_begin(std::int16_t& last_id) noexcept {
    FieldHeader h;
    const auto b = byte();
    const auto compact_type = static_cast<std::uint8_t>(b & 0x0F);
    if (compact_type == 0) return h;  // the stop, or nothing left to read
    const auto delta = static_cast<std::int16_t>(b >> 4);
    h.id = delta == 0 ? i16() : static_cast<std::int16_t>(last_id + delta);
    h.raw_type = compact_type;
    h.type = type_of(compact_type);
    h.bool_value = compact_type == 1;  // 1 true, 2 false
    last_id = h.id;
    return h;
  }

  ContainerHeader list_begin() noexcept {
    ContainerHeader h;
    const auto b = byte();
    std::int64_t count = (b >> 4) & 0x0F;
    if (count == 15) count = i32_varint();
    if (!ok() || !container(count)) return h;
    h.element = type_of(static_cast<std::uint8_t>(b & 0x0F));
    h.count = static_cast<std::uint32_t>(count);
    claim_elements(h.count, min_size(h.element));
    return h;
  }

  ContainerHeader map_begin() noexcept {
    ContainerHeader h;
    const std::int64_t count = i32_varint();
    const std::uint8_t types = count != 0 ? byte() : 0;
    if (!ok() || !container(count)) return h;
    h.element = type_of(static_cast<std::uint8_t>(types >> 4));
    h.value = type_of(static_cast<std::uint8_t>(types & 0x0F));
    h.count = static_cast<std::uint32_t>(count);
    claim_elements(h.count, min_size(h.element) + min_size(h.value));
    return h;
  }

  /// A bool: a field's is in its header (`field`), a container element's is a byte (1: true).
  bool boolean(const FieldHeader* field) noexcept {
    if (field != nullptr) return field->bool_value;
    return byte() == 1;
  }
  std::int8_t i8() noexcept { return static_cast<std::int8_t>(byte()); }
  std::int16_t i16() noexcept { return static_cast<std::int16_t>(zigzag32(i32_varint())); }
  std::int32_t i32() noexcept { return zigzag32(i32_varint()); }
  std::int64_t i64() noexcept {
    std::size_t n = 0;
    const auto v = varint(n);
    return static_cast<std::int64_t>((v >> 1) ^ (0 - (v & 1)));
  }
  double f64() noexcept {
    static_assert(std::endian::native == std::endian::little, "compact doubles are little-endian");
    double d = 0;
    if (const auto* p = take(8)) std::memcpy(&d, p, 8);
    return d;
  }
  std::string_view binary() noexcept {
    std::size_t n = 0;
    const auto size = static_cast<std::int32_t>(static_cast<std::uint32_t>(varint(n)));
    if (size == 0 || !string_length(size)) return {};  // 0 too when nothing was left
    const auto* p = take(static_cast<std::size_t>(size));
    // libthrift checks the message size after reading the bytes, with the length's own bytes.
    if (p == nullptr || !claim(static_cast<std::int64_t>(n) + size)) return {};
    return {reinterpret_cast<const char*>(p), static_cast<std::size_t>(size)};
  }

 private:
  std::uint8_t byte() noexcept {
    const auto* p = take(1);
    return p == nullptr ? 0 : *p;
  }

  // A varint of up to 10 bytes; `n` says how many it took.
  std::uint64_t varint(std::size_t& n) noexcept {
    const auto* p = peek();
    const std::size_t available = left();
    if (available > 0 && p[0] < 0x80) {  // most are one byte
      n = 1;
      take(1);
      if (available >= 10) count_message_bytes(1);
      return p[0];
    }
    // libthrift's borrowed fast path (10 bytes or more left) counts what it consumes against
    // the message size; its byte-by-byte path does not.
    const bool counted = available >= 10;
    const std::size_t most = counted ? 10 : available;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < most; ++i) {
      v |= std::uint64_t{p[i] & 0x7Fu} << (7 * i);
      if ((p[i] & 0x80) == 0) {
        n = i + 1;
        take(n);
        if (counted) count_message_bytes(static_cast<std::int64_t>(n));
        return v;
      }
    }
    fail(counted ? "Variable-length int over 10 bytes." : "No more data to read");
    return 0;
  }
  // A varint read as a 32-bit one: its low 32 bits, signed.
  std::int32_t i32_varint() noexcept {
    std::size_t n = 0;
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(varint(n)));
  }
  static std::int32_t zigzag32(std::int32_t raw) noexcept {
    const auto u = static_cast<std::uint32_t>(raw);
    return static_cast<std::int32_t>((u >> 1) ^ (0u - (u & 1u)));
  }

  Type type_of(std::uint8_t compact_type) noexcept {
    static constexpr Type kTypes[13] = {
        Type::Stop,   Type::Bool,   Type::Bool, Type::Byte, Type::I16, Type::I32,   Type::I64,
        Type::Double, Type::String, Type::List, Type::Set,  Type::Map, Type::Struct};
    if (compact_type < 13) return kTypes[compact_type];
    fail("don't know what type");
    return Type::Stop;
  }
  static int min_size(Type t) noexcept {
    switch (t) {
      case Type::Double:
        return 8;
      case Type::Stop:
      case Type::Struct:
        return 0;
      default:
        return 1;
    }
  }
};

}  // namespace tailgate::receivers::thrift
