#pragma once
// How deep JSON text nests, read without parsing it: checked before parsing, as the JSON
// library's recursion would let text of a million '[' overflow the stack. Used by the OTLP/JSON
// receiver (a request body) and redaction (an attribute value that is JSON text).

#include <algorithm>
#include <cstddef>
#include <string_view>

namespace tailgate::scrub {

/// The deepest nesting of objects and arrays in `text` (strings skipped), stopping once past
/// `limit`.
[[nodiscard]] inline int json_nesting(std::string_view text, int limit) noexcept {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size() && deepest <= limit; ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace tailgate::scrub
