#pragma once
// The agent's one HTTP server (Boost.Beast), shared by the admin endpoints and the OTLP/HTTP
// receiver: its own thread and io_context, asynchronous accept and sessions, so a slow or broken
// client costs a socket and a timer, never a pipeline thread. Each request must arrive within the
// request timeout; headers and bodies are bounded: a request whose body is past the limit reaches
// the handler without it (body_over_limit), and the rest is read and discarded for a while after
// the answer, so that the client gets to read it. Binding
// happens in the constructor: a taken port fails start-up with the config key named.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

namespace tailgate::http {

struct Request {
  std::string_view method;
  std::string_view target;
  std::string_view content_type;
  std::string_view content_encoding;
  std::string_view accept;
  std::string_view body;
  /// The body was past ServerOptions::body_limit and is not here: answer 413 where it matters,
  /// after the answers that do not depend on it (404, 405).
  bool body_over_limit = false;
};

struct Response {
  int status = 200;
  std::string content_type;
  std::string body;
  std::string allow;            ///< with 405
  int retry_after_seconds = 0;  ///< with 503
};

struct ServerOptions {
  std::string endpoint;    ///< host:port (numeric, or localhost); port 0 picks a free one
  std::string config_key;  ///< named in errors, e.g. "admin.endpoint"
  std::size_t header_limit = 8 * 1024;
  std::size_t body_limit = 0;  ///< 0: requests carry no body
  std::chrono::seconds request_timeout{5};
  /// Called (on the server's thread) with the status of each request the server refuses itself,
  /// without the handler: 400 for what does not parse as HTTP.
  std::function<void(int status)> on_refused;
};

class Server final {
 public:
  /// Called on the server's thread, one request at a time.
  using Handler = std::function<Response(const Request&)>;

  /// Binds. Throws std::runtime_error naming the key and endpoint when it cannot.
  Server(ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Also runs `tick` on the server's thread every `interval` once started (before start()).
  void every(std::chrono::milliseconds interval, std::function<void()> tick);
  void start();
  void stop();
  [[nodiscard]] const std::string& local_endpoint() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
  std::thread thread_;
};

}  // namespace tailgate::http
