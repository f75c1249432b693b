#include "sampling/threshold.hpp"

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

std::uint64_t rejection_threshold(double probability) noexcept {
  if (!(probability > 0.0)) return kThresholdScale;  // also catches NaN
  if (probability >= 1.0) return 0;
  // Round p * 2^56, then subtract: p = 1 gives exactly 0 and tiny p stays above 0, where
  // computing (1 - p) first would lose p's low bits to double rounding.
  const auto kept = static_cast<std::uint64_t>(std::llround(std::ldexp(probability, 56)));
  return kThresholdScale - std::min(kept, kThresholdScale);
}

bool keep(const model::TraceId& id, double probability) noexcept {
  return randomness(id) >= rejection_threshold(probability);
}

std::string threshold_hex(double probability) {
  const auto t = rejection_threshold(probability);
  if (t == 0) return "0";
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(14, '0');
  for (int i = 13, shift = 0; i >= 0; --i, shift += 4) {
    hex[static_cast<std::size_t>(i)] = kDigits[(t >> shift) & 0xF];
  }
  while (hex.size() > 1 && hex.back() == '0') hex.pop_back();
  return hex;
}

std::string with_threshold(std::string_view tracestate, std::string_view th) {
  std::string ot = "ot=th:" + std::string(th);
  std::vector<std::string_view> others;
  std::size_t pos = 0;
  while (pos <= tracestate.size()) {
    auto end = tracestate.find(',', pos);
    if (end == std::string_view::npos) end = tracestate.size();
    auto member = tracestate.substr(pos, end - pos);
    while (!member.empty() && (member.front() == ' ' || member.front() == '\t'))
      member.remove_prefix(1);
    while (!member.empty() && (member.back() == ' ' || member.back() == '\t'))
      member.remove_suffix(1);
    if (member.starts_with("ot=")) {
      // Keep the other ot sub-keys (e.g. rv:), replace th.
      auto value = member.substr(3);
      std::size_t p = 0;
      while (p <= value.size()) {
        auto e = value.find(';', p);
        if (e == std::string_view::npos) e = value.size();
        const auto field = value.substr(p, e - p);
        if (!field.empty() && !field.starts_with("th:")) {
          ot += ';';
          ot += field;
        }
        p = e + 1;
      }
    } else if (!member.empty()) {
      others.push_back(member);
    }
    pos = end + 1;
  }
  // A modified member moves to the front (W3C tracestate rules).
  for (const auto m : others) {
    ot += ',';
    ot += m;
  }
  return ot;
}

}  // namespace tailgate::sampling
