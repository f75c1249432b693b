#pragma once
// `tailgate explain <trace id>`: asks a running agent's admin endpoint (GET /debug/trace/<id>)
// and prints the answer for a person: seen or not, buffered or decided, kept or sampled out, by
// which policy, probability and trigger, when, its spans and producers, and the export outcome.

#include <ostream>
#include <string>
#include <string_view>

namespace tailgate::admin {

/// The answer (JSON from /debug/trace) as lines of text.
[[nodiscard]] std::string explain_text(std::string_view json_answer);

/// Asks `endpoint` (host:port) about `trace_id` and writes the answer to `out`, or the error to
/// `err`. Exit code: 0 the agent knows the trace, 1 it does not, 2 a bad id or no answer.
int explain(const std::string& endpoint, std::string_view trace_id, bool raw_json,
            std::ostream& out, std::ostream& err);

}  // namespace tailgate::admin
