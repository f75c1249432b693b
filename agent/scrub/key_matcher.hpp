#pragma once
// Which attribute keys name secrets: redaction.keys as `*` globs. The one matcher both the
// scrubber (kept spans) and the span metrics (dimensions, before sampling) ask, so that a key is
// a secret everywhere or nowhere.

#include <string>
#include <string_view>
#include <vector>

namespace tailgate::scrub {

/// A key as the patterns are matched against it: lowercase, with '.' and '-' read as '_', so that
/// private_key, private.key, Private-Key and PRIVATE_KEY are one key (instrumentations write each).
[[nodiscard]] std::string canonical_key(std::string_view key);

class KeyMatcher final {
 public:
  explicit KeyMatcher(const std::vector<std::string>& patterns);
  [[nodiscard]] bool empty() const noexcept { return patterns_.empty(); }
  /// Whether values under `key` are secret.
  [[nodiscard]] bool matches(std::string_view key) const;

 private:
  std::vector<std::string> patterns_;  ///< canonical_key of each pattern
};

}  // namespace tailgate::scrub
