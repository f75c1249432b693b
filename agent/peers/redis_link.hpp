#pragma once
// One connection to Redis through hiredis's blocking API, with timeouts on connect and on every
// command, so a slow or vanished Redis costs the calling thread at most the timeout, never the
// pipeline. Reconnects are the caller's (with Backoff). Used by the peers stage's two threads,
// one RedisLink each; not thread-safe.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;
struct redisReply;

namespace tailgate::peers {

struct ReplyDeleter {
  void operator()(redisReply* r) const noexcept;
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

class RedisLink final {
 public:
  RedisLink();
  ~RedisLink();
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  /// Connects to `endpoint` (host:port), sends AUTH when `password` is set, and sets the socket
  /// timeout of later commands. False, with error() saying why, on any failure.
  bool connect(const std::string& endpoint, const std::string& password,
               std::chrono::milliseconds connect_timeout,
               std::chrono::milliseconds command_timeout);
  void disconnect() noexcept;
  [[nodiscard]] bool connected() const noexcept { return context_ != nullptr; }

  /// One command; null on a connection error (then disconnected) — a Redis error reply is a reply.
  Reply command(const std::vector<std::string_view>& args);
  /// Queues a command for pipelining; false on a connection error (then disconnected).
  bool append(const std::vector<std::string_view>& args);
  /// The reply to the oldest appended command; null on a connection error (then disconnected).
  Reply reply();

  [[nodiscard]] const std::string& error() const noexcept { return error_; }

 private:
  void fail(std::string why) noexcept;

  redisContext* context_ = nullptr;  ///< owned; freed by disconnect()
  std::string error_;
};

/// Reconnect waits: initial, doubling up to max; reset after a success.
class Backoff final {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : initial_(initial), max_(max), next_(initial) {}
  std::chrono::milliseconds next() noexcept {
    const auto now = next_;
    next_ = std::min(max_, next_ * 2);
    return now;
  }
  void reset() noexcept { next_ = initial_; }

 private:
  std::chrono::milliseconds initial_, max_, next_;
};

}  // namespace tailgate::peers
