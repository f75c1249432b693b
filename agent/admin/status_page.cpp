// GET /: one HTML page of what the agent is doing, for a person with a browser and no Grafana:
// producers, receivers, the buffer against its limit, decisions per policy over the last minute,
// export queue and spool, the last errors and the most recent kept traces. Inline CSS, no script:
// it renders offline and refreshes itself (meta refresh). Read-only; it reads what the snapshot
// already holds (counters, the trace log), never the pipeline thread.
#include <fmt/format.h>

#include "admin/routes.hpp"

namespace tailgate::admin {
namespace {

constexpr int kRefreshSeconds = 5;
constexpr std::size_t kRecentKept = 20;

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string bytes_text(std::uint64_t n) {
  if (n >= (1ULL << 30)) return fmt::format("{:.1f} GiB", static_cast<double>(n) / (1ULL << 30));
  if (n >= (1ULL << 20)) return fmt::format("{:.1f} MiB", static_cast<double>(n) / (1ULL << 20));
  if (n >= (1ULL << 10)) return fmt::format("{:.1f} KiB", static_cast<double>(n) / (1ULL << 10));
  return fmt::format("{} B", n);
}

std::uint64_t get(const telemetry::Counter& c) {
  return c.load(std::memory_order_relaxed);
}

void producers(std::string& out, const Snapshot& s) {
  out += "<h2>Producers (ring)</h2>\n";
  if (s.status.producers.empty()) {
    out += "<p class=\"none\">No producer segment attached.</p>\n";
    return;
  }
  out +=
      "<table id=\"producers\"><tr><th>pid</th><th>process</th><th>service</th><th>lanes</th>"
      "<th>spans</th><th>dropped</th><th>fullest lane</th></tr>\n";
  for (const auto& p : s.status.producers) {
    fmt::format_to(std::back_inserter(out),
                   "<tr class=\"producer\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                   "<td class=\"{}\">{}</td><td>{:.1f}%</td></tr>\n",
                   p.pid, escape(p.process), escape(p.service), p.lanes, p.spans,
                   p.dropped > 0 ? "bad" : "", p.dropped, p.fill * 100);
  }
  out += "</table>\n";
}

void receivers(std::string& out, const Snapshot& s) {
  fmt::format_to(std::back_inserter(out),
                 "<h2>Receivers</h2>\n<table id=\"receivers\"><tr><th>receiver</th><th>spans</th>"
                 "<th>spans/s (last {:.0f} s)</th></tr>\n",
                 s.status.rate_window_seconds);
  for (std::size_t i = 0; i < s.counters->spans_received.size(); ++i) {
    const auto rate = i < s.status.receiver_rates.size() ? s.status.receiver_rates[i] : 0.0;
    fmt::format_to(std::back_inserter(out), "<tr><td>{}</td><td>{}</td><td>{:.1f}</td></tr>\n",
                   telemetry::to_string(static_cast<telemetry::Receiver>(i)),
                   get(s.counters->spans_received[i]), rate);
  }
  out += "</table>\n";
}

void buffer_and_policies(std::string& out, const Snapshot& s) {
  const auto bytes = get(s.counters->bytes_buffered);
  const auto limit = s.status.max_buffered_bytes;
  fmt::format_to(std::back_inserter(out),
                 "<h2>Buffer</h2>\n<p>{} traces, {} spans, {} of {} ({:.1f}%){}</p>\n",
                 get(s.counters->traces_buffered), get(s.counters->spans_buffered),
                 bytes_text(bytes), bytes_text(limit),
                 limit == 0 ? 0.0 : 100.0 * static_cast<double>(bytes) / static_cast<double>(limit),
                 get(s.counters->stressed) != 0 ? " <b class=\"bad\">shedding load</b>" : "");
  fmt::format_to(std::back_inserter(out),
                 "<h2>Decisions per policy (last {:.0f} s)</h2>\n<table id=\"policies\"><tr>"
                 "<th>policy</th><th>kept</th><th>sampled out</th><th>kept since start</th></tr>\n",
                 s.status.rate_window_seconds);
  for (std::size_t i = 0; i < s.policies.size(); ++i) {
    const auto& now = s.policies[i];
    const auto recent = i < s.status.policies_last_minute.size() ? s.status.policies_last_minute[i]
                                                                 : telemetry::PolicyCounts{};
    fmt::format_to(std::back_inserter(out),
                   "<tr class=\"policy\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                   escape(now.name), recent.kept_traces, recent.sampled_out_traces,
                   now.kept_traces);
  }
  out += "</table>\n";
}

void export_state(std::string& out, const Snapshot& s) {
  const auto& c = *s.counters;
  const auto failing = get(c.export_failing_since_ns);
  fmt::format_to(std::back_inserter(out),
                 "<h2>Export</h2>\n<p>queue: {} of {} spans ({}); requests ok {}, failed {}, "
                 "retries {}; spans exported {}{}</p>\n",
                 s.gauges.export_queue_spans, s.gauges.export_queue_capacity,
                 bytes_text(s.gauges.export_queue_bytes), get(c.export_requests_ok),
                 get(c.export_requests_failed), get(c.export_retries), get(c.spans_exported),
                 failing != 0 && s.now_ns > failing
                     ? fmt::format(" <b class=\"bad\">failing for {:.0f} s</b>",
                                   static_cast<double>(s.now_ns - failing) / 1e9)
                     : std::string());
  if (s.status.spool_max_bytes == 0) {
    out += "<p>spool: off</p>\n";
  } else {
    fmt::format_to(std::back_inserter(out), "<p>spool: {} spans, {} of {}</p>\n",
                   get(c.spool_spans), bytes_text(get(c.spool_bytes)),
                   bytes_text(s.status.spool_max_bytes));
  }
  out += "<h2>Last errors</h2>\n";
  if (s.status.last_errors.empty())
    out += "<p class=\"none\">None.</p>\n";
  else {
    out += "<pre id=\"errors\">";
    for (const auto& line : s.status.last_errors) out += escape(line) + "\n";
    out += "</pre>\n";
  }
}

void recent_kept(std::string& out, const Snapshot& s, const config::AdminConfig& config) {
  out += "<h2>Recent kept traces</h2>\n";
  if (s.trace_log == nullptr) return;
  const auto kept = s.trace_log->recent_kept(kRecentKept);
  if (kept.empty()) {
    out += "<p class=\"none\">None yet.</p>\n";
    return;
  }
  out +=
      "<table id=\"kept\"><tr><th>trace</th><th>policy</th><th>trigger</th><th>spans</th>"
      "<th>export</th><th>decided</th></tr>\n";
  auto jaeger = std::string_view(config.jaeger_ui_url);
  while (jaeger.ends_with('/')) jaeger.remove_suffix(1);  // "http://j:16686/" as well
  for (const auto& d : kept) {
    const auto hex = lookup::to_hex(d.id);
    auto link = jaeger.empty()
                    ? hex
                    : fmt::format("<a href=\"{}/trace/{}\">{}</a>", escape(jaeger), hex, hex);
    fmt::format_to(
        std::back_inserter(out),
        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{:.1f} s ago</td></tr>\n",
        link, escape(d.policy_name()), telemetry::to_string(d.trigger), d.spans,
        lookup::to_string(d.export_state),
        s.now_ns > d.decided_ns ? static_cast<double>(s.now_ns - d.decided_ns) / 1e9 : 0.0);
  }
  out += "</table>\n";
}

}  // namespace

Response status_page(const Snapshot& s, const config::AdminConfig& config) {
  std::string out;
  out.reserve(16 * 1024);
  fmt::format_to(std::back_inserter(out),
                 "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                 "<meta http-equiv=\"refresh\" content=\"{}\">"
                 "<title>tailgate status</title><style>"
                 "body{{font:14px sans-serif;margin:1em 2em;color:#222}}"
                 "table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;"
                 "text-align:right}}td:first-child,th:first-child{{text-align:left}}"
                 "h2{{font-size:16px;margin:1.2em 0 .3em}}.bad{{color:#b00}}.none{{color:#777}}"
                 "pre{{background:#f6f6f6;padding:4px;white-space:pre-wrap}}</style></head><body>\n"
                 "<h1>tailgate</h1>\n<p>up {:.0f} s; refreshes every {} s; look a trace up at "
                 "<code>/debug/trace/&lt;trace id&gt;</code> or with <code>tailgate explain</code>"
                 "</p>\n",
                 kRefreshSeconds,
                 s.now_unix_ns == 0
                     ? 0.0
                     : static_cast<double>(s.now_unix_ns) / 1e9 - s.gauges.start_time_unix_seconds,
                 kRefreshSeconds);
  producers(out, s);
  receivers(out, s);
  buffer_and_policies(out, s);
  export_state(out, s);
  recent_kept(out, s, config);
  out += "</body></html>\n";
  return {200, "text/html; charset=utf-8", std::move(out), {}};
}

}  // namespace tailgate::admin
