#pragma once
// The OpenTelemetry exporter variables (OTEL_EXPORTER_OTLP[_TRACES]_*), as the OpenTelemetry
// specification defines them, applied over the exporter settings of the file or of the built-in
// defaults. Used inside config/ only.

#include <string>
#include <string_view>

#include "config/config.hpp"

namespace tailgate::config {

/// Overrides `exporter` from the environment; the _TRACES_ form wins over the general one.
/// Throws ConfigError naming the variable on a value it cannot use.
void apply_otel_environment(ExporterConfig& exporter);

/// "[http://|https://]host:port[/path]" -> "host:port"; a scheme sets `insecure` (http) or
/// clears it (https). False when no host:port is left.
bool normalize_endpoint(std::string& endpoint, bool& insecure);

/// Percent-decodes `%XX` escapes (W3C Baggage, which OTEL_EXPORTER_OTLP_HEADERS follows); false on
/// a malformed escape.
bool percent_decode(std::string_view in, std::string& out);

}  // namespace tailgate::config
