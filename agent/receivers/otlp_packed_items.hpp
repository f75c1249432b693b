#pragma once
// The packed OTLP decoder's pieces (otlp_packed.hpp): a walk over a message's declared fields,
// attribute values read from OTLP's AnyValue, and the buffer a span's items are written into
// with the record format's writer.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "model/span.hpp"
#include "receivers/protowire.hpp"
#include "wire/encode.hpp"
#include "wire/write_value.hpp"

namespace tailgate::receivers::otlp::packed {

using protowire::Field;
using protowire::Message;
using protowire::Reader;
using protowire::WireType;

// Calls on_field(reader, number, field) for each declared field of `m` in `bytes`, which reads its
// value; unknown fields are skipped, checked as protowire::validate() checks them with `depth`
// levels of nesting left below `m` (a group). False if a read or check failed or on_field said so.
// The decoder checks what it reads as it reads it (one pass over the request): whatever a
// request's fields are, it refuses exactly the requests validate() refuses.
template <typename OnField>
bool for_each_field(std::string_view bytes, Message m, int depth, OnField&& on_field) {
  Reader r(bytes);
  while (!r.done()) {
    std::uint32_t number = 0;
    WireType type{};
    Field field;
    if (!r.tag(number, type)) return false;
    if (!protowire::is(m, number, type, field)) {
      if (type == WireType::StartGroup && depth < 1) return false;
      if (!r.skip(number, type, depth)) return false;
    } else if (!on_field(r, number, field)) {
      return false;
    }
  }
  return true;
}

// Moves past a declared field's value that another pass over the message reads and checks.
inline bool skip(Reader& r, std::uint32_t number, const Field& field) {
  return r.skip(number, field.type, protowire::kMaxDepth);
}

// Moves past a declared field's value that no pass reads, checking it as validate() does (with
// `depth` levels of nesting left below the message it is in).
inline bool check(Reader& r, std::uint32_t number, const Field& field, int depth) {
  if (field.kind == protowire::Kind::Scalar) return r.skip(number, field.type, depth);
  std::string_view body;
  if (!r.bytes(body)) return false;
  if (field.kind == protowire::Kind::String) return protowire::valid_utf8(body);
  if (field.kind != protowire::Kind::Message) return true;
  std::size_t spans = 0;
  return depth >= 1 &&
         protowire::validate(body, field.message, spans, depth - 1) == protowire::Problem::None;
}

// A message the decoder does not read itself (a resource, an array): checked as validate() does.
inline bool valid(std::string_view bytes, Message m, int depth) {
  std::size_t spans = 0;
  return protowire::validate(bytes, m, spans, depth) == protowire::Problem::None;
}

inline bool fits16(std::string_view s) noexcept {
  return s.size() <= wire::kMaxStringLength;
}

// An attribute's value: a view into the request for the types the item encoding has, else the
// model's own value, made by value_of() as from_otlp makes it.
struct Value {
  wire::ValueView view = std::string_view{};  // a KeyValue without a value: ""
  // Arrays, maps and bytes: made by value_of, as from_otlp makes them, and written by
  // wire::write_value, the one writer of a model value, so both paths stay the same. Optional: the
  // scalars read for every attribute of every span neither make nor destroy a model value.
  std::optional<model::AttributeValue> owned;
  [[nodiscard]] bool fits() const noexcept {
    if (!owned) {
      const auto* s = std::get_if<std::string_view>(&view);
      return s == nullptr || fits16(*s);
    }
    if (const auto* s = std::get_if<std::string>(&*owned)) return fits16(*s);
    if (const auto* a = std::get_if<model::ArrayValue>(&*owned)) {
      return std::visit(
          [](const auto& elements) {
            if (elements.size() > 0xFFFF) return false;
            if constexpr (std::is_same_v<typename std::decay_t<decltype(elements)>::value_type,
                                         std::string>) {
              return std::all_of(elements.begin(), elements.end(),
                                 [](const std::string& e) { return fits16(e); });
            }
            return true;
          },
          *a);
    }
    return true;
  }
  void write(wire::ByteWriter& w) const noexcept {
    if (owned) {
      wire::write_value(w, *owned);
    } else {
      w.value(view);
    }
  }
};

struct KeyValueView {
  std::string_view key;
  Value value;
};

// One span's items, written with the record format's writer into a buffer grown as needed.
class ItemBuffer {
 public:
  void clear() noexcept {
    used_ = 0;
    count_ = 0;
  }
  // False when the span holds more items than the encoding counts.
  template <typename Write>
  bool add(Write&& write) {
    if (count_ >= wire::kMaxItems) return false;
    for (;;) {
      wire::ByteWriter w(std::span<std::byte>(bytes_), used_);
      write(w);
      if (!w.failed()) {
        used_ = w.size();
        ++count_;
        return true;
      }
      // Lengths were checked before: the writer failed for room alone.
      if (bytes_.size() > kMaxBytes) return false;
      bytes_.resize(std::max<std::size_t>(bytes_.size() * 2, 1024));
    }
  }
  [[nodiscard]] model::PackedItems packed() const {
    return {bytes_.data(), static_cast<std::uint32_t>(used_), static_cast<std::uint16_t>(count_)};
  }

 private:
  static constexpr std::size_t kMaxBytes = std::size_t{1} << 30;
  std::vector<std::byte> bytes_;
  std::size_t used_ = 0;
  std::size_t count_ = 0;
};

// False: the value is one protobuf would merge (sent twice), or one the item encoding cannot
// hold (a string over 65,535 bytes), or one validate() refuses (with `depth` levels of nesting
// left below the KeyValue), or an array or map of more than DecodeBudget::kMaxPackedValueMessages:
// left to from_otlp's own mapping, which checks the span whole (and counts it in the budget).
bool read_key_value(std::string_view bytes, int depth, std::string_view& key, Value& value);

/// An event's or a link's attributes: count u8, then each key and value.
void write_attributes(wire::ByteWriter& w, const std::vector<KeyValueView>& attributes);

}  // namespace tailgate::receivers::otlp::packed
