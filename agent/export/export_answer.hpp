#pragma once
// What a backend's answer to an accepted export says it refused (OTLP partial success:
// ExportTraceServiceResponse.partial_success = 1 {rejected_spans = 1, error_message = 2}). Read
// field by field rather than parsed as the message: a proto3 string that is not UTF-8 (a
// backend's error text) failed the whole parse, and the answer was read as a plain OK, its
// rejected spans counted exported (outside attack).

#include <cstdint>
#include <string>
#include <string_view>

namespace tailgate::exporter {

struct PartialSuccess {
  std::uint64_t rejected_spans = 0;  ///< negative ones read as 0
  std::string error_message;         ///< as sent: not necessarily UTF-8
};

/// The answer's partial success; all zero for an answer that does not parse at all.
[[nodiscard]] PartialSuccess read_partial_success(std::string_view answer);

}  // namespace tailgate::exporter
