#include "peers/keep_codec.hpp"

#include <charconv>

namespace tailgate::peers {
namespace {

constexpr char kHex[] = "0123456789abcdef";

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> encode_keep(const model::Keep& keep,
                                                             std::string_view agent) {
  std::string id;
  for (const auto b : keep.trace_id) {
    id += kHex[b >> 4];
    id += kHex[b & 0xF];
  }
  char q[32];
  const auto end = std::to_chars(q, q + sizeof q, keep.probability).ptr;
  std::vector<std::pair<std::string, std::string>> fields = {
      {"a", std::string(agent)}, {"t", id}, {"p", keep.policy}, {"q", std::string(q, end)}};
  if (keep.sequence != 0) fields.emplace_back("n", std::to_string(keep.sequence));
  return fields;
}

Decoded decode_keep(const std::vector<std::pair<std::string_view, std::string_view>>& fields,
                    std::string_view own_agent, model::Keep& out, std::string_view* agent_out) {
  std::string_view agent, id, policy, q, n;
  for (const auto& [k, v] : fields) {
    if (k == "a") agent = v;
    if (k == "t") id = v;
    if (k == "p") policy = v;
    if (k == "q") q = v;
    if (k == "n") n = v;
  }
  if (agent == own_agent) return Decoded::Own;
  if (agent.empty() || id.size() != 32 || policy.empty() || policy.size() > kMaxPolicyBytes) {
    return Decoded::Malformed;
  }
  for (std::size_t i = 0; i < 16; ++i) {
    const int hi = hex_value(id[2 * i]), lo = hex_value(id[2 * i + 1]);
    if (hi < 0 || lo < 0) return Decoded::Malformed;
    out.trace_id[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  double p = 0;
  const auto [end, ec] = std::from_chars(q.data(), q.data() + q.size(), p);
  if (ec != std::errc{} || end != q.data() + q.size() || !(p > 0.0 && p <= 1.0)) {
    return Decoded::Malformed;
  }
  std::uint64_t sequence = 0;  // absent (an agent before numbering): no gap can be seen
  if (!n.empty()) {
    const auto [n_end, n_ec] = std::from_chars(n.data(), n.data() + n.size(), sequence);
    if (n_ec != std::errc{} || n_end != n.data() + n.size() || sequence == 0) {
      return Decoded::Malformed;
    }
  }
  out.policy = std::string(policy);
  out.probability = p;
  out.sequence = sequence;
  if (agent_out != nullptr) *agent_out = agent;
  return Decoded::Keep;
}

}  // namespace tailgate::peers
