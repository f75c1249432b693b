#pragma once
// Reading the agent's /metrics text in integration tests.

#include <sstream>
#include <string>

namespace tailgate::testing {

/// The sample of `name` whose labels contain `labels` (all its samples summed when empty).
inline double metric_value(const std::string& text, const std::string& name,
                           const std::string& labels = "") {
  double total = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name, 0) != 0 || (line[name.size()] != ' ' && line[name.size()] != '{'))
      continue;
    if (!labels.empty() && line.find(labels) == std::string::npos) continue;
    total += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return total;
}

}  // namespace tailgate::testing
