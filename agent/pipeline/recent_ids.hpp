#pragma once
// A small map from trace id to a value that remembers only the most recent `capacity` entries
// (first in, first out): the pipeline's bookkeeping for peers (which peer policy kept a trace,
// which local keeps still wait for a cross-process span to be published, which held traces the
// hold let go). Bounded whatever the traffic. Owned by the pipeline thread; not thread-safe.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <optional>
#include <unordered_map>
#include <utility>

#include "model/span.hpp"

namespace tailgate::pipeline {

struct TraceIdHash {
  std::size_t operator()(const model::TraceId& id) const noexcept {
    // Both halves: 64-bit (Jaeger) ids are zero in one of them.
    std::uint64_t hi = 0, lo = 0;
    std::memcpy(&hi, id.data(), 8);
    std::memcpy(&lo, id.data() + 8, 8);
    return static_cast<std::size_t>((hi ^ (lo * 0x9e3779b97f4a7c15ULL)) * 0xbf58476d1ce4e5b9ULL);
  }
};

template <typename Value>
class RecentIds final {
 public:
  explicit RecentIds(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  /// Sets `id`'s value (as the newest entry); the oldest entry goes past the capacity.
  void put(const model::TraceId& id, Value value) {
    const auto sequence = next_++;
    map_.insert_or_assign(id, Entry{std::move(value), sequence});
    order_.emplace_back(id, sequence);
    // The order may hold items of entries taken or set again since: they count towards the bound
    // too, so it holds for the order as well as the map.
    while (order_.size() > capacity_) {
      const auto [old, seq] = order_.front();
      order_.pop_front();
      if (const auto it = map_.find(old); it != map_.end() && it->second.sequence == seq) {
        map_.erase(it);
      }
    }
  }
  [[nodiscard]] const Value* find(const model::TraceId& id) const {
    const auto it = map_.find(id);
    return it == map_.end() ? nullptr : &it->second.value;
  }
  std::optional<Value> take(const model::TraceId& id) {
    const auto it = map_.find(id);
    if (it == map_.end()) return std::nullopt;
    auto value = std::move(it->second.value);
    map_.erase(it);
    return value;
  }
  [[nodiscard]] std::size_t size() const noexcept { return map_.size(); }

 private:
  struct Entry {
    Value value;
    std::uint64_t sequence;
  };
  std::size_t capacity_;
  std::unordered_map<model::TraceId, Entry, TraceIdHash> map_;
  std::deque<std::pair<model::TraceId, std::uint64_t>> order_;
  std::uint64_t next_ = 1;
};

}  // namespace tailgate::pipeline
