#include "peers/redis_link.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>

namespace tailgate::peers {
namespace {

timeval to_timeval(std::chrono::milliseconds d) {
  const auto ms = std::max<std::int64_t>(1, d.count());
  return {static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
}

// hiredis takes parallel arrays of pointers and lengths (binary-safe, no format string).
struct Argv {
  std::vector<const char*> pointers;
  std::vector<std::size_t> lengths;
  explicit Argv(const std::vector<std::string_view>& args) {
    for (const auto a : args) {
      pointers.push_back(a.data());
      lengths.push_back(a.size());
    }
  }
};

}  // namespace

void ReplyDeleter::operator()(redisReply* r) const noexcept {
  freeReplyObject(r);
}

RedisLink::RedisLink() = default;

RedisLink::~RedisLink() {
  disconnect();
}

bool RedisLink::connect(const std::string& endpoint, const std::string& password,
                        std::chrono::milliseconds connect_timeout,
                        std::chrono::milliseconds command_timeout) {
  disconnect();
  const auto colon = endpoint.rfind(':');
  std::string host = endpoint.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  const int port = std::atoi(endpoint.c_str() + colon + 1);
  context_ = redisConnectWithTimeout(host.c_str(), port, to_timeval(connect_timeout));
  if (context_ == nullptr) {
    error_ = "out of memory";
    return false;
  }
  if (context_->err != 0) {
    fail(context_->errstr);
    return false;
  }
  if (redisSetTimeout(context_, to_timeval(command_timeout)) != REDIS_OK) {
    fail("cannot set the socket timeout");
    return false;
  }
  redisEnableKeepAlive(context_);
  if (!password.empty()) {
    const auto r = command({"AUTH", password});
    if (!r) return false;
    if (r->type == REDIS_REPLY_ERROR) {
      fail("AUTH refused: " + std::string(r->str, r->len));
      return false;
    }
  }
  return true;
}

void RedisLink::disconnect() noexcept {
  if (context_ != nullptr) redisFree(context_);
  context_ = nullptr;
}

void RedisLink::fail(std::string why) noexcept {
  error_ = std::move(why);
  disconnect();
}

Reply RedisLink::command(const std::vector<std::string_view>& args) {
  if (context_ == nullptr) return nullptr;
  Argv argv(args);
  auto* r = static_cast<redisReply*>(redisCommandArgv(context_, static_cast<int>(args.size()),
                                                      argv.pointers.data(), argv.lengths.data()));
  if (r == nullptr) {
    fail(context_->errstr);
    return nullptr;
  }
  return Reply(r);
}

bool RedisLink::append(const std::vector<std::string_view>& args) {
  if (context_ == nullptr) return false;
  Argv argv(args);
  if (redisAppendCommandArgv(context_, static_cast<int>(args.size()), argv.pointers.data(),
                             argv.lengths.data()) != REDIS_OK) {
    fail(context_->errstr);
    return false;
  }
  return true;
}

Reply RedisLink::reply() {
  if (context_ == nullptr) return nullptr;
  void* r = nullptr;
  if (redisGetReply(context_, &r) != REDIS_OK || r == nullptr) {
    fail(context_->errstr);
    return nullptr;
  }
  return Reply(static_cast<redisReply*>(r));
}

}  // namespace tailgate::peers
