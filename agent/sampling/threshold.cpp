#include "sampling/threshold.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace tailgate::sampling {

std::uint64_t randomness(const model::TraceId& id) noexcept {
  // W3C trace context level 2 puts the randomness in the rightmost 7 bytes: using them (and not,
  // say, a hash) is what lets other samplers in the fleet agree with us.
  std::uint64_t r = 0;
  for (std::size_t i = id.size() - 7; i < id.size(); ++i) r = (r << 8) | id[i];
  return r;
}

namespace {

constexpr int kPrecisionDigits = 4;  // the specification's recommended default

enum class Blanks : bool { Keep, Trim };

// Calls `visit(part)` on each `separator`-separated part of `list` (spaces and tabs around each
// trimmed when asked: tracestate's list members may carry them) until it returns true; returns
// whether one did.
template <class Visit>
bool any_part(std::string_view list, char separator, Blanks blanks, Visit&& visit) {
  std::size_t pos = 0;
  while (pos <= list.size()) {
    auto end = list.find(separator, pos);
    if (end == std::string_view::npos) end = list.size();
    auto part = list.substr(pos, end - pos);
    if (blanks == Blanks::Trim) {
      while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
      while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
    }
    if (visit(part)) return true;
    pos = end + 1;
  }
  return false;
}

// The value of the tracestate's `ot` member ("th:c;rv:..."), empty when it has none.
std::string_view ot_value(std::string_view tracestate) noexcept {
  std::string_view value;
  any_part(tracestate, ',', Blanks::Trim, [&](std::string_view member) {
    if (!member.starts_with("ot=")) return false;
    value = member.substr(3);
    return true;
  });
  return value;
}

// The sub-key `key` ("rv") of the `ot` member as 1..max_digits lowercase hex digits, read as the
// leading digits of a 56-bit value (trailing zeros implied); nothing when absent or malformed.
std::optional<std::uint64_t> ot_hex(std::string_view tracestate, std::string_view key,
                                    std::size_t min_digits) noexcept {
  std::optional<std::uint64_t> value;
  any_part(ot_value(tracestate), ';', Blanks::Keep, [&](std::string_view field) {
    if (field.size() <= key.size() || !field.starts_with(key) || field[key.size()] != ':') {
      return false;
    }
    const auto digits = field.substr(key.size() + 1);
    if (digits.size() < min_digits || digits.size() > 14) return true;  // malformed: none
    std::uint64_t v = 0;
    for (const char c : digits) {
      const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return true;
      v = (v << 4) | static_cast<std::uint64_t>(d);
    }
    value = v << (4 * (14 - digits.size()));
    return true;
  });
  return value;
}

}  // namespace

std::optional<std::uint64_t> explicit_randomness(std::string_view tracestate) noexcept {
  return ot_hex(tracestate, "rv", 14);
}

std::optional<std::uint64_t> tracestate_threshold(std::string_view tracestate) noexcept {
  return ot_hex(tracestate, "th", 1);
}

std::uint64_t randomness(const model::Trace& trace) noexcept {
  for (const auto span : trace.spans) {
    const auto trace_state = span.trace_state();
    if (trace_state.empty()) continue;
    if (const auto rv = explicit_randomness(trace_state)) return *rv;
  }
  return randomness(trace.trace_id);
}

std::uint64_t rejection_threshold(double probability) noexcept {
  if (!(probability > 0.0)) return kThresholdScale;  // also catches NaN
  if (probability >= 1.0) return 0;
  // Round p * 2^56, then subtract: p = 1 gives exactly 0 and tiny p stays above 0, where
  // computing (1 - p) first would lose p's low bits to double rounding.
  const auto kept = static_cast<std::uint64_t>(std::llround(std::ldexp(probability, 56)));
  const auto exact = kThresholdScale - std::min(kept, kThresholdScale);
  // The specification rounds T to nearest at 4 hex digits, one more for each 4 halvings of p
  // (else 0.01% and 0.02% would share one threshold): 10% -> e666, 1% -> fd70a.
  int exponent = 0;
  std::frexp(probability, &exponent);
  const int digits = std::clamp(kPrecisionDigits + (-exponent) / 4, 1, 14);
  const std::uint64_t unit = std::uint64_t{1} << (56 - 4 * digits);
  const auto rounded = (exact + unit / 2) / unit * unit;
  return rounded >= kThresholdScale ? kThresholdScale - unit : rounded;  // p > 0 keeps some
}

bool keep(const model::TraceId& id, double probability) noexcept {
  return randomness(id) >= rejection_threshold(probability);
}

bool keep(const model::Trace& trace, double probability) noexcept {
  return randomness(trace) >= rejection_threshold(probability);
}

std::string threshold_hex(std::uint64_t threshold) {
  if (threshold == 0) return "0";
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(14, '0');
  for (int i = 13, shift = 0; i >= 0; --i, shift += 4) {
    hex[static_cast<std::size_t>(i)] = kDigits[(threshold >> shift) & 0xF];
  }
  while (hex.size() > 1 && hex.back() == '0') hex.pop_back();
  return hex;
}

std::string threshold_hex(double probability) {
  return threshold_hex(rejection_threshold(probability));
}

std::string with_threshold(std::string_view tracestate, std::string_view th) {
  std::string ot = "ot=th:" + std::string(th);
  std::vector<std::string_view> others;
  any_part(tracestate, ',', Blanks::Trim, [&](std::string_view member) {
    if (member.starts_with("ot=")) {
      // Keep the other ot sub-keys (e.g. rv:), replace th.
      any_part(member.substr(3), ';', Blanks::Keep, [&](std::string_view field) {
        if (!field.empty() && !field.starts_with("th:")) {
          ot += ';';
          ot += field;
        }
        return false;
      });
    } else if (!member.empty()) {
      others.push_back(member);
    }
    return false;
  });
  // A modified member moves to the front (W3C tracestate rules).
  for (const auto m : others) {
    ot += ',';
    ot += m;
  }
  return ot;
}

}  // namespace tailgate::sampling
