#include "receivers/udp_receiver.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <spdlog/spdlog.h>

#include "receivers/log_limiter.hpp"
#include "telemetry/log_escape.hpp"
#include "wire/decode.hpp"
#include "wire/span_record.hpp"

namespace tailgate::receivers {

static_assert(kMaxLossPerNativeDatagram ==
              65536 / (wire::kRecordHeaderSize + wire::kSpanFixedSize));
namespace {

constexpr std::size_t kBatchDatagrams = 32;
constexpr std::size_t kDatagramBuffer = 65536;  // > the 65,000-byte record limit

std::system_error os_error(const std::string& what) {
  return {errno, std::generic_category(), what};
}

// Splits "host:port" / "[v6]:port" and resolves it numerically or through the resolver.
sockaddr_storage resolve(const std::string& endpoint, socklen_t& len) {
  const auto colon = endpoint.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("expected host:port: " + endpoint);
  std::string host = endpoint.substr(0, colon);
  const std::string port = endpoint.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    throw std::invalid_argument("cannot resolve " + endpoint + ": " + gai_strerror(rc));
  }
  sockaddr_storage addr{};
  std::memcpy(&addr, found->ai_addr, found->ai_addrlen);
  len = found->ai_addrlen;
  freeaddrinfo(found);
  return addr;
}

std::string to_endpoint(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
    inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(a.sin6_port));
  }
  const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
  inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
  return std::string(host) + ":" + std::to_string(ntohs(a.sin_port));
}

}  // namespace

DatagramDecoder native_decoder() {
  return [](std::span<const std::byte> datagram, model::SpanBatch& out) {
    // Items stay packed until the span is kept (most are not).
    const auto r = wire::decode_datagram(datagram, out, wire::Items::Packed);
    DatagramResult result{.spans = r.spans,
                          .producer_losses = r.producer_losses,
                          .malformed = r.malformed_records,
                          .zero_ids = r.zero_id_spans};
    if (r.malformed_records > 0) result.error = wire::to_string(r.first_error);
    if (r.zero_id_spans > 0 && result.error.empty()) result.error = "zero_id";
    // Nothing in it decoded: the datagram is refused whole, not record by record.
    if (r.spans == 0 && r.zero_id_spans == 0 && r.producer_losses == 0 && r.malformed_records > 0) {
      result.refused = telemetry::RejectReason::Malformed;
      result.malformed = 0;
    }
    return result;
  };
}

UdpReceiver::UdpReceiver(std::string name, const config::UdpReceiverConfig& config,
                         telemetry::Receiver kind, DatagramDecoder decoder, model::SpanQueue& out,
                         telemetry::Counters& counters)
    : name_(std::move(name)),
      kind_(kind),
      decode_(std::move(decoder)),
      out_(out),
      counters_(counters) {
  socklen_t len = 0;
  auto addr = resolve(config.endpoint, len);
  fd_ = ::socket(addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  const auto where = "receivers." + name_ + ".endpoint " + config.endpoint;
  if (fd_ < 0) throw os_error("udp socket for " + where);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    ::close(fd_);
    throw os_error("eventfd");
  }
  const auto fail = [this](const std::string& what) {
    auto error = os_error(what);
    ::close(fd_);
    ::close(wake_fd_);
    return error;
  };
  // SO_RCVBUFFORCE passes net.core.rmem_max when we may (root, CAP_NET_ADMIN); else the plain
  // option, which the kernel silently caps, so the granted size is read back and logged.
  const int want = static_cast<int>(std::min<std::size_t>(config.socket_buffer_bytes, 1u << 30));
  if (::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0) {
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
  }
  int granted = 0;
  socklen_t granted_len = sizeof granted;
  ::getsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &granted, &granted_len);
  socket_buffer_bytes_ = static_cast<std::size_t>(granted);
  if (socket_buffer_bytes_ < config.socket_buffer_bytes) {
    spdlog::warn(
        "event=udp_buffer_capped receiver={} requested={} granted={} "
        "hint=raise_net.core.rmem_max",
        name_, config.socket_buffer_bytes, socket_buffer_bytes_);
  }
  const int on = 1;
  ::setsockopt(fd_, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    throw fail("cannot bind " + where);
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof bound;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  local_endpoint_ = to_endpoint(bound);
}

UdpReceiver::~UdpReceiver() {
  stop();
  ::close(fd_);
  ::close(wake_fd_);
}

void UdpReceiver::start() {
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), ("tg-" + name_).substr(0, 15).c_str());
    run();
  });
}

void UdpReceiver::stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true, std::memory_order_relaxed);  // the eventfd write below wakes the thread
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
}

