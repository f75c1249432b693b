#pragma once
// The native UDP receiver: datagrams of wire records (wire/span_record.hpp), received in batches
// with recvmmsg on its own thread, decoded, and handed to the pipeline's queue. Binding happens in
// the constructor, so a bad endpoint or a taken port fails start-up with a clear error. Bad
// datagrams are counted and dropped; kernel-side drops are read from SO_RXQ_OVFL and counted.
// start()/stop() are called by the Agent's thread; everything else runs on the receiver thread.

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "model/span_queue.hpp"
#include "telemetry/counters.hpp"

namespace tailgate::receivers {

class UdpReceiver final {
 public:
  /// Binds the socket. Throws std::system_error (or std::invalid_argument) naming the endpoint.
  UdpReceiver(const config::UdpReceiverConfig& config, model::SpanQueue& out,
              telemetry::Counters& counters);
  ~UdpReceiver();
  UdpReceiver(const UdpReceiver&) = delete;
  UdpReceiver& operator=(const UdpReceiver&) = delete;

  void start();
  /// Stops receiving and joins the thread; datagrams already read are handed on first.
  void stop();

  /// The bound address, e.g. "127.0.0.1:6830" (the real port when 0 was asked for).
  [[nodiscard]] const std::string& local_endpoint() const noexcept { return local_endpoint_; }
  /// SO_RCVBUF as the kernel granted it (Linux reports twice the requested bytes).
  [[nodiscard]] std::size_t socket_buffer_bytes() const noexcept { return socket_buffer_bytes_; }

 private:
  void run() noexcept;

  model::SpanQueue& out_;
  telemetry::Counters& counters_;
  int fd_ = -1;
  int wake_fd_ = -1;  ///< eventfd that stop() writes to interrupt poll()
  std::string local_endpoint_;
  std::size_t socket_buffer_bytes_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace tailgate::receivers
