#include "model/key_table.hpp"

namespace tailgate::model {

std::optional<std::uint16_t> KeyTable::find_or_add(std::string_view key, std::uint64_t a,
                                                   std::uint64_t b) {
  auto slot = home(a, b, key.size());
  for (;; slot = (slot + 1) & (kSlots - 1)) {
    const auto id = slots_[slot];
    if (id == kEmpty) break;
    if (same(keys_[id], key, a, b)) return id;
  }
  if (keys_.size() >= kMaxKeys || text_.size() + key.size() > kMaxBytes) {
    ++misses_;
    return std::nullopt;
  }
  const auto id = static_cast<std::uint16_t>(keys_.size());
  keys_.push_back(
      {a, b, static_cast<std::uint32_t>(text_.size()), static_cast<std::uint32_t>(key.size())});
  text_.append(key);
  slots_[slot] = id;
  return id;
}

}  // namespace tailgate::model
