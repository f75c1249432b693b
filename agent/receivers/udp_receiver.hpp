#pragma once
// A UDP receiver: datagrams received in batches with recvmmsg on its own thread, decoded by the
// receiver's decoder, and handed to the pipeline's queue. The native receiver decodes wire
// records (wire/span_record.hpp); the Jaeger receivers decode Thrift (jaeger_thrift.hpp). Binding
// happens in the constructor, so a bad endpoint or a taken port fails start-up with a clear error.
// Bad datagrams are counted and dropped; kernel-side drops are read from SO_RXQ_OVFL and counted.
// start()/stop() are called by the Agent's thread; everything else runs on the receiver thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "model/span_queue.hpp"
#include "telemetry/counters.hpp"

namespace tailgate::receivers {

class LogLimiter;

/// What one datagram gave: spans appended, spans its producer reported lost, spans (native: wire
/// records) refused, or the whole datagram refused and why; the first problem's description for
/// the log. Refusals are counted as rejected, not dropped (telemetry/counters.hpp).
struct DatagramResult {
  std::size_t spans = 0;
  std::uint64_t producer_losses = 0;
  std::size_t malformed = 0;  ///< spans or records that did not decode
  std::size_t zero_ids = 0;   ///< spans refused for an all-zero trace or span id
  std::optional<telemetry::RejectReason> refused;  ///< the datagram as a whole, if refused
  std::string error;
};

/// The most producer loss one datagram may report: the spans it could have carried instead
/// (65,536 bytes over the smallest span: 64 bytes as a native record, header and fixed part; under
/// 16 in Jaeger's compact Thrift). A sender can then falsify producer_loss no faster than
/// spans_received, by sending spans.
inline constexpr std::uint64_t kMaxLossPerDatagram = 65536 / 16;
inline constexpr std::uint64_t kMaxLossPerNativeDatagram = 65536 / 64;
using DatagramDecoder =
    std::function<DatagramResult(std::span<const std::byte> datagram, model::SpanBatch& out)>;

/// tailgate's own datagrams of wire records.
[[nodiscard]] DatagramDecoder native_decoder();

class UdpReceiver final {
 public:
  /// Binds the socket. Throws std::system_error (or std::invalid_argument) naming the endpoint.
  /// `name` names the receiver in logs; `kind` is what its spans count as received from.
  UdpReceiver(std::string name, const config::UdpReceiverConfig& config, telemetry::Receiver kind,
              DatagramDecoder decoder, model::SpanQueue& out, telemetry::Counters& counters);
  ~UdpReceiver();
  UdpReceiver(const UdpReceiver&) = delete;
  UdpReceiver& operator=(const UdpReceiver&) = delete;

  void start();
  /// Stops receiving and joins the thread; datagrams already read are handed on first.
  void stop();

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// The bound address, e.g. "127.0.0.1:6830" (the real port when 0 was asked for).
  [[nodiscard]] const std::string& local_endpoint() const noexcept { return local_endpoint_; }
  /// SO_RCVBUF as the kernel granted it (Linux reports twice the requested bytes).
  [[nodiscard]] std::size_t socket_buffer_bytes() const noexcept { return socket_buffer_bytes_; }

 private:
  void run() noexcept;
  /// Counts what one datagram of `size` bytes gave (spans, losses, refusals).
  void account(const DatagramResult& result, std::size_t size, LogLimiter& log);

  std::string name_;
  telemetry::Receiver kind_;
  DatagramDecoder decode_;
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
