#pragma once
// Something worked out once per resource (what leaves in its place after redaction, the
// producer it names), found again by the resource's address. The memo holds the resource
// weakly: its address cannot go to another resource while the entry is here (a weak reference
// keeps make_shared's block), yet the resource's attributes are freed with the last span that
// names it. Holding it strongly, the scrubber kept 1,024 resources of 3 MB alive and the trace
// log three per decision remembered (outside attack: RSS +300 MB per 300 large-resource requests
// with nothing buffered). Bounded in entries and in the bytes the caller says each value costs;
// emptied when either is reached, so an unbounded stream of resources costs work, not memory.
// Owned by one thread; not thread-safe.

#include <cstddef>
#include <memory>
#include <unordered_map>
#include <utility>

#include "model/span.hpp"

namespace tailgate::model {

template <typename Value>
class ResourceMemo final {
 public:
  ResourceMemo(std::size_t max_entries, std::size_t max_bytes)
      : max_entries_(max_entries), max_bytes_(max_bytes) {}

  /// What was put for `resource`, if it is still here.
  [[nodiscard]] const Value* find(const Resource* resource) const {
    const auto it = entries_.find(resource);
    return it == entries_.end() ? nullptr : &it->second.value;
  }
  /// Remembers `value` for `resource` (not null), `bytes` being what the value holds.
  const Value& put(const std::shared_ptr<const Resource>& resource, Value value,
                   std::size_t bytes) {
    if (entries_.size() >= max_entries_ || bytes_ + bytes > max_bytes_) clear();
    bytes_ += bytes;
    auto& entry = entries_[resource.get()];
    entry = Entry{resource, std::move(value)};
    return entry.value;
  }
  void clear() noexcept {
    entries_.clear();
    bytes_ = 0;
  }
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }

 private:
  struct Entry {
    std::weak_ptr<const Resource> resource;  ///< pins the address, not the attributes
    Value value;
  };
  std::size_t max_entries_;
  std::size_t max_bytes_;
  std::unordered_map<const Resource*, Entry> entries_;
  std::size_t bytes_ = 0;
};

}  // namespace tailgate::model
