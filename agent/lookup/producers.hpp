#pragma once
// The producers the trace log names for each decision: a resource's identifying attributes
// (service, host, process), values cut to kMaxValueBytes, one shared copy per distinct content.
// The log remembers 65,536 decisions; holding their spans' resources themselves, it kept every
// one alive, however large (outside attack: a 3 MB resource per request, RSS growing without
// bound with nothing buffered). A request's resource is a new object each time, yet the same
// few producers: interned by content, a decision's producers cost a pointer each. Distinct
// producers (short-lived processes, or a sender making them up) are bounded in the bytes they
// hold at once (kMaxLiveBytes): past it a decision's new producer is counted, not named (outside
// attack: 65,536 decisions of 3 made-up producers each, +179 MiB).
// Owned by the pipeline thread; not thread-safe (a producer may be let go on any thread).

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "model/resource_memo.hpp"
#include "model/span.hpp"

namespace tailgate::lookup {

/// The resource attributes that name a producer, as GET /debug/trace shows them.
inline constexpr std::array<std::string_view, 5> kProducerKeys = {
    "service.name", "service.instance.id", "host.name", "process.pid", "process.executable.name"};

class Producers final {
 public:
  static constexpr std::size_t kMaxValueBytes = 128;
  static constexpr std::size_t kMaxLiveBytes = std::size_t{8} << 20;

  /// The producer `resource` names (not null); null when the producers named now hold
  /// kMaxLiveBytes.
  [[nodiscard]] std::shared_ptr<const model::Resource> of(
      const std::shared_ptr<const model::Resource>& resource);

 private:
  static constexpr std::size_t kMaxInterned = 4096;
  model::ResourceMemo<std::shared_ptr<const model::Resource>> by_resource_{1024, 4u << 20};
  /// Weak: a producer lives as long as a remembered decision names it.
  std::unordered_map<std::string, std::weak_ptr<const model::Resource>> by_content_;
  /// Bytes of the producers alive (given back by the last decision to let go of one).
  std::shared_ptr<std::atomic<std::size_t>> live_bytes_ =
      std::make_shared<std::atomic<std::size_t>>(0);

 public:
  [[nodiscard]] std::size_t live_bytes() const noexcept { return live_bytes_->load(); }
};

}  // namespace tailgate::lookup