void UdpReceiver::run() noexcept {
  std::vector<std::byte> buffers(kBatchDatagrams * kDatagramBuffer);
  std::array<iovec, kBatchDatagrams> iov{};
  std::array<mmsghdr, kBatchDatagrams> msgs{};
  // Room for the SO_RXQ_OVFL control message of each datagram.
  std::array<std::array<char, CMSG_SPACE(sizeof(std::uint32_t))>, kBatchDatagrams> control{};
  for (std::size_t i = 0; i < kBatchDatagrams; ++i) {
    iov[i] = {buffers.data() + i * kDatagramBuffer, kDatagramBuffer};
  }
  std::uint32_t kernel_drops_seen = 0;
  LogLimiter malformed_log;
  model::SpanBatch batch;

  pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  // After stop(), what the socket already holds is still read (bounded, in case senders go on).
  constexpr int kBatchesAfterStop = 64;
  int batches_after_stop = 0;
  while (batches_after_stop < kBatchesAfterStop) {
    if (stopping_.load(std::memory_order_relaxed)) ++batches_after_stop;
    for (std::size_t i = 0; i < kBatchDatagrams; ++i) {
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = control[i].data();
      msgs[i].msg_hdr.msg_controllen = control[i].size();
    }
    const int got = ::recvmmsg(fd_, msgs.data(), kBatchDatagrams, MSG_DONTWAIT, nullptr);
    if (got <= 0) {
      if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        spdlog::error("event=udp_receive_failed receiver={} error={}", name_,
                      telemetry::quoted(std::strerror(errno)));
      }
      if (stopping_.load(std::memory_order_relaxed)) break;
      ::poll(fds, 2, -1);
      continue;
    }
    for (int i = 0; i < got; ++i) {
      auto& hdr = msgs[static_cast<std::size_t>(i)].msg_hdr;
      for (cmsghdr* c = CMSG_FIRSTHDR(&hdr); c != nullptr; c = CMSG_NXTHDR(&hdr, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
          std::uint32_t total = 0;
          std::memcpy(&total, CMSG_DATA(c), sizeof total);
          // The kernel's counter is cumulative for the socket (and wraps at 2^32).
          counters_.add_dropped(telemetry::DropReason::KernelBuffer, total - kernel_drops_seen);
          kernel_drops_seen = total;
        }
      }
      const auto size = msgs[static_cast<std::size_t>(i)].msg_len;
      const auto datagram = std::span<const std::byte>(
          buffers.data() + static_cast<std::size_t>(i) * kDatagramBuffer, size);
      counters_.datagrams_received.fetch_add(1, std::memory_order_relaxed);
      account(size == 0 ? DatagramResult{.refused = telemetry::RejectReason::Empty}
                        : decode_(datagram, batch),
              size, malformed_log);
    }
    if (const auto n = batch.size(); n > 0 && !out_.try_push(batch)) {
      counters_.add_dropped(telemetry::DropReason::PipelineFull, n);
      batch.clear();
    }
  }
}

void UdpReceiver::account(const DatagramResult& result, std::size_t size, LogLimiter& log) {
  counters_.add_received(kind_, result.spans);
  if (result.producer_losses > 0) {
    // A loss count is the sender's word: trust it only up to what it could have lost.
    const auto most =
        kind_ == telemetry::Receiver::Udp ? kMaxLossPerNativeDatagram : kMaxLossPerDatagram;
    if (result.producer_losses > most) {
      counters_.loss_reports_capped[static_cast<std::size_t>(kind_)].fetch_add(
          1, std::memory_order_relaxed);
    }
    counters_.add_dropped(telemetry::DropReason::ProducerLoss,
                          std::min(result.producer_losses, most));
  }
  if (result.refused) counters_.add_rejected_requests(kind_, *result.refused);
  if (result.malformed > 0) {
    counters_.add_rejected_spans(kind_, telemetry::RejectReason::Malformed, result.malformed);
  }
  if (result.zero_ids > 0) {
    counters_.add_rejected_spans(kind_, telemetry::RejectReason::ZeroId, result.zero_ids);
  }
  const auto refusals = result.malformed + result.zero_ids + (result.refused ? 1 : 0);
  if (refusals > 0) {
    if (const auto n = log.note(refusals)) {
      spdlog::warn(
          "event=udp_malformed receiver={} refused={} last_reason={} last_error={} "
          "datagram_bytes={}",
          name_, n, result.refused ? telemetry::to_string(*result.refused) : "records",
          telemetry::quoted(result.error), size);
    }
  }
}

}  // namespace tailgate::receivers
