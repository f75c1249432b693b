#include "model/resource_ledger.hpp"

#include "model/packed_spans.hpp"

namespace tailgate::model {
namespace {
// A ledger entry: its hash node (key, entry, next pointer, cached hash, the allocation's header)
// and its share of the bucket array.
constexpr std::size_t kEntryBytes = 64;
// make_shared's control block beside the Resource in one heap chunk.
constexpr std::size_t kControlBlockBytes = 32;
}  // namespace

std::size_t ResourceLedger::cost(const Resource& resource) noexcept {
  return sizeof(Resource) + kControlBlockBytes + memory_bytes(resource) + kEntryBytes;
}

void ResourceLedger::acquire(const Resource* resource) {
  if (resource != last_) {
    forget_idle_last();
    last_entry_ = &entries_[resource];
    last_ = resource;
  }
  if (last_entry_->users++ == 0) {
    last_entry_->bytes = cost(*resource);
    bytes_ += last_entry_->bytes;
    ++named_;
  }
}

void ResourceLedger::release(const Resource* resource) noexcept {
  Entry* entry = last_entry_;
  auto it = entries_.end();
  if (resource != last_) {
    it = entries_.find(resource);
    if (it == entries_.end()) return;  // never acquired here: nothing to give back
    entry = &it->second;
  }
  if (entry->users == 0 || --entry->users != 0) return;
  bytes_ -= entry->bytes;
  --named_;
  // The last one named stays, idle, for the next trace of its producer: a store that empties
  // and fills again (one trace at a time) would otherwise insert and erase it for each trace.
  if (it != entries_.end()) entries_.erase(it);
}

void ResourceLedger::forget_idle_last() noexcept {
  // Its key may be a freed resource's address by now: an idle entry is never read, only
  // counted afresh (acquire) when an address is named again.
  if (last_entry_ != nullptr && last_entry_->users == 0) entries_.erase(last_);
  last_ = nullptr;
  last_entry_ = nullptr;
}

}  // namespace tailgate::model
