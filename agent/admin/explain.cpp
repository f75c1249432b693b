#include "admin/explain.hpp"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "telemetry/log_escape.hpp"

namespace tailgate::admin {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using nlohmann::json;

struct Answer {
  unsigned status = 0;
  std::string body;
};

// One GET, bounded by a timeout: the agent answers within one pipeline turn, and a stuck agent
// (which is when someone asks) must not hang the person asking. beast::tcp_stream's expiry bounds
// asynchronous operations only, hence the async calls run to completion here.
Answer get(const std::string& endpoint, const std::string& target) {
  const auto colon = endpoint.rfind(':');
  const auto port = colon == std::string::npos ? std::string() : endpoint.substr(colon + 1);
  unsigned number = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  // The resolver took "99999" and asked port 34463 (modulo 65536).
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || number == 0 ||
      number > 65535) {
    throw std::runtime_error("expected host:port with a port from 1 to 65535, got " + endpoint);
  }
  auto host = endpoint.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  boost::asio::io_context io;
  boost::asio::ip::tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  const auto addresses = resolver.resolve(host, endpoint.substr(colon + 1));
  http::request<http::empty_body> request(http::verb::get, target, 11);
  request.set(http::field::host, host);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  beast::error_code failed;
  stream.expires_after(std::chrono::seconds(5));  // connect, write and read together
  stream.async_connect(addresses, [&](beast::error_code connected, const auto&) {
    if (connected) return void(failed = connected);
    http::async_write(stream, request, [&](beast::error_code written, std::size_t) {
      if (written) return void(failed = written);
      http::async_read(stream, buffer, response,
                       [&](beast::error_code read, std::size_t) { failed = read; });
    });
  });
  io.run();
  if (failed) {
    throw std::runtime_error(failed == beast::error::timeout ? "no answer within 5 s"
                                                             : failed.message());
  }
  beast::error_code ignored;
  stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  return {response.result_int(), response.body()};
}

// Text from spans (service names, host names) goes to a terminal: control characters (escape
// sequences, a newline that would forge a line) are shown as \xNN, never passed on.
void make_visible(json& j) {
  if (j.is_string()) {
    std::string shown;
    telemetry::append_log_escaped(j.get_ref<const std::string&>(), false, shown);
    j = shown;
  } else if (j.is_structured()) {
    for (auto& child : j) make_visible(child);
  }
}

// From the answer as it came (not made visible): a value is quoted when it holds a space, so a
// host name "web-1 service.name=payments" cannot pass for a second field (outside attack).
std::string producer_text(const json& p) {
  std::string out;
  for (const auto& [key, value] : p.items()) {
    out += (out.empty() ? "" : " ") + telemetry::format_log_value(telemetry::bare_or_quoted(key)) +
           "=" +
           (value.is_string() ? telemetry::format_log_value(
                                    telemetry::bare_or_quoted(value.get_ref<const std::string&>()))
                              : value.dump());
  }
  return out.empty() ? "(no service.name)" : out;
}

void decision_lines(std::string& out, const json& a, const json& producer_list) {
  const auto& d = a["decision"];
  const auto policy = d.value("policy", std::string());
  if (!d.contains("trigger")) {
    fmt::format_to(std::back_inserter(out), "  by policy \"{}\"\n", policy);
    return;
  }
  fmt::format_to(std::back_inserter(out),
                 "  decided {} ({:.1f} s ago) by policy \"{}\" at probability {}, trigger {}, "
                 "{:.3f} s after its first span\n",
                 d.value("decided_at", ""), d.value("decided_seconds_ago", 0.0),
                 policy.empty() ? "(none)" : policy, d.value("probability", 0.0),
                 d.value("trigger", ""), d.value("waited_seconds", 0.0));
  std::string producers;
  for (const auto& p : producer_list) {
    producers += "\n    " + producer_text(p);
  }
  const auto count = a.value("producer_count", 0);
  fmt::format_to(std::back_inserter(out),
                 "  spans at the decision: {} ({}; later ones follow it), from {} producer{}:{}\n",
                 a.value("spans_at_decision", 0),
                 a.value("root_seen", false) ? "root seen" : "no root seen", count,
                 count == 1 ? "" : "s", producers);
  if (a.contains("export"))
    fmt::format_to(std::back_inserter(out), "  export: {}\n", a["export"].get<std::string>());
}

}  // namespace

std::string explain_text(std::string_view json_answer) {
  auto a = json::parse(json_answer);
  const auto producers = a.value("producers", json::array());
  make_visible(a);
  const auto status = a.value("status", std::string("unknown"));
  std::string out = fmt::format("trace {}: {}\n", a.value("trace_id", ""), status);
  if (status == "kept" || status == "sampled_out") decision_lines(out, a, producers);
  if (status == "buffered") {
    fmt::format_to(std::back_inserter(out),
                   "  {} spans ({} bytes, {}) buffered for {:.1f} s, waiting for its decision\n",
                   a.value("spans", 0), a.value("bytes", 0),
                   a.value("root_seen", false) ? "root seen" : "no root yet",
                   a.value("first_arrival_seconds_ago", 0.0));
  }
  if (a.contains("note") && status != "buffered") {
    out += "  " + a["note"].get<std::string>() + "\n";
  }
  if (a.contains("window")) {
    const auto& w = a["window"];
    fmt::format_to(std::back_inserter(out),
                   "  (full details are kept for the last {} decisions: now {}, back {:.1f} s)\n",
                   w.value("capacity", 0), w.value("held", 0), w.value("oldest_seconds_ago", 0.0));
  }
  return out;
}

int explain(const std::string& endpoint, std::string_view trace_id, bool raw_json,
            std::ostream& out, std::ostream& err) {
  try {
    const auto answer = get(endpoint, "/debug/trace/" + std::string(trace_id));
    if (answer.status != 200) {
      err << "tailgate explain: " << endpoint << " answered " << answer.status << ": "
          << answer.body;
      return 2;
    }
    out << (raw_json ? answer.body : explain_text(answer.body));
    return json::parse(answer.body).value("status", "unknown") == "unknown" ? 1 : 0;
  } catch (const std::exception& e) {
    err << "tailgate explain: cannot ask the agent's admin endpoint " << endpoint << ": "
        << e.what() << "\n";
    return 2;
  }
}

}  // namespace tailgate::admin
