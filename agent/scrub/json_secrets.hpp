#pragma once
// Secrets inside JSON text. OTLP map (kvlist) values, and arrays of mixed types, arrive as JSON
// text in a string attribute (the model has no map value), so `{"password": "hunter2"}` under a
// key like `db.config` passed redaction, which looked at the attribute's key only. A string value
// that is a JSON object or array is walked, and a member under a secret key is removed or its
// value replaced, as a top-level attribute would be. Text that is not JSON is left as it is;
// text with nothing to redact is left byte for byte.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace tailgate::scrub {

struct JsonRedaction {
  std::function<bool(std::string_view key)> secret;
  /// The member's new value from its old one as text (a string as itself, else compact JSON);
  /// empty: remove the member.
  std::function<std::string(std::string_view text)> replacement;
  bool remove = false;
};

/// Redacts members under secret keys at any depth of `text` if it is a JSON object or array;
/// returns how many were redacted (0: `text` unchanged). Nesting past 64 levels is not parsed.
std::size_t redact_json_secrets(std::string& text, const JsonRedaction& how);

}  // namespace tailgate::scrub
