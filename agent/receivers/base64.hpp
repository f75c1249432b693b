#pragma once
// Standard base64 (RFC 4648, padded): how byte values without a type in the span model travel as
// text, as OpenTelemetry's rule for such exporters asks (Jaeger binary tags, OTLP bytes values).

#include <openssl/evp.h>

#include <string>
#include <string_view>

namespace tailgate::receivers {

/// Writes `bytes` in base64 into `out` (its capacity kept: a decoder reuses one for many values).
inline void base64_into(std::string_view bytes, std::string& out) {
  out.resize(4 * ((bytes.size() + 2) / 3));
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
}

inline std::string base64(std::string_view bytes) {
  std::string out;
  base64_into(bytes, out);
  return out;
}

}  // namespace tailgate::receivers
