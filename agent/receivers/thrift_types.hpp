#pragma once
// What the Thrift compact and binary readers (thrift_compact_reader.hpp, thrift_binary_reader.hpp)
// share: the value types of the Thrift specification, the headers they read, and the state every
// read keeps: the bytes left, the first problem (reads after it do nothing), the nesting depth,
// and the bytes a message may still claim. The limits are those the libthrift reference decoder
// is configured with (jaeger_thrift.cpp: string, container and message size all the datagram's
// size, nesting 16), and are checked where the reference checks them, so that both refuse the
// same datagrams. Used by one thread at a time, on one datagram.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tailgate::receivers::thrift {

/// Thrift's type ids (the binary protocol writes them as is; the compact protocol maps its own).
enum class Type : std::uint8_t {
  Stop = 0,
  Void = 1,
  Bool = 2,
  Byte = 3,
  Double = 4,
  I16 = 6,
  I32 = 8,
  U64 = 9,
  I64 = 10,
  String = 11,
  Struct = 12,
  Map = 13,
  Set = 14,
  List = 15,
  Utf8 = 16,
  Utf16 = 17,
};

/// Message types of a message header.
inline constexpr std::uint8_t kCall = 1;
inline constexpr std::uint8_t kOneway = 4;

struct MessageHeader {
  std::string_view name;
  std::uint8_t type = 0;  ///< kCall, kOneway, ... (as sent: not checked here)
};

struct FieldHeader {
  Type type = Type::Stop;  ///< Stop: the struct ends
  std::uint8_t raw_type = 0;
  std::int16_t id = 0;
  bool bool_value = false;  ///< compact: a bool field's value travels in its header
};

struct ContainerHeader {
  Type element = Type::Stop;  ///< a map's keys
  Type value = Type::Stop;    ///< a map's values
  std::uint32_t count = 0;
};

/// The position, limits and first problem of one read; the protocol readers derive from it.
class ReadState {
 public:
  ReadState(const std::byte* data, std::size_t size) noexcept
      : at_(reinterpret_cast<const std::uint8_t*>(data)),
        end_(at_ + size),
        limit_(static_cast<std::int64_t>(size > kMaxSize ? kMaxSize : size)),
        message_left_(limit_) {}

  [[nodiscard]] bool ok() const noexcept { return error_ == nullptr; }
  /// The first problem, or empty.
  [[nodiscard]] std::string_view error() const noexcept {
    return error_ == nullptr ? std::string_view{} : std::string_view(error_);
  }
  /// Records the first problem; reads after it return nothing and read nothing.
  void fail(const char* why) noexcept {
    if (error_ == nullptr) error_ = why;
    at_ = end_;
  }
  /// Entering a struct, or skipping any value (libthrift counts both): false past kMaxDepth.
  bool enter() noexcept {
    if (++depth_ > kMaxDepth) fail("Exceeded nesting depth limit");
    return ok();
  }
  void leave() noexcept { --depth_; }

 protected:
  static constexpr std::size_t kMaxSize = 0x7FFFFFFF;
  static constexpr int kMaxDepth = 16;

  [[nodiscard]] std::size_t left() const noexcept { return static_cast<std::size_t>(end_ - at_); }
  /// `n` bytes, or nullptr (and a problem) if the datagram ends first. After a problem the
  /// datagram reads as ended, so that nothing after it is read.
  const std::uint8_t* take(std::size_t n) noexcept {
    if (n > left()) [[unlikely]] {
      fail("No more data to read");
      at_ = end_;
      return nullptr;
    }
    const auto* p = at_;
    at_ += n;
    return p;
  }
  /// The next bytes without taking them (left() of them).
  [[nodiscard]] const std::uint8_t* peek() const noexcept { return at_; }
  // What is left of the message size the reference allows: some reads count against it, and a
  // container or string may not claim more than is left.
  void count_message_bytes(std::int64_t n) noexcept { message_left_ -= n; }
  bool claim(std::int64_t n) noexcept {
    if (n > message_left_) fail("MaxMessageSize reached");
    return ok();
  }
  /// A container's count against the limit.
  bool container(std::int64_t count) noexcept {
    if (count < 0) fail("Negative length");
    if (limit_ != 0 && count > limit_) fail("Exceeded size limit");
    return ok();
  }
  /// What `count` elements of at least `min_size` bytes each claim of the message size (libthrift
  /// multiplies them in 32 bits).
  bool claim_elements(std::uint32_t count, int min_size) noexcept {
    return claim(static_cast<std::int64_t>(count * static_cast<std::uint32_t>(min_size)));
  }
  /// A string's length against the limit.
  bool string_length(std::int64_t size) noexcept {
    if (size < 0) fail("Negative length");
    if (limit_ != 0 && size > limit_) fail("Exceeded size limit");
    return ok();
  }

 private:
  const std::uint8_t* at_;
  const std::uint8_t* end_;
  std::int64_t limit_;  ///< strings and containers: at most the datagram's size
  std::int64_t message_left_;
  const char* error_ = nullptr;
  int depth_ = 0;
};

}  // namespace tailgate::receivers::thrift
