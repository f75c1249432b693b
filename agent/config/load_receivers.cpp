// The receivers section: the ring, native UDP and the drop-in Jaeger and OTLP receivers.
#include <string>
#include <string_view>

#include "config/section.hpp"

namespace tailgate::config {

using detail::check_endpoint;

void parse_receivers(detail::Section& receivers, ReceiversConfig& rc) {
  const auto read_udp = [&receivers](std::string_view name, UdpReceiverConfig& u) {
    auto udp = receivers.child(name);
    udp.read("enabled", u.enabled);
    udp.read("endpoint", u.endpoint);
    check_endpoint(udp, "endpoint", "receivers." + std::string(name) + ".endpoint", u.endpoint);
    udp.read_size("socket_buffer", u.socket_buffer_bytes);
    udp.finish();
  };
  read_udp("udp", rc.udp);
  read_udp("jaeger_compact", rc.jaeger_compact);
  read_udp("jaeger_binary", rc.jaeger_binary);
  const auto read_otlp = [&receivers](std::string_view name, OtlpReceiverConfig& o) {
    auto otlp = receivers.child(name);
    otlp.read("enabled", o.enabled);
    otlp.read("endpoint", o.endpoint);
    check_endpoint(otlp, "endpoint", "receivers." + std::string(name) + ".endpoint", o.endpoint);
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
  auto sampling = receivers.child("jaeger_sampling");
  sampling.read("enabled", rc.jaeger_sampling.enabled);
  sampling.read("endpoint", rc.jaeger_sampling.endpoint);
  check_endpoint(sampling, "endpoint", "receivers.jaeger_sampling.endpoint",
                 rc.jaeger_sampling.endpoint);
  sampling.finish();
  receivers.finish();
}

}  // namespace tailgate::config
