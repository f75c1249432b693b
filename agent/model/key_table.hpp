#pragma once
// Attribute keys interned for buffered spans (model::PackedSpans). A trading span repeats the same
// half-dozen keys (order.symbol, order.side, ...) in every span: about a third of its items'
// bytes. Buffered, a span's attribute names its key by a 2-byte id into this table instead.
// Bounded, since keys come from outside: past kMaxKeys keys or kMaxBytes of them, or for a key
// longer than kMaxKeyLength, the key stays inline in its span (it costs those bytes, nothing
// else). Keys are never removed, so an id stays valid as long as any span refers to it; a table
// that junk keys filled is replaced for new traces instead (model::KeyGenerations).
// Owned by the pipeline thread; not thread-safe.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tailgate::model {

class KeyTable final {
 public:
  static constexpr std::size_t kMaxKeys = 4096;
  static constexpr std::size_t kMaxKeyLength = 255;
  static constexpr std::size_t kMaxBytes = 256 * 1024;

  KeyTable() : slots_(kSlots, kEmpty) {
    text_.reserve(kMaxBytes);  // never moves: views of keys stay valid
    keys_.reserve(kMaxKeys);
  }

  /// The key's id, added if there is room; nullopt: the span keeps the key inline. `position`:
  /// the attribute's place in its span. Inline: it runs for every attribute of every span taken
  /// in. Spans of a producer name the same keys in the same order, so mostly the key is the one
  /// last found at its place (no hash), else in its home slot.
  [[nodiscard]] std::optional<std::uint16_t> intern(std::string_view key,
                                                    std::size_t position = 0) {
    if (key.size() > kMaxKeyLength) return std::nullopt;
    const auto [a, b] = words(key);
    auto& hint = hints_[position % kHints];
    if (hint != kEmpty && same(keys_[hint], key, a, b)) return hint;
    const auto id = find_or_add(key, a, b);
    if (id) hint = *id;
    return id;
  }
  [[nodiscard]] std::string_view key(std::uint16_t id) const noexcept {
    const auto& k = keys_[id];
    return {text_.data() + k.offset, k.length};
  }
  [[nodiscard]] std::size_t size() const noexcept { return keys_.size(); }
  /// Keys turned away for want of room (not for their length): how long the table has been full.
  [[nodiscard]] std::size_t misses() const noexcept { return misses_; }
  /// Bytes the table has touched (what it reserved but never wrote is no RSS): its slots, its
  /// keys and their text.
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return sizeof(KeyTable) + slots_.size() * sizeof(std::uint16_t) + keys_.size() * sizeof(Key) +
           text_.size();
  }

 private:
  static constexpr std::size_t kSlots = 2 * kMaxKeys;  ///< at most half full
  static constexpr std::uint16_t kEmpty = 0xFFFF;
  static constexpr std::size_t kHints = 16;
  struct Key {
    std::uint64_t a, b;  ///< words(key)
    std::uint32_t offset;
    std::uint32_t length;
  };
  /// The key's first and last 8 bytes (a short key's bytes in `a`, `b` zero): with the length,
  /// the whole of a key of up to 16 bytes.
  [[nodiscard]] static std::pair<std::uint64_t, std::uint64_t> words(
      std::string_view key) noexcept {
    std::uint64_t a = 0, b = 0;
    if (key.size() >= 8) {
      std::memcpy(&a, key.data(), 8);
      std::memcpy(&b, key.data() + key.size() - 8, 8);
    } else {
      for (std::size_t i = 0; i < key.size(); ++i) {
        a |= std::uint64_t{static_cast<unsigned char>(key[i])} << (8 * i);
      }
    }
    return {a, b};
  }
  [[nodiscard]] static std::size_t home(std::uint64_t a, std::uint64_t b, std::size_t n) noexcept {
    const auto h = ((a * 0x9e3779b97f4a7c15ULL) ^ (b + n)) * 0xbf58476d1ce4e5b9ULL;
    return static_cast<std::size_t>(h >> 51);  // 13 bits: kSlots
  }
  /// Keys of up to 16 bytes are wholly in their two words: three integer compares.
  [[nodiscard]] bool same(const Key& k, std::string_view key, std::uint64_t a,
                          std::uint64_t b) const noexcept {
    return k.a == a && k.b == b && k.length == key.size() &&
           (key.size() <= 16 || std::memcmp(text_.data() + k.offset, key.data(), key.size()) == 0);
  }
  static constexpr std::array<std::uint16_t, kHints> filled_hints() noexcept {
    std::array<std::uint16_t, kHints> hints{};
    hints.fill(kEmpty);
    return hints;
  }
  /// From the key's home slot on: its id, or it added in the empty slot that ends the probe.
  std::optional<std::uint16_t> find_or_add(std::string_view key, std::uint64_t a, std::uint64_t b);
  static_assert(kSlots == 8192 && kMaxKeys < kEmpty);

  std::array<std::uint16_t, kHints> hints_ = filled_hints();  ///< [place]: the id found last
  std::vector<std::uint16_t> slots_;
  std::string text_;
  std::vector<Key> keys_;
  std::size_t misses_ = 0;
};

}  // namespace tailgate::model
