#pragma once
// Readers of the record format (span_record.hpp), used by the agent's receivers. They never read
// outside the bytes they are given and never throw on bad input: a record that does not decode is
// reported with a reason, and the caller counts it and moves on to the next record.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "model/span.hpp"

namespace tailgate::wire {

enum class DecodeError : std::uint8_t {
  None = 0,
  Truncated,          ///< a length points past the end of the record or datagram
  UnsupportedSchema,  ///< a schema version this agent does not know
  UnknownType,        ///< an unknown record type, item tag or value type
  BadValue,           ///< a value outside its domain (bool other than 0/1, kind or status)
  TrailingBytes,      ///< bytes left after the last item the record announced
};
[[nodiscard]] std::string_view to_string(DecodeError e) noexcept;

/// Decodes a span payload (the bytes after the record header). `resource` is shared by the span.
[[nodiscard]] DecodeError decode_span(std::span<const std::byte> payload,
                                      std::shared_ptr<const model::Resource> resource,
                                      model::Span& out);

/// Decodes a resource payload.
[[nodiscard]] DecodeError decode_resource(std::span<const std::byte> payload, model::Resource& out);

/// The resource of spans whose producer sent none: OpenTelemetry's "unknown_service".
[[nodiscard]] std::shared_ptr<const model::Resource> unknown_resource();

/// What one datagram held. Records after a malformed one are still decoded when the malformed
/// one's length was readable; a broken frame loses the rest of the datagram (`framing_error`).
struct DatagramResult {
  std::size_t spans = 0;
  std::size_t malformed_records = 0;
  std::uint64_t producer_losses = 0;  ///< sum of LOSS records' counts
  DecodeError framing_error = DecodeError::None;
  DecodeError first_error = DecodeError::None;
};

/// Decodes every record of a datagram, appending spans to `out`. Spans use the resource of the
/// most recent resource record before them in the same datagram, else unknown_resource().
DatagramResult decode_datagram(std::span<const std::byte> datagram, model::SpanBatch& out);

}  // namespace tailgate::wire
