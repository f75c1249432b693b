#pragma once
// Reading what the test sink (tailgate-sink --jsonl) wrote, while it may still be writing.

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tailgate::testing {

/// The spans of one --jsonl file, complete lines only: the sink flushes its buffer where it
/// ends, so the file's last line can be half written (and may even end in '}').
inline std::vector<nlohmann::json> sink_spans_in(const std::filesystem::path& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line) && !in.eof();) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

/// The spans of every *.jsonl file in a directory (a sink restarted under another name).
inline std::vector<nlohmann::json> sink_spans_under(const std::filesystem::path& dir) {
  std::vector<nlohmann::json> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".jsonl") continue;
    for (auto& s : sink_spans_in(e.path())) out.push_back(std::move(s));
  }
  return out;
}

}  // namespace tailgate::testing
