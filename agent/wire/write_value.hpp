#pragma once
// The one writer of an agent-side value (model::AttributeValue) in the record format: encode_span
// uses it, and so does anything else that turns decoded values into items (an OTLP receiver
// keeping spans packed), so that every value type the model has reaches the wire the same way.

#include "model/span.hpp"
#include "wire/encode.hpp"

namespace tailgate::wire {

void write_value(ByteWriter& w, const model::AttributeValue& value) noexcept;

}  // namespace tailgate::wire
