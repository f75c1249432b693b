// The record format's values (docs/wire-format.md): read, checked and skipped, arrays included.
#include <string>
#include <type_traits>
#include <vector>

#include "wire/reader.hpp"
#include "wire/span_record.hpp"

namespace tailgate::wire {
namespace detail {
namespace {

// Checks an array's bytes after its type byte and moves past them: element type, count, elements.
DecodeError skip_array(Reader& r) noexcept {
  std::uint8_t element = 0;
  std::uint16_t count = 0;
  if (!r.u8(element) || !r.u16(count)) return DecodeError::Truncated;
  switch (static_cast<ValueType>(element)) {
    case ValueType::String:
      for (std::size_t i = 0; i < count; ++i) {
        std::uint16_t n = 0;
        if (!r.u16(n) || !r.skip(n)) return DecodeError::Truncated;
      }
      return DecodeError::None;
    case ValueType::Int64:
    case ValueType::Double:
      return r.skip(std::size_t{8} * count) ? DecodeError::None : DecodeError::Truncated;
    case ValueType::Bool:
      for (std::size_t i = 0; i < count; ++i) {
        std::uint8_t b = 0;
        if (!r.u8(b)) return DecodeError::Truncated;
        if (b > 1) return DecodeError::BadValue;
      }
      return DecodeError::None;
    case ValueType::Array:  // OTLP allows arrays of arrays; the record format does not
      break;
  }
  return DecodeError::UnknownType;
}

}  // namespace

DecodeError read_value(Reader& r, ValueRef& out) noexcept {
  std::uint8_t type = 0;
  if (!r.u8(type)) return DecodeError::Truncated;
  switch (static_cast<ValueType>(type)) {
    case ValueType::Array: {
      const auto start = r.pos();
      if (auto e = skip_array(r); e != DecodeError::None) return e;
      out = ArrayRef{.packed = r.since(start)};
      return DecodeError::None;
    }
    case ValueType::String: {
      std::string_view s;
      if (!r.view16(s)) return DecodeError::Truncated;
      out = s;
      return DecodeError::None;
    }
    case ValueType::Int64: {
      std::int64_t i = 0;
      if (!r.bytes(&i, 8)) return DecodeError::Truncated;
      out = i;
      return DecodeError::None;
    }
    case ValueType::Double: {
      double d = 0;
      if (!r.bytes(&d, 8)) return DecodeError::Truncated;
      out = d;
      return DecodeError::None;
    }
    case ValueType::Bool: {
      std::uint8_t b = 0;
      if (!r.u8(b)) return DecodeError::Truncated;
      if (b > 1) return DecodeError::BadValue;
      out = b == 1;
      return DecodeError::None;
    }
  }
  return DecodeError::UnknownType;
}

DecodeError read_value(Reader& r, model::AttributeValue& out) {
  ValueRef ref;
  if (auto e = read_value(r, ref); e != DecodeError::None) return e;
  std::visit(
      [&out](auto v) {
        if constexpr (std::is_same_v<decltype(v), std::string_view>) {
          out = std::string(v);
        } else if constexpr (std::is_same_v<decltype(v), ArrayRef>) {
          out = v.value();
        } else {
          out = v;
        }
      },
      ref);
  return DecodeError::None;
}

// A decoded value as a view (the cursor's and find_attribute's answer for decoded spans).
ValueRef ref_of(const model::AttributeValue& value) noexcept {
  return std::visit(
      [](const auto& v) {
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, model::ArrayValue>) {
          return ValueRef(ArrayRef{.decoded = &v});
        } else {
          return ValueRef(v);
        }
      },
      value);
}

// Checks a value and moves past it without making anything of it.
DecodeError skip_value(Reader& r) noexcept {
  std::uint8_t type = 0;
  if (!r.u8(type)) return DecodeError::Truncated;
  switch (static_cast<ValueType>(type)) {
    case ValueType::String: {
      std::uint16_t n = 0;
      return r.u16(n) && r.skip(n) ? DecodeError::None : DecodeError::Truncated;
    }
    case ValueType::Int64:
    case ValueType::Double:
      return r.skip(8) ? DecodeError::None : DecodeError::Truncated;
    case ValueType::Bool: {
      std::uint8_t b = 0;
      if (!r.u8(b)) return DecodeError::Truncated;
      return b > 1 ? DecodeError::BadValue : DecodeError::None;
    }
    case ValueType::Array:
      return skip_array(r);
  }
  return DecodeError::UnknownType;
}

}  // namespace detail

model::ArrayValue ArrayRef::value() const {
  if (decoded != nullptr) return *decoded;
  // Checked by skip_array when it was received: the reads below cannot fail or run long.
  detail::Reader r(packed);
  std::uint8_t element = 0;
  std::uint16_t count = 0;
  if (!r.u8(element) || !r.u16(count)) return {};
  switch (static_cast<ValueType>(element)) {
    case ValueType::String: {
      std::vector<std::string> out(count);
      for (auto& s : out) r.str16(s);
      return out;
    }
    case ValueType::Int64: {
      std::vector<std::int64_t> out(count);
      r.bytes(out.data(), out.size() * sizeof(std::int64_t));
      return out;
    }
    case ValueType::Double: {
      std::vector<double> out(count);
      r.bytes(out.data(), out.size() * sizeof(double));
      return out;
    }
    case ValueType::Bool: {
      std::vector<bool> out(count);
      for (std::size_t i = 0; i < count; ++i) {
        std::uint8_t b = 0;
        r.u8(b);
        out[i] = b == 1;
      }
      return out;
    }
    case ValueType::Array:
      break;
  }
  return {};
}

}  // namespace tailgate::wire
