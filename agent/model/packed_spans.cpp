#include "model/packed_spans.hpp"

#include <malloc.h>

#include <algorithm>
#include <new>
#include <utility>

namespace tailgate::model {
namespace {

// glibc's chunk header: what a heap block costs beyond its usable size.
constexpr std::size_t kAllocationOverhead = 8;

// The heap chunk glibc makes for `size` bytes: the header, rounded up to 16, at least 32. Counted
// so rather than as malloc_usable_size, so that the count is the same under allocators that hand
// out exact sizes (valgrind, ASan) and budgets decide the same there as in production.
std::size_t chunk_bytes(std::size_t size) noexcept {
  return std::max<std::size_t>(32, (size + kAllocationOverhead + 15) & ~std::size_t{15});
}
// Blocks grow exactly (one record at a time) while small, so a trace of a few spans carries no
// slack; past this, by half again, so a long trace is copied a bounded number of times.
constexpr std::size_t kExactGrowthBytes = 1024;

std::size_t string_bytes(const std::string& s) noexcept {
  return s.capacity() > 15 ? s.capacity() + 1 : 0;
}

}  // namespace

PackedSpans& PackedSpans::operator=(PackedSpans&& other) noexcept {
  if (this == &other) return *this;
  bind(nullptr);
  id_ = other.id_;
  used_ = std::exchange(other.used_, 0);
  capacity_ = std::exchange(other.capacity_, 0);
  block_ = std::move(other.block_);
  count_ = std::exchange(other.count_, 0);
  last_ = std::exchange(other.last_, 0);
  resource_ = std::move(other.resource_);
  extras_ = std::move(other.extras_);
  keys_ = std::move(other.keys_);
  ledger_ = std::exchange(other.ledger_, nullptr);
  bytes_ = std::exchange(other.bytes_, 0);
  return *this;
}

void PackedSpans::bind(ResourceLedger* ledger) noexcept {
  if (ledger == ledger_) return;
  // Acquired in the new ledger before released from the old, so a resource named in both is
  // never briefly at no users (and so never counted afresh for nothing).
  if (ledger != nullptr) each_resource([ledger](const Resource* r) { ledger->acquire(r); });
  if (ledger_ != nullptr) each_resource([this](const Resource* r) { ledger_->release(r); });
  ledger_ = ledger;
}

void PackedSpans::grow(std::size_t need) {
  const std::size_t grown = capacity_ >= kExactGrowthBytes ? capacity_ + capacity_ / 2 : 0;
  const std::size_t size = std::max(need, grown);
  auto* p = static_cast<std::byte*>(std::realloc(block_.get(), size));
  if (p == nullptr) throw std::bad_alloc();
  (void)block_.release();
  block_.reset(p);
  // chunk_bytes of the usable size is that of the size asked for, usable being between the two.
  const auto before = capacity_ == 0 ? 0 : chunk_bytes(capacity_);
  capacity_ =
      static_cast<std::uint32_t>(std::min<std::size_t>(::malloc_usable_size(p), UINT32_MAX));
  bytes_ += chunk_bytes(capacity_) - before;
}

std::byte* PackedSpans::begin_record(std::size_t max_size) {
  max_size = (max_size + packed::kAlign - 1) & ~(packed::kAlign - 1);  // end_record pads to it
  if (used_ + max_size > capacity_) grow(used_ + max_size);
  return block_.get() + used_;
}

void PackedSpans::end_record(std::size_t size) noexcept {
  const auto padded = (size + packed::kAlign - 1) & ~(packed::kAlign - 1);
  std::fill(block_.get() + used_ + size, block_.get() + used_ + padded, std::byte{0});
  last_ = used_;
  used_ += static_cast<std::uint32_t>(padded);
  ++count_;
}

void PackedSpans::append_record(const std::byte* record, std::size_t size, std::size_t reserve) {
  const auto padded = (size + packed::kAlign - 1) & ~(packed::kAlign - 1);
  if (used_ + padded > capacity_) grow(used_ + padded + reserve);
  std::memcpy(block_.get() + used_, record, size);
  end_record(size);
}

PackedSpans::Extras& PackedSpans::extras() {
  if (!extras_) {
    extras_ = std::make_unique<Extras>();
    bytes_ += sizeof(Extras) + kAllocationOverhead;
  }
  return *extras_;
}

std::optional<std::uint16_t> PackedSpans::resource_index(
    const std::shared_ptr<const Resource>& resource) {
  // Index 0 is resource_, named by the trace's first record.
  if (count_ == 0) {
    if (resource_ != resource) {
      if (ledger_ != nullptr && resource_ != nullptr) ledger_->release(resource_.get());
      resource_ = resource;
      if (ledger_ != nullptr && resource_ != nullptr) ledger_->acquire(resource_.get());
    }
    return 0;
  }
  if (resource_ == resource) return 0;
  auto& more = extras().resources;
  if (const auto it = std::find(more.begin(), more.end(), resource); it != more.end()) {
    return static_cast<std::uint16_t>(it - more.begin() + 1);
  }
  if (more.size() >= 0xFFFE) return std::nullopt;
  more.push_back(resource);
  bytes_ += sizeof(std::shared_ptr<const Resource>);
  if (ledger_ != nullptr && resource != nullptr) ledger_->acquire(resource.get());
  return static_cast<std::uint16_t>(more.size());
}

void PackedSpans::add_aside(Span&& span) {
  // Its resource is named like a record's, so that the ledger counts it; past the index's
  // 65,535, counted here in full.
  if (!resource_index(span.resource) && span.resource != nullptr) {
    bytes_ += ResourceLedger::cost(*span.resource);
  }
  auto& aside = extras().aside;
  const auto index = static_cast<std::uint32_t>(aside.size());
  bytes_ += model::memory_bytes(span);
  aside.push_back(std::move(span));
  auto* record = begin_record(packed::kHeadSize);
  std::fill(record, record + packed::kHeadSize, std::byte{0});
  packed::store(record, packed::kItemsSize, index);
  packed::store(record, packed::kFlags, packed::kAside);
  end_record(packed::kHeadSize);
}

std::size_t memory_bytes(const Resource& resource) noexcept {
  std::size_t n = resource.attributes.capacity() * sizeof(Attribute) +
                  string_bytes(resource.scope.name) + string_bytes(resource.scope.version);
  for (const auto& a : resource.attributes) {
    n += string_bytes(a.key);
    if (const auto* v = std::get_if<std::string>(&a.value)) n += string_bytes(*v);
    if (const auto* array = std::get_if<ArrayValue>(&a.value))
      n += array_bytes(*array, string_bytes);
  }
  return n;
}

}  // namespace tailgate::model
