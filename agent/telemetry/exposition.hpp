#pragma once
// Writes metric families in the Prometheus text format 0.0.4 or in OpenMetrics 1.0.0 (what a
// scraper that asks for application/openmetrics-text gets, and the only one with exemplars).
// The differences handled here: an OpenMetrics counter family is named without its _total
// suffix, and the exposition ends with "# EOF".

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace tailgate::telemetry {

enum class Format { Prometheus, OpenMetrics };

class Exposition {
 public:
  explicit Exposition(Format format) : format_(format) {}

  [[nodiscard]] Format format() const noexcept { return format_; }
  void family(std::string_view name, std::string_view type, std::string_view help) {
    if (format_ == Format::OpenMetrics && type == "counter" && name.ends_with("_total"))
      name.remove_suffix(6);
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                   type);
  }
  template <typename Number>
  void sample(std::string_view name, std::string_view labels, Number value) {
    if (labels.empty())
      fmt::format_to(std::back_inserter(out_), "{} {}\n", name, value);
    else
      fmt::format_to(std::back_inserter(out_), "{}{{{}}} {}\n", name, labels, value);
  }
  void counter(std::string_view name, std::string_view help, std::uint64_t value) {
    family(name, "counter", help);
    sample(name, "", value);
  }
  void gauge(std::string_view name, std::string_view help, double value) {
    family(name, "gauge", help);
    sample(name, "", value);
  }
  /// Raw text (a sample line with an exemplar, written by its owner).
  std::string& out() noexcept { return out_; }
  /// The finished exposition.
  std::string take() {
    if (format_ == Format::OpenMetrics) out_ += "# EOF\n";
    return std::move(out_);
  }

 private:
  Format format_;
  std::string out_;
};

/// A label value with \, " and newlines escaped, as both formats want.
[[nodiscard]] inline std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

/// A histogram bound as a float both formats accept ("0.0001", "2.5", "10.0").
[[nodiscard]] inline std::string bound_text(double seconds) {
  auto text = fmt::format("{}", seconds);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

}  // namespace tailgate::telemetry
