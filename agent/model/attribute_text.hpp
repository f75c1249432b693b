#pragma once
// An attribute value as text, where only text will do: a metric label, a keyed hash's input, a
// policy's comparison. One function, so that a label and the hash an exported value carries are
// made from the same text.

#include <string>

#include "model/span.hpp"

namespace tailgate::model {

/// A string as itself, a bool as true/false, a number in decimal (std::to_string), an array as
/// compact JSON (`["a","b"]`, `[1,2]`; non-finite doubles as null), as the OTLP receiver wrote
/// arrays before the model had them.
[[nodiscard]] std::string to_text(const AttributeValue& value);

}  // namespace tailgate::model
