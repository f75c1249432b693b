// The peers section (config/load_peers.cpp): off by default, and the Redis password read from the
// environment or a file, never from the YAML itself.
#include <cstdlib>
#include <fstream>

#include <catch2/catch.hpp>

#include "config/load_config.hpp"
#include "support/child_process.hpp"

using namespace tailgate::config;
using Catch::Matchers::Contains;

namespace {

std::string error_of(const std::string& yaml) {
  try {
    (void)load_config_text(yaml, "peers.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "loaded without error";
}

}  // namespace

TEST_CASE("peers are off by default, without a password", "[config]") {
  const auto c = load_config_text("", "empty.yaml");
  CHECK_FALSE(c.peers.enabled);
  CHECK(c.peers.password.empty());
}

TEST_CASE("the Redis password comes from the environment or a file", "[config]") {
  ::setenv("TAILGATE_TEST_REDIS_PASSWORD", "s3cret env", 1);
  auto c = load_config_text(
      "peers:\n  enabled: true\n  password_env: TAILGATE_TEST_REDIS_PASSWORD\n", "peers.yaml");
  CHECK(c.peers.password == "s3cret env");
  ::unsetenv("TAILGATE_TEST_REDIS_PASSWORD");
  CHECK_THAT(error_of("peers:\n  password_env: TAILGATE_TEST_REDIS_PASSWORD\n"),
             Contains("TAILGATE_TEST_REDIS_PASSWORD is not set"));

  tailgate::testing::TempDir dir;
  std::ofstream(dir.file("redis-password")) << "s3cret file\n";  // as `echo` writes it
  c = load_config_text("peers:\n  password_file: " + dir.file("redis-password") + "\n",
                       "peers.yaml");
  CHECK(c.peers.password == "s3cret file");
  CHECK_THAT(error_of("peers:\n  password_file: " + dir.file("absent") + "\n"),
             Contains("cannot read"));
  CHECK_THAT(error_of("peers:\n  password_env: X\n  password_file: /etc/hostname\n"),
             Contains("exclude each other"));
}

TEST_CASE("the Redis endpoint needs a port from 1 to 65535", "[config]") {
  for (const auto* endpoint : {"redis:0", "redis:65536", "redis:99999999999", "redis"}) {
    CAPTURE(endpoint);
    CHECK_THAT(error_of(std::string("peers:\n  endpoint: \"") + endpoint + "\"\n"),
               Contains("peers.endpoint: expected host:port with a port from 1 to 65535"));
  }
}

TEST_CASE("a password written in the YAML is refused, saying where it belongs", "[config]") {
  const auto e = error_of("peers:\n  enabled: true\n  password: hunter2\n");
  CHECK_THAT(e,
             Contains("peers.password") && Contains("password_env") && Contains("password_file"));
  CHECK_THAT(e, !Contains("hunter2"));  // the error names the key, never echoes the secret
}
