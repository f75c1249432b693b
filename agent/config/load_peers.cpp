// The peers section: Redis endpoint, stream, timings, and the password, which comes from the
// environment or a file and never from the YAML itself (a config file is shared and versioned;
// a secret in it leaks with it).
#include <string>

#include "config/section.hpp"

namespace tailgate::config {
namespace {

constexpr std::size_t kMaxPasswordBytes = 4096;

std::string read_password_file(detail::Section& peers, const std::string& path) {
  std::string password;
  // Room for a CR LF after the longest password.
  if (auto problem = detail::read_regular_file(path, kMaxPasswordBytes + 2, password);
      !problem.empty()) {
    peers.fail(peers.at("password_file"), "peers.password_file",
               "cannot read " + detail::quoted(path) + ": " + problem);
  }
  // A file written by `echo` or a Kubernetes secret may end in a newline that is not the password.
  while (!password.empty() && (password.back() == '\n' || password.back() == '\r'))
    password.pop_back();
  if (password.empty() || password.size() > kMaxPasswordBytes) {
    peers.fail(peers.at("password_file"), "peers.password_file",
               detail::quoted(path) + " must hold a password of 1 to 4096 bytes");
  }
  return password;
}

}  // namespace

void parse_peers(detail::Section& peers, PeersConfig& c) {
  peers.read("enabled", c.enabled);
  peers.read("endpoint", c.endpoint);
  detail::check_endpoint(peers, "endpoint", "peers.endpoint", c.endpoint,
                         detail::PortZero::Refused);
  std::string password_env, password_file;
  peers.read("password_env", password_env);
  peers.read("password_file", password_file);
  if (!password_env.empty() && !password_file.empty()) {
    peers.fail(peers.at("password_file"), "peers.password_file",
               "password_env and password_file exclude each other");
  }
  if (!password_env.empty()) {
    const char* v = std::getenv(password_env.c_str());
    if (v == nullptr || *v == '\0') {
      peers.fail(peers.at("password_env"), "peers.password_env",
                 "environment variable " + password_env + " is not set");
    }
    c.password = v;
  }
  if (!password_file.empty()) c.password = read_password_file(peers, password_file);
  peers.read("stream", c.stream);
  if (c.stream.empty()) peers.fail(peers.at("stream"), "peers.stream", "must name a stream");
  peers.read("agent_id", c.agent_id);
  peers.read_count("max_stream_length", c.max_stream_length);
  peers.read("publish_delay", c.publish_delay);
  peers.read_count("queue_keeps", c.queue_keeps);
  peers.read("timeout", c.timeout);
  peers.read("initial_backoff", c.initial_backoff);
  peers.read("max_backoff", c.max_backoff);
  if (c.initial_backoff > c.max_backoff) {
    peers.fail(peers.at("initial_backoff"), "peers.initial_backoff",
               "must not exceed peers.max_backoff");
  }
  peers.read("hold_time", c.hold_time);
  peers.read_size("hold_bytes", c.hold_bytes);
  peers.finish();
}

}  // namespace tailgate::config
