#pragma once
// A keep as the fields of one Redis stream entry: a (agent id), t (trace id, 32 hex digits),
// p (policy name), q (probability), n (the agent's number for it, optional). A few dozen bytes;
// never a span. Pure functions; any thread.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/keep_queue.hpp"

namespace tailgate::peers {

inline constexpr std::size_t kMaxPolicyBytes = 64;

/// The entry's field/value pairs for `keep` from agent `agent`.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> encode_keep(const model::Keep& keep,
                                                                           std::string_view agent);

enum class Decoded { Keep, Own, Malformed };
/// Reads an entry's field/value pairs: Own (from `own_agent`: skipped), Malformed, or Keep
/// (written to `out`, its publisher's id to `agent`, a view into `fields`).
[[nodiscard]] Decoded decode_keep(
    const std::vector<std::pair<std::string_view, std::string_view>>& fields,
    std::string_view own_agent, model::Keep& out, std::string_view* agent = nullptr);

}  // namespace tailgate::peers
