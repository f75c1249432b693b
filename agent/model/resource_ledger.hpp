#pragma once
// The resources that a store of buffered traces (the trace table, the hold) keeps alive, each
// counted once however many of its traces name it. A resource is shared by every span of its
// request (OTLP, Jaeger) or producer (ring, UDP): charging each trace a share of it, as the
// traces were charged before, let one held trace keep thousands of large resources alive for a
// few bytes each (outside attack: requests that each carried a 3 MB resource and one span of a
// held trace grew RSS 890 MiB past max_buffered_bytes with 14 MiB counted). Counted here, a
// resource costs its full size while any trace of the store names it, and the store's bytes,
// and so its budget, include it. A trace names its resources through model::PackedSpans, which
// acquires each the first time and releases them when it lets go (RAII).
// Owned by the store's thread (the pipeline's); not thread-safe.

#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "model/span.hpp"

namespace tailgate::model {

class ResourceLedger final {
 public:
  ResourceLedger() = default;
  ResourceLedger(const ResourceLedger&) = delete;
  ResourceLedger& operator=(const ResourceLedger&) = delete;

  /// One more trace names `resource` (not null); the first counts its bytes.
  void acquire(const Resource* resource);
  /// One trace fewer names `resource`; the last gives its bytes back.
  void release(const Resource* resource) noexcept;

  /// Bytes of the resources named, each once, with the ledger's own entry for it.
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }
  /// Distinct resources named.
  [[nodiscard]] std::size_t resources() const noexcept { return named_; }

  /// What a resource costs to keep: its object and control block, its attributes and scope.
  [[nodiscard]] static std::size_t cost(const Resource& resource) noexcept;

 private:
  struct Entry {
    std::uint64_t users = 0;
    std::size_t bytes = 0;
  };
  void forget_idle_last() noexcept;

  std::unordered_map<const Resource*, Entry> entries_;
  // Most traces of a store name the same few resources (a producer's, a request's): the last
  // one looked up is kept at hand, so that naming it again costs no hash lookup.
  const Resource* last_ = nullptr;
  Entry* last_entry_ = nullptr;
  std::size_t bytes_ = 0;
  std::size_t named_ = 0;
};

}  // namespace tailgate::model
