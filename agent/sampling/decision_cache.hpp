#pragma once
// Recent sampling decisions, so that a span arriving after its trace was decided follows that
// decision. Four bytes a decision: a 27-bit fingerprint of the trace id, a kept bit and the
// deciding policy's index (0-14). Buckets of 8 slots, two candidate buckets per id (the emptier
// one takes the insert), and each bucket a small FIFO: when both are full the bucket's oldest
// entry goes. So the cache holds roughly the last `entries` decisions; the default 3.6M covers
// five minutes at 10k traces/s in 14.4 MB. A false match needs a 27-bit fingerprint collision in
// one of 16 slots: about one lookup in 8 million.
// Owned by the pipeline thread; not thread-safe.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "model/span.hpp"

namespace tailgate::sampling {

class DecisionCache final {
 public:
  struct Entry {
    bool kept;
    std::uint8_t policy;  ///< index into the sampler's policies
  };
  static constexpr std::uint8_t kMaxPolicies = 15;

  explicit DecisionCache(std::size_t entries);

  void record(const model::TraceId& id, Entry decision) noexcept;
  /// Replaces `id`'s decision where the cache holds one (a peer's keep overriding a local drop:
  /// record() would leave the old entry, which find() may meet first), else records it.
  void overwrite(const model::TraceId& id, Entry decision) noexcept;
  [[nodiscard]] std::optional<Entry> find(const model::TraceId& id) const noexcept;
  /// Starts loading `id`'s two buckets, for a find or record a little later.
  void prefetch(const model::TraceId& id) const noexcept;
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return buckets_.size() * sizeof(Bucket);
  }

 private:
  static constexpr std::size_t kSlots = 8;
  using Bucket = std::array<std::uint32_t, kSlots>;  ///< [0] newest; 0 = empty
  std::vector<Bucket> buckets_;
};

}  // namespace tailgate::sampling
