#include <map>
#include <string>

#include "config/section.hpp"

namespace tailgate::config::detail {

// yaml-cpp keeps every pair of a mapping but a lookup finds the first: a second `exporter:`
// section would be ignored without a word. Refuse it, naming both lines.
void refuse_duplicate_keys(const YAML::Node& node, const std::string& path,
                           const std::string& file) {
  if (node.IsSequence()) {
    for (std::size_t i = 0; i < node.size(); ++i) {
      refuse_duplicate_keys(node[i], path + "[" + std::to_string(i) + "]", file);
    }
    return;
  }
  if (!node.IsMap()) return;
  std::map<std::string, int> seen;  // key -> its first line
  for (const auto& pair : node) {
    const auto key = pair.first.IsScalar() ? pair.first.Scalar() : std::string("?");
    const auto full = path.empty() ? key : path + "." + key;
    const int line = pair.first.Mark().line + 1;
    if (const auto [it, fresh] = seen.emplace(key, line); !fresh) {
      throw ConfigError(file, static_cast<std::size_t>(line), full,
                        "duplicate key (first at line " + std::to_string(it->second) +
                            "): the two would not be merged");
    }
    refuse_duplicate_keys(pair.second, full, file);
  }
}
}  // namespace tailgate::config::detail
