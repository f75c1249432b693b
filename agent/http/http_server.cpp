#include "http/http_server.hpp"

#include <pthread.h>

#include <optional>
#include <stdexcept>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace tailgate::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

// How long, and how much, of an oversized body is read and thrown away after the 413 (as nginx's
// lingering close does): a client still sending would otherwise get a reset, not the answer.
constexpr auto kLinger = std::chrono::seconds(5);
constexpr std::size_t kLingerBytes = 256u << 20;

tcp::endpoint parse_endpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  auto host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  return {asio::ip::make_address(host),
          static_cast<unsigned short>(std::stoul(text.substr(colon + 1)))};
}

std::string_view view(boost::beast::string_view s) {
  return {s.data(), s.size()};
}

}  // namespace

struct Server::State {
  ServerOptions options;
  Handler handler;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::steady_timer timer{io};
  std::chrono::milliseconds tick_interval{0};
  std::function<void()> tick;
  std::string local_endpoint;

  void accept() {
    acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) std::make_shared<Session>(std::move(socket), *this)->read();
      accept();
    });
  }

  void schedule_tick() {
    timer.expires_after(tick_interval);
    timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      tick();
      schedule_tick();
    });
  }

  // One connection: requests one after another while the client keeps it alive.
  class Session : public std::enable_shared_from_this<Session> {
   public:
    Session(tcp::socket&& socket, State& state) : stream_(std::move(socket)), state_(state) {}

    void read() {
      parser_.emplace();
      parser_->header_limit(static_cast<std::uint32_t>(state_.options.header_limit));
      parser_->body_limit(state_.options.body_limit);
      stream_.expires_after(state_.options.request_timeout);  // a half-sent request ends here
      bhttp::async_read(
          stream_, buffer_, *parser_,
          [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

   private:
    void on_read(beast::error_code ec) {
      if (ec == bhttp::error::end_of_stream) return close();
      // Past body_limit the header is in hand and the body is not: the handler still answers
      // what does not depend on the body (404, 405) before it refuses the size (413).
      const bool body_over_limit = ec == bhttp::error::body_limit;
      if (ec && !body_over_limit) {
        // Garbage or oversize headers: answer 400 if the socket still works, then hang up.
        if (ec != beast::error::timeout && ec != asio::error::operation_aborted) {
          // Counted when it was the request that was bad, not the connection.
          const auto& http_errors = bhttp::make_error_code(bhttp::error::bad_method).category();
          if (state_.options.on_refused && ec.category() == http_errors &&
              ec != bhttp::error::partial_message) {
            state_.options.on_refused(400);
          }
          write(
              {.status = 400, .content_type = "text/plain; charset=utf-8", .body = "bad request\n"},
              11, false, false, false);
        }
        return;
      }
      const auto& req = parser_->get();
      const Request request{.method = view(req.method_string()),
                            .target = view(req.target()),
                            .content_type = view(req[bhttp::field::content_type]),
                            .content_encoding = view(req[bhttp::field::content_encoding]),
                            .accept = view(req[bhttp::field::accept]),
                            .body = body_over_limit ? std::string_view() : req.body(),
                            .body_over_limit = body_over_limit};
      // A body left unread ends the connection; what the client still sends is read and dropped
      // for a while so that it gets to read the answer.
      write(state_.handler(request), req.version(), req.keep_alive() && !body_over_limit,
            req.method() == bhttp::verb::head, body_over_limit);
    }

    void write(Response answer, unsigned version, bool keep_alive, bool head, bool linger) {
      auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
          static_cast<bhttp::status>(answer.status), version);
      res->set(bhttp::field::server, "tailgate");
      res->set(bhttp::field::content_type, answer.content_type);
      if (!answer.allow.empty()) res->set(bhttp::field::allow, answer.allow);
      if (answer.retry_after_seconds > 0) {
        res->set(bhttp::field::retry_after, std::to_string(answer.retry_after_seconds));
      }
      res->keep_alive(keep_alive);
      const auto length = answer.body.size();
      if (!head) res->body() = std::move(answer.body);
      res->prepare_payload();
      if (head) res->content_length(length);
      stream_.expires_after(state_.options.request_timeout);
      bhttp::async_write(
          stream_, *res,
          [self = shared_from_this(), res, linger](beast::error_code ec, std::size_t) {
            if (!ec && res->keep_alive()) return self->read();
            self->close();
            if (!ec && linger) {
              self->stream_.expires_after(kLinger);
              self->discard();
            }
          });
    }

    void discard() {
      buffer_.consume(buffer_.size());
      stream_.async_read_some(buffer_.prepare(64 * 1024),
                              [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                                self->discarded_ += n;
                                if (ec || self->discarded_ > kLingerBytes) return;
                                self->buffer_.commit(n);
                                self->discard();
                              });
    }

    void close() {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }

    beast::tcp_stream stream_;
    State& state_;
    beast::flat_buffer buffer_;
    std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
    std::size_t discarded_ = 0;
  };
};

Server::Server(ServerOptions options, Handler handler) : state_(std::make_unique<State>()) {
  state_->options = std::move(options);
  state_->handler = std::move(handler);
  const auto& where = state_->options.endpoint;
  auto& acceptor = state_->acceptor;
  try {
    const auto endpoint = parse_endpoint(where);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
  } catch (const std::exception& e) {
    throw std::runtime_error(state_->options.config_key + " " + where + ": " + e.what());
  }
  const auto bound = acceptor.local_endpoint();
  state_->local_endpoint = (bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                                    : bound.address().to_string()) +
                           ":" + std::to_string(bound.port());
}

Server::~Server() {
  stop();
}

void Server::every(std::chrono::milliseconds interval, std::function<void()> tick) {
  state_->tick_interval = interval;
  state_->tick = std::move(tick);
}

void Server::start() {
  state_->accept();
  if (state_->tick) state_->schedule_tick();
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "tg-http");
    state_->io.run();
  });
}

void Server::stop() {
  if (!thread_.joinable()) return;
  asio::post(state_->io, [this] {
    beast::error_code ignored;
    state_->acceptor.close(ignored);
    state_->timer.cancel();
    state_->io.stop();
  });
  thread_.join();
}

const std::string& Server::local_endpoint() const noexcept {
  return state_->local_endpoint;
}

}  // namespace tailgate::http
