// The receivers section: the ring, native UDP and the drop-in Jaeger and OTLP receivers.
#include <string>
#include <string_view>

#include "config/section.hpp"

namespace tailgate::config {

namespace {

// The keys every listening receiver has, enabled and endpoint (host:port, port 0: any free one);
// the section is returned for the receiver's own keys.
detail::Section read_listener(detail::Section& receivers, std::string_view name, bool& enabled,
                              std::string& endpoint) {
  auto listener = receivers.child(name);
  listener.read("enabled", enabled);
  listener.read("endpoint", endpoint);
  detail::check_endpoint(listener, "endpoint", "receivers." + std::string(name) + ".endpoint",
                         endpoint);
  return listener;
}

}  // namespace

void parse_receivers(detail::Section& receivers, ReceiversConfig& rc) {
  const auto read_udp = [&receivers](std::string_view name, UdpReceiverConfig& u) {
    auto udp = read_listener(receivers, name, u.enabled, u.endpoint);
    udp.read_size("socket_buffer", u.socket_buffer_bytes);
    udp.finish();
  };
  read_udp("udp", rc.udp);
  read_udp("jaeger_compact", rc.jaeger_compact);
  read_udp("jaeger_binary", rc.jaeger_binary);
  const auto read_otlp = [&receivers](std::string_view name, OtlpReceiverConfig& o) {
    auto otlp = read_listener(receivers, name, o.enabled, o.endpoint);
    otlp.read_size("max_request_bytes", o.max_request_bytes);
    if (o.max_request_bytes < 1024 || o.max_request_bytes > (1u << 30)) {
      otlp.fail(otlp.at("max_request_bytes"),
                "receivers." + std::string(name) + ".max_request_bytes",
                "expected a size from 1KiB to 1GiB");
    }
    if (name == "otlp_grpc") {
      otlp.read_count("max_inflight_requests", o.max_inflight_requests);
      if (o.max_inflight_requests > 1024) {
        otlp.fail(otlp.at("max_inflight_requests"), "receivers.otlp_grpc.max_inflight_requests",
                  "expected a number from 1 to 1024");
      }
    }
    otlp.finish();
  };
  read_otlp("otlp_grpc", rc.otlp_grpc);
  read_otlp("otlp_http", rc.otlp_http);
  auto ring = receivers.child("ring");
  auto& r = rc.ring;
  ring.read("enabled", r.enabled);
  ring.read("directory", r.directory);
  ring.read("group", r.group);
  ring.read("scan_interval", r.scan_interval);
  ring.read("stalled_write_timeout", r.stalled_write_timeout);
  ring.read_count("max_segments", r.max_segments);
  ring.finish();
  read_listener(receivers, "jaeger_sampling", rc.jaeger_sampling.enabled,
                rc.jaeger_sampling.endpoint)
      .finish();
  receivers.finish();
}

}  // namespace tailgate::config
