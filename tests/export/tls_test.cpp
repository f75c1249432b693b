// TLS to the backend with certificates made here by openssl: a CA, a server certificate for
// 127.0.0.1, a client certificate for mutual TLS, and a second CA that signed none of them.
#include <cstdlib>
#include <thread>

#include <catch2/catch.hpp>

#include "export/otlp_exporter.hpp"
#include "otlp_sink.hpp"
#include "support/child_process.hpp"
#include "support/eventually.hpp"
#include "support/span_builder.hpp"

using namespace tailgate;
using namespace std::chrono_literals;

namespace {

struct Certificates {
  testing::TempDir dir;
  std::string file(const std::string& name) const { return dir.file(name); }

  Certificates() {
    const auto d = dir.file("");
    const std::string script =
        "set -e; cd '" + d +
        "'\n"
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
        "  -subj '/CN=tailgate test CA' 2>/dev/null\n"
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 2 "
        "  -subj '/CN=some other CA' 2>/dev/null\n"
        "for who in server client; do\n"
        "  openssl req -newkey rsa:2048 -nodes -keyout $who.key -out $who.csr -subj \"/CN=$who\" "
        "2>/dev/null\n"
        "  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext.cnf\n"
        "  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $who.pem "
        "    -days 2 -extfile ext.cnf 2>/dev/null\n"
        "done\n";
    REQUIRE(std::system(
                ("bash -c \"$(cat <<'TAILGATE_EOF'\n" + script + "TAILGATE_EOF\n)\"").c_str()) ==
            0);
  }
};

config::ExporterConfig tls_config(int port, const std::string& ca) {
  config::ExporterConfig c;
  c.endpoint = "127.0.0.1:" + std::to_string(port);
  c.insecure = false;
  c.ca_file = ca;
  c.max_batch_delay = 20ms;
  c.initial_backoff = 20ms;
  c.max_backoff = 100ms;
  return c;
}

void push(model::SpanQueue& q, std::uint64_t n) {
  model::SpanBatch b;
  for (std::uint64_t i = 0; i < n; ++i)
    b.push_back(testing::make_span(i, 0, testing::test_resource("x")));
  REQUIRE(q.try_push(b));
}

}  // namespace

TEST_CASE("spans reach a TLS backend whose certificate the configured CA signed", "[export]") {
  Certificates certs;
  tools::SinkServer server("127.0.0.1:0", {.tls_cert_file = certs.file("server.pem"),
                                           .tls_key_file = certs.file("server.key")});
  telemetry::Counters counters;
  model::SpanQueue queue(1000);
  exporter::OtlpExporter exporter(tls_config(server.port(), certs.file("ca.pem")), queue, counters);
  exporter.start();
  push(queue, 20);
  CHECK(testing::eventually([&] { return server.sink().stats().spans == 20; }));
  queue.close();
  exporter.stop(1s);
}

TEST_CASE("with the wrong CA the handshake fails: retried, counted, nothing delivered",
          "[export]") {
  Certificates certs;
  tools::SinkServer server("127.0.0.1:0", {.tls_cert_file = certs.file("server.pem"),
                                           .tls_key_file = certs.file("server.key")});
  telemetry::Counters counters;
  model::SpanQueue queue(1000);
  auto config = tls_config(server.port(), certs.file("other-ca.pem"));
  config.max_retry_time = 500ms;
  exporter::OtlpExporter exporter(config, queue, counters);
  exporter.start();
  push(queue, 20);
  CHECK(testing::eventually(
      [&] { return counters.dropped_of(telemetry::DropReason::ExportFailed) == 20; }));
  CHECK(counters.export_retries.load() > 0);
  CHECK(server.sink().stats().spans == 0);
  queue.close();
  exporter.stop(1s);
}

TEST_CASE("mutual TLS: the client certificate is required and presented", "[export]") {
  Certificates certs;
  tools::SinkServer server("127.0.0.1:0", {.tls_cert_file = certs.file("server.pem"),
                                           .tls_key_file = certs.file("server.key"),
                                           .tls_client_ca_file = certs.file("ca.pem")});
  SECTION("with it") {
    auto config = tls_config(server.port(), certs.file("ca.pem"));
    config.client_cert_file = certs.file("client.pem");
    config.client_key_file = certs.file("client.key");
    telemetry::Counters counters;
    model::SpanQueue queue(1000);
    exporter::OtlpExporter exporter(config, queue, counters);
    exporter.start();
    push(queue, 5);
    CHECK(testing::eventually([&] { return server.sink().stats().spans == 5; }));
    queue.close();
    exporter.stop(1s);
  }
  SECTION("without it") {
    auto config = tls_config(server.port(), certs.file("ca.pem"));
    config.max_retry_time = 300ms;
    telemetry::Counters counters;
    model::SpanQueue queue(1000);
    exporter::OtlpExporter exporter(config, queue, counters);
    exporter.start();
    push(queue, 5);
    CHECK(testing::eventually(
        [&] { return counters.dropped_of(telemetry::DropReason::ExportFailed) == 5; }));
    CHECK(server.sink().stats().spans == 0);
    queue.close();
    exporter.stop(1s);
  }
}
