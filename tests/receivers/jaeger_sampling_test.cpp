// The Jaeger remote sampling endpoint, over real HTTP on 127.0.0.1: the strategy Jaeger clients
// parse, refusals, and the counts on /metrics.
#include "receivers/jaeger_sampling.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/http_client.hpp"

using tailgate::receivers::JaegerSamplingServer;
using tailgate::testing::http_request;

namespace {
int port_of(const std::string& endpoint) {
  return std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
}
}  // namespace

TEST_CASE(
    "GET /sampling?service= answers a probabilistic strategy of 1.0, as Jaeger clients "
    "parse it",
    "[receivers][jaeger_sampling]") {
  tailgate::telemetry::Counters counters;
  JaegerSamplingServer server({.enabled = true, .endpoint = "127.0.0.1:0"}, counters);
  server.start();
  const int port = port_of(server.local_endpoint());
  // The path every client asks (/sampling), and the older Jaeger agent's own (/).
  for (const std::string target : {"/sampling?service=order-router", "/?service=pricer&x=1"}) {
    const auto r = http_request("127.0.0.1", port, target);
    CHECK(r.status == 200);
    CHECK(r.content_type == "application/json");
    const auto json = nlohmann::json::parse(r.body);
    CHECK(json.at("strategyType") == "PROBABILISTIC");
    CHECK(json.at("probabilisticSampling").at("samplingRate").get<double>() == 1.0);
    CHECK_FALSE(json.contains("operationSampling"));  // it would override the probability
  }
  CHECK(counters.jaeger_sampling_served.load() == 2);
  CHECK(counters.jaeger_sampling_refused.load() == 0);

  CHECK(http_request("127.0.0.1", port, "/sampling").status == 400);
  CHECK(http_request("127.0.0.1", port, "/sampling?service=").status == 400);
  CHECK(http_request("127.0.0.1", port, "/baggageRestrictions?service=a").status == 404);
  const auto post =
      http_request("127.0.0.1", port, "/sampling?service=a", boost::beast::http::verb::post);
  CHECK(post.status == 405);
  CHECK(post.allow == "GET, HEAD");
  CHECK(counters.jaeger_sampling_served.load() == 2);
  CHECK(counters.jaeger_sampling_refused.load() == 4);
  server.stop();
}

TEST_CASE("a method other than GET or HEAD is 405 with Allow, with a body or without",
          "[receivers][jaeger_sampling]") {
  tailgate::telemetry::Counters counters;
  JaegerSamplingServer server({.enabled = true, .endpoint = "127.0.0.1:0"}, counters);
  server.start();
  const int port = port_of(server.local_endpoint());
  namespace http = boost::beast::http;
  // The endpoint takes no body: a request with one was answered 413, as if it were too large.
  for (const auto verb : {http::verb::post, http::verb::put, http::verb::patch, http::verb::delete_,
                          http::verb::options}) {
    for (const auto& body :
         {std::string(), std::string(R"({"service":"a"})"), std::string(64 << 10, 'x')}) {
      CAPTURE(http::to_string(verb), body.size());
      const auto r =
          tailgate::testing::http_send(port, verb, "/sampling?service=a", "application/json", body);
      CHECK(r.status == 405);
      CHECK(r.allow == "GET, HEAD");
    }
  }
  // HEAD is GET without the body.
  CHECK(http_request("127.0.0.1", port, "/sampling?service=a", http::verb::head).status == 200);
  // An unknown path is 404 whatever the method and body.
  CHECK(tailgate::testing::http_send(port, http::verb::post, "/other", "text/plain", "x").status ==
        404);
  CHECK(counters.jaeger_sampling_refused.load() == 16);
  server.stop();
}

TEST_CASE("a taken sampling port fails start-up naming the key", "[receivers][jaeger_sampling]") {
  tailgate::telemetry::Counters counters;
  JaegerSamplingServer first({.enabled = true, .endpoint = "127.0.0.1:0"}, counters);
  CHECK_THROWS_WITH(
      JaegerSamplingServer({.enabled = true, .endpoint = first.local_endpoint()}, counters),
      Catch::Matchers::Contains("receivers.jaeger_sampling.endpoint"));
}
