#pragma once
// An attribute value as text, where only text will do: a metric label, a keyed hash's input. One
// function, so that a label and the hash an exported value carries are made from the same text.

#include <string>

#include "model/span.hpp"

namespace tailgate::scrub {

/// A string as itself, a bool as true/false, a number in decimal (std::to_string), an array as
/// compact JSON (`["a","b"]`, `[1,2]`; non-finite doubles as null, bytes that are not UTF-8 as
/// U+FFFD), as the OTLP receiver wrote arrays before the model had them.
[[nodiscard]] std::string to_text(const model::AttributeValue& value);

}  // namespace tailgate::scrub
