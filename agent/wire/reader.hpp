#pragma once
// The agent's bounds-checked reader of the record format, shared by decode.cpp (records, items)
// and decode_values.cpp (values). Agent-only: not installed with the client.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "wire/decode.hpp"

namespace tailgate::wire::detail {

// Bounds-checked reader: every read checks the remaining length first, so a corrupt length can
// make a read fail but never reach past the buffer.
class Reader {
 public:
  explicit Reader(std::span<const std::byte> in, std::size_t pos = 0) noexcept
      : in_(in), pos_(pos) {}
  [[nodiscard]] bool done() const noexcept { return pos_ == in_.size(); }
  [[nodiscard]] std::size_t pos() const noexcept { return pos_; }
  bool bytes(void* out, std::size_t n) noexcept {
    if (n > in_.size() - pos_) return false;
    if (n != 0) std::memcpy(out, in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool u8(std::uint8_t& v) noexcept { return bytes(&v, 1); }
  bool skip(std::size_t n) noexcept {
    if (n > in_.size() - pos_) return false;
    pos_ += n;
    return true;
  }
  bool u16(std::uint16_t& v) noexcept { return bytes(&v, 2); }
  bool u64(std::uint64_t& v) noexcept { return bytes(&v, 8); }
  bool str(std::string& out, std::size_t n) {
    if (n > in_.size() - pos_) return false;
    out.assign(reinterpret_cast<const char*>(in_.data() + pos_), n);
    pos_ += n;
    return true;
  }
  /// The bytes read since `start` (an earlier pos()).
  [[nodiscard]] std::span<const std::byte> since(std::size_t start) const noexcept {
    return in_.subspan(start, pos_ - start);
  }
  bool str16(std::string& out) {
    std::uint16_t n = 0;
    return u16(n) && str(out, n);
  }
  bool view16(std::string_view& out) noexcept {
    std::uint16_t n = 0;
    if (!u16(n) || n > in_.size() - pos_) return false;
    out = {reinterpret_cast<const char*>(in_.data() + pos_), n};
    pos_ += n;
    return true;
  }

 private:
  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
};

/// Reads a value (type byte and bytes) as a view; an array as its bytes (checked).
DecodeError read_value(Reader& r, ValueRef& out) noexcept;
/// Reads a value into the model's type.
DecodeError read_value(Reader& r, model::AttributeValue& out);
/// A decoded value as a view (the cursor's and find_attribute's answer for decoded spans).
ValueRef ref_of(const model::AttributeValue& value) noexcept;
/// Checks a value and moves past it without making anything of it.
DecodeError skip_value(Reader& r) noexcept;
/// Checks the rest of an item whose tag was read and moves past it.
DecodeError skip_item_body(Reader& r, std::uint8_t tag) noexcept;

}  // namespace tailgate::wire::detail
