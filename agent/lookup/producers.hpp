#pragma once
// The producers the trace log names for each decision: a resource's identifying attributes
// (service, host, process), values cut to kMaxValueBytes, one shared copy per distinct content.
// The log remembers 65,536 decisions; holding their spans' resources themselves, it kept every
// one alive, however large (outside attack: a 3 MB resource per request, RSS growing without
// bound with nothing buffered). A request's resource is a new object each time, yet the same
// few producers: interned by content, a decision's producers cost a pointer each.
// Owned by the pipeline thread; not thread-safe.

#include <array>
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

  /// The producer `resource` names (not null).
  [[nodiscard]] std::shared_ptr<const model::Resource> of(
      const std::shared_ptr<const model::Resource>& resource);

 private:
  static constexpr std::size_t kMaxInterned = 4096;
  model::ResourceMemo<std::shared_ptr<const model::Resource>> by_resource_{1024, 4u << 20};
  /// Weak: a producer lives as long as a remembered decision names it.
  std::unordered_map<std::string, std::weak_ptr<const model::Resource>> by_content_;
};

}  // namespace tailgate::lookup
