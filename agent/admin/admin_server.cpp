#include "admin/admin_server.hpp"

#include <chrono>
#include <optional>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

namespace tailgate::admin {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr auto kRequestTimeout = std::chrono::seconds(5);
constexpr std::size_t kHeaderLimit = 8 * 1024;

std::uint64_t steady_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

tcp::endpoint parse_endpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  auto host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  return {asio::ip::make_address(host),
          static_cast<unsigned short>(std::stoul(text.substr(colon + 1)))};
}

}  // namespace

struct AdminServer::State {
  config::AdminConfig config;
  SnapshotFn snapshot;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::steady_timer sampler{io};
  telemetry::DropRateWindows windows{steady_ns()};
  std::string local_endpoint;

  Snapshot current() {
    auto s = snapshot();
    s.windows = windows.windows(s.now_ns, telemetry::totals_of(*s.counters));
    return s;
  }

  void sample_every_second() {
    sampler.expires_after(std::chrono::seconds(1));
    sampler.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      const auto s = snapshot();
      windows.sample(s.now_ns, telemetry::totals_of(*s.counters));
      sample_every_second();
    });
  }

  void accept() {
    acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) std::make_shared<Session>(std::move(socket), *this)->read();
      accept();
    });
  }

  // One connection: read a request, answer it, repeat while the client keeps it alive.
  class Session : public std::enable_shared_from_this<Session> {
   public:
    Session(tcp::socket&& socket, State& state) : stream_(std::move(socket)), state_(state) {}

    void read() {
      parser_.emplace();
      parser_->header_limit(kHeaderLimit);
      parser_->body_limit(0);
      stream_.expires_after(kRequestTimeout);  // a half-sent request is cut off here
      http::async_read(
          stream_, buffer_, *parser_,
          [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

   private:
    void on_read(beast::error_code ec) {
      if (ec == http::error::end_of_stream) return close();
      if (ec) {
        // Garbage or oversize: answer 400 if the socket still works, then hang up.
        if (ec != beast::error::timeout && ec != asio::error::operation_aborted) {
          auto res =
              std::make_shared<http::response<http::string_body>>(http::status::bad_request, 11);
          res->set(http::field::content_type, "text/plain; charset=utf-8");
          res->body() = "bad request\n";
          res->keep_alive(false);
          res->prepare_payload();
          write(std::move(res));
        }
        return;
      }
      const auto& req = parser_->get();
      const auto answer = handle(
          std::string_view(req.method_string().data(), req.method_string().size()),
          std::string_view(req.target().data(), req.target().size()), state_.current(),
          state_.config,
          std::string_view(req[http::field::accept].data(), req[http::field::accept].size()));
      auto res = std::make_shared<http::response<http::string_body>>(
          static_cast<http::status>(answer.status), req.version());
      res->set(http::field::server, "tailgate");
      res->set(http::field::content_type, answer.content_type);
      if (!answer.allow.empty()) res->set(http::field::allow, answer.allow);
      res->keep_alive(req.keep_alive());
      res->body() = req.method() == http::verb::head ? std::string() : answer.body;
      res->prepare_payload();
      if (req.method() == http::verb::head) res->content_length(answer.body.size());
      write(std::move(res));
    }

    void write(std::shared_ptr<http::response<http::string_body>> res) {
      stream_.expires_after(kRequestTimeout);
      http::async_write(stream_, *res,
                        [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                          if (ec || !res->keep_alive()) return self->close();
                          self->read();
                        });
    }

    void close() {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }

    beast::tcp_stream stream_;
    State& state_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::empty_body>> parser_;
  };
};

AdminServer::AdminServer(const config::AdminConfig& config, SnapshotFn snapshot)
    : state_(std::make_unique<State>()) {
  state_->config = config;
  state_->snapshot = std::move(snapshot);
  const auto endpoint = parse_endpoint(config.endpoint);
  auto& acceptor = state_->acceptor;
  try {
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("admin endpoint " + config.endpoint + ": " + e.code().message());
  }
  const auto bound = acceptor.local_endpoint();
  state_->local_endpoint = (bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                                    : bound.address().to_string()) +
                           ":" + std::to_string(bound.port());
}

AdminServer::~AdminServer() {
  stop();
}

void AdminServer::start() {
  state_->accept();
  state_->sample_every_second();
  thread_ = std::thread([this] { state_->io.run(); });
}

void AdminServer::stop() {
  if (!thread_.joinable()) return;
  asio::post(state_->io, [this] {
    beast::error_code ignored;
    state_->acceptor.close(ignored);
    state_->sampler.cancel();
    state_->io.stop();
  });
  thread_.join();
}

const std::string& AdminServer::local_endpoint() const noexcept {
  return state_->local_endpoint;
}

}  // namespace tailgate::admin
