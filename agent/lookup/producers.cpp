#include "lookup/producers.hpp"

#include <algorithm>
#include <variant>

#include "model/resource_ledger.hpp"

namespace tailgate::lookup {
namespace {

// Cut at a UTF-8 character boundary: the admin API writes these as JSON strings.
std::string cut(const std::string& text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  auto n = max_bytes;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return text.substr(0, n);
}

// A producer that gives its bytes back to the count when the last decision naming it goes.
struct Counted {
  model::Resource producer;
  std::shared_ptr<std::atomic<std::size_t>> live;
  std::size_t bytes;
  Counted(model::Resource p, std::shared_ptr<std::atomic<std::size_t>> l, std::size_t b)
      : producer(std::move(p)), live(std::move(l)), bytes(b) {
    live->fetch_add(bytes, std::memory_order_relaxed);
  }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  ~Counted() { live->fetch_sub(bytes, std::memory_order_relaxed); }
};

}  // namespace

std::shared_ptr<const model::Resource> Producers::of(
    const std::shared_ptr<const model::Resource>& resource) {
  if (const auto* known = by_resource_.find(resource.get())) return *known;
  model::Resource producer;
  std::string content;
  for (const auto& a : resource->attributes) {
    if (std::find(kProducerKeys.begin(), kProducerKeys.end(), a.key) == kProducerKeys.end()) {
      continue;
    }
    std::string value;
    if (const auto* text = std::get_if<std::string>(&a.value)) {
      value = cut(*text, kMaxValueBytes);
      producer.attributes.push_back({a.key, value});
    } else if (const auto* number = std::get_if<std::int64_t>(&a.value)) {
      value = std::to_string(*number);
      producer.attributes.push_back({a.key, *number});
    } else {
      continue;
    }
    content += a.key + '\0' + value + '\0';
  }
  std::shared_ptr<const model::Resource> shared;
  if (const auto it = by_content_.find(content); it != by_content_.end())
    shared = it->second.lock();
  if (shared == nullptr) {
    const auto bytes = model::ResourceLedger::cost(producer) + sizeof(Counted);
    if (live_bytes_->load(std::memory_order_relaxed) + bytes > kMaxLiveBytes) return nullptr;
    if (by_content_.size() >= kMaxInterned) by_content_.clear();
    auto counted = std::make_shared<Counted>(std::move(producer), live_bytes_, bytes);
    shared = std::shared_ptr<const model::Resource>(counted, &counted->producer);
    by_content_.insert_or_assign(std::move(content), shared);
  }
  return by_resource_.put(resource, shared, model::ResourceLedger::cost(*shared));
}

}  // namespace tailgate::lookup
