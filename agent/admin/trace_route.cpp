// GET /debug/trace/<id>: "did the agent see trace X, and why did it keep or drop it?" Answered
// from the trace log (the recent window, in full), then from the pipeline thread (still buffered,
// or the decision cache's kept bit and policy), and says plainly when it no longer knows.
#include <fmt/format.h>

#include <algorithm>
#include <ctime>

#include <nlohmann/json.hpp>

#include "admin/routes.hpp"
#include "lookup/producers.hpp"

namespace tailgate::admin {
namespace {

using nlohmann::json;

double seconds(std::uint64_t ns) {
  return static_cast<double>(ns) / 1e9;
}

double ago(const Snapshot& s, std::uint64_t then_ns) {
  return then_ns != 0 && s.now_ns > then_ns ? seconds(s.now_ns - then_ns) : 0.0;
}

// Steady-clock time as RFC 3339 UTC, through the wall clock read at the same moment.
std::string wall_time(const Snapshot& s, std::uint64_t steady_ns) {
  const auto back = s.now_ns > steady_ns ? s.now_ns - steady_ns : 0;
  const auto unix_ns = s.now_unix_ns > back ? s.now_unix_ns - back : 0;
  const auto secs = static_cast<std::time_t>(unix_ns / 1'000'000'000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char text[40];
  const auto n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  return std::string(text, n) + fmt::format(".{:03}Z", unix_ns / 1'000'000 % 1000);
}

json producer_json(const model::Resource& r) {
  json out = json::object();
  for (const auto& a : r.attributes) {
    if (std::find(lookup::kProducerKeys.begin(), lookup::kProducerKeys.end(), a.key) ==
        lookup::kProducerKeys.end())
      continue;
    if (const auto* v = std::get_if<std::string>(&a.value))
      out[a.key] = *v;
    else if (const auto* i = std::get_if<std::int64_t>(&a.value))
      out[a.key] = *i;
  }
  return out;
}

json window_json(const Snapshot& s) {
  const auto w = s.trace_log->window();
  return {{"capacity", w.capacity},
          {"held", w.held},
          {"decisions_recorded", w.recorded},
          {"oldest_seconds_ago", ago(s, w.oldest_decided_ns)}};
}

json from_log(const Snapshot& s, const lookup::Decided& d) {
  json producers = json::array();
  for (std::size_t i = 0; i < std::min<std::size_t>(d.producer_count, d.producers.size()); ++i) {
    if (d.producers[i]) producers.push_back(producer_json(*d.producers[i]));
  }
  json out = {
      {"status", d.kept ? "kept" : "sampled_out"},
      {"remembered", "full"},
      {"decision",
       {{"kept", d.kept},
        {"policy", d.policy_name()},
        {"probability", d.probability},
        {"trigger", telemetry::to_string(d.trigger)},
        {"decided_at", wall_time(s, d.decided_ns)},
        {"decided_seconds_ago", ago(s, d.decided_ns)},
        {"waited_seconds",
         d.decided_ns > d.first_arrival_ns ? seconds(d.decided_ns - d.first_arrival_ns) : 0.0}}},
      // Spans that come after the decision follow it (late spans) and are not counted here.
      {"spans_at_decision", d.spans},
      {"root_seen", d.root_seen},
      {"producers", producers},
      {"producer_count", d.producer_count}};
  if (d.kept) out["export"] = lookup::to_string(d.export_state);
  return out;
}

json from_probe(const Snapshot& s, const lookup::Probe& p) {
  if (p.buffered) {
    return {{"status", "buffered"},
            {"remembered", "buffered"},
            {"spans", p.spans},
            {"bytes", p.bytes},
            {"root_seen", p.root_seen},
            {"first_arrival_seconds_ago", ago(s, p.first_arrival_ns)},
            {"note", "waiting for its decision (root + decision_wait, or max_trace_age)"}};
  }
  return {{"status", p.kept ? "kept" : "sampled_out"},
          {"remembered", "decision_only"},
          {"decision", {{"kept", p.kept}, {"policy", p.policy}}},
          {"note",
           "decided before the recent window: only the decision cache's kept bit and policy "
           "remain (trigger, spans, producers and export outcome are forgotten)"}};
}

}  // namespace

Response trace_route(std::string_view id_text, const Snapshot& s) {
  const auto id = lookup::parse_trace_id(id_text);
  if (!id) {
    return {
        400,
        "application/json",
        json{{"error", "expected 32 hex digits (a 128-bit trace id, not all zero)"}}.dump() + "\n",
        {}};
  }
  json body;
  std::optional<lookup::Decided> logged;
  if (s.trace_log != nullptr) logged = s.trace_log->find(*id);
  // The pipeline thread is asked only when the log does not know (a wait of up to one turn).
  const auto probed = s.probe && !logged ? s.probe(*id) : std::nullopt;
  if (logged) {
    body = from_log(s, *logged);
  } else if (probed && (probed->buffered || probed->in_decision_cache)) {
    body = from_probe(s, *probed);
  } else {
    body = {{"status", "unknown"},
            {"remembered", "nothing"},
            {"note", probed ? "not buffered, not in the decision cache nor the recent window: "
                              "never received, or decided before the decision cache reaches"
                            : "not in the recent window, and the pipeline did not answer"}};
  }
  body["trace_id"] = lookup::to_hex(*id);
  if (s.trace_log != nullptr) body["window"] = window_json(s);
  return {200, "application/json", body.dump() + "\n", {}};
}

}  // namespace tailgate::admin
