#include "model/key_generations.hpp"

#include <algorithm>

namespace tailgate::model {

void KeyGenerations::renew() {
  std::erase_if(retired_, [](const Retired& r) { return r.alive.expired(); });
  // At the bound, keys stay inline until an old table's last trace goes (checked again at the
  // next trace's start: a few compares).
  if (retired_.size() + 1 >= kMaxLive) return;
  retired_.push_back({current_.get(), current_});
  current_ = std::make_shared<KeyTable>();  // the old one freed here if no trace refers to it
  ++renewals_;
}

KeyTable* KeyGenerations::find_retired(const KeyTable* keys) noexcept {
  for (const auto& r : retired_) {
    if (r.table == keys && !r.alive.expired()) return r.table;
  }
  return nullptr;
}

std::size_t KeyGenerations::retired_bytes() const noexcept {
  std::size_t bytes = 0;
  for (const auto& r : retired_) {
    if (const auto table = r.alive.lock()) bytes += table->memory_bytes();
  }
  return bytes;
}

std::size_t KeyGenerations::live() const noexcept {
  return 1 + static_cast<std::size_t>(
                 std::count_if(retired_.begin(), retired_.end(),
                               [](const Retired& r) { return !r.alive.expired(); }));
}

}  // namespace tailgate::model
