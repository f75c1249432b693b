#pragma once
// Reads Thrift's binary protocol (Thrift's thrift-binary-protocol.md) from one datagram:
// big-endian fixed-size integers, length-prefixed strings, type bytes as sent, and both message
// headers (strict, with the version; and the older one that starts with the name's length), as
// views into the datagram. Refuses what libthrift's TBinaryProtocol refuses with the reference
// decoder's limits (thrift_types.hpp), including its accounting of the message size: string
// bytes count against it, and a container may not claim more than is left. Inline: it runs per
// field of every Jaeger datagram. One thread, one datagram.

#include <bit>
#include <cstring>

#include "receivers/thrift_types.hpp"

namespace tailgate::receivers::thrift {

class BinaryReader final : public ReadState {
 public:
  using ReadState::ReadState;

  MessageHeader message_begin() noexcept {
    MessageHeader h;
    const auto size_or_version = i32();
    if (!ok()) return h;
    if (size_or_version < 0) {
      if ((static_cast<std::uint32_t>(size_or_version) & 0xFFFF0000u) != 0x80010000u) {
        fail("Bad version identifier");
      }
      h.type = static_cast<std::uint8_t>(size_or_version & 0xFF);
      h.name = binary();
    } else {  // the header before versions: the name first, then the type byte
      h.name = body(size_or_version);
      h.type = byte();
    }
    i32();  // the sequence id: unused by a oneway call
    return h;
  }

  /// The next field's header (`last_id` is the compact protocol's; unused here).
  FieldHeader field_begin(std::int16_t& /*last_id*/) noexcept {
    FieldHeader h;
    h.raw_type = byte();
    if (h.raw_type == 0) return h;  // the stop, or nothing left to read
    h.type = static_cast<Type>(h.raw_type);
    h.id = i16();
    return h;
  }

  ContainerHeader list_begin() noexcept {
    ContainerHeader h;
    h.element = static_cast<Type>(byte());
    const auto count = i32();
    if (!ok() || !container(count)) return h;
    h.count = static_cast<std::uint32_t>(count);
    claim_elements(h.count, min_size(h.element));
    return h;
  }

  ContainerHeader map_begin() noexcept {
    ContainerHeader h;
    h.element = static_cast<Type>(byte());
    h.value = static_cast<Type>(byte());
    const auto count = i32();
    if (!ok() || !container(count)) return h;
    h.count = static_cast<std::uint32_t>(count);
    const int key_size = min_size(h.element);
    claim_elements(h.count, key_size + min_size(h.value));
    return h;
  }

  /// A bool is a byte, in a field or a container alike (not 0: true).
  bool boolean(const FieldHeader* /*field*/) noexcept { return byte() != 0; }
  std::int8_t i8() noexcept { return static_cast<std::int8_t>(byte()); }
  std::int16_t i16() noexcept { return static_cast<std::int16_t>(big_endian<std::uint16_t>()); }
  std::int32_t i32() noexcept { return static_cast<std::int32_t>(big_endian<std::uint32_t>()); }
  std::int64_t i64() noexcept { return static_cast<std::int64_t>(big_endian<std::uint64_t>()); }
  double f64() noexcept { return std::bit_cast<double>(big_endian<std::uint64_t>()); }
  std::string_view binary() noexcept { return body(i32()); }

 private:
  std::uint8_t byte() noexcept {
    const auto* p = take(1);
    return p == nullptr ? 0 : *p;
  }
  template <typename Unsigned>
  Unsigned big_endian() noexcept {
    static_assert(std::endian::native == std::endian::little, "swaps to the host's order");
    Unsigned v = 0;
    if (const auto* p = take(sizeof v)) std::memcpy(&v, p, sizeof v);
    if constexpr (sizeof v == 2) {
      return __builtin_bswap16(v);
    } else if constexpr (sizeof v == 4) {
      return __builtin_bswap32(v);
    } else {
      return __builtin_bswap64(v);
    }
  }
  // A string's bytes after its length; what it takes counts against the message size.
  std::string_view body(std::int32_t size) noexcept {
    if (!ok() || size == 0 || !string_length(size)) return {};
    const auto* p = take(static_cast<std::size_t>(size));
    if (p == nullptr) return {};
    count_message_bytes(size);
    return {reinterpret_cast<const char*>(p), static_cast<std::size_t>(size)};
  }
  // Bytes of the smallest value of a type; a type the protocol does not know is refused here
  // (libthrift asks even for an empty container).
  int min_size(Type t) noexcept {
    switch (t) {
      case Type::Stop:
      case Type::Void:
      case Type::Struct:
        return 0;
      case Type::Bool:
      case Type::Byte:
        return 1;
      case Type::I16:
        return 2;
      case Type::I32:
      case Type::String:
      case Type::Map:
      case Type::Set:
      case Type::List:
        return 4;
      case Type::Double:
      case Type::I64:
        return 8;
      default:
        fail("unrecognized type code");
        return 0;
    }
  }
};

}  // namespace tailgate::receivers::thrift
