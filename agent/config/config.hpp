#pragma once
// The agent's configuration as plain aggregates with their defaults. config/tailgate.yaml documents
// the same keys with the same defaults, and a test holds the two equal. Built once by
// load_config() at start-up (and on reload); read-only afterwards, so it needs no locking.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace tailgate::config {

using namespace std::chrono_literals;

enum class LogLevel { Trace, Debug, Info, Warn, Error, Off };
enum class LogFormat { Text, Json };
enum class Compression { None, Gzip };

struct LogConfig {
  LogLevel level = LogLevel::Info;     ///< trace, debug, info, warn, error or off
  LogFormat format = LogFormat::Text;  ///< text lines or JSON lines
  bool operator==(const LogConfig&) const = default;
};

struct UdpReceiverConfig {
  bool enabled = true;
  std::string endpoint = "127.0.0.1:6830";     ///< host:port; port 0 picks a free one (tests)
  std::size_t socket_buffer_bytes = 8u << 20;  ///< SO_RCVBUF: absorbs bursts while we decode
  bool operator==(const UdpReceiverConfig&) const = default;
};

struct RingReceiverConfig {
  bool enabled = true;
  std::string directory = "/dev/shm/tailgate";  ///< where producers create their segments
  std::string group;  ///< the directory's group (setgid: segments inherit it); empty: as it is
  std::chrono::milliseconds scan_interval = 200ms;  ///< new segments and dead producers
  /// An overflow-lane record claimed and not committed for this long is given up (counted lost).
  std::chrono::milliseconds stalled_write_timeout = 1000ms;
  /// Segments drained at once; more wait (counted as refused) until one goes. Bounds what files
  /// in the directory can cost: memory, descriptors and drain passes.
  std::size_t max_segments = 256;
  bool operator==(const RingReceiverConfig&) const = default;
};

/// OTLP over gRPC (TraceService/Export) or HTTP (POST /v1/traces, protobuf or JSON, gzip).
struct OtlpReceiverConfig {
  bool enabled = false;
  std::string endpoint;  ///< host:port
  /// Largest request accepted, after decompression; larger ones are refused whole.
  std::size_t max_request_bytes = 4u << 20;
  /// gRPC only (HTTP decodes one request at a time): requests decoded at once; past it, a
  /// request is answered retry-later, so decoding holds at most this many requests' memory.
  std::size_t max_inflight_requests = 4;
  bool operator==(const OtlpReceiverConfig&) const = default;
};

/// Jaeger's remote sampling endpoint (GET /sampling?service=...), answering "send everything".
struct JaegerSamplingConfig {
  bool enabled = true;
  std::string endpoint = "127.0.0.1:5778";  ///< host:port
  bool operator==(const JaegerSamplingConfig&) const = default;
};

// The drop-in receivers are on, at the ports the clients' defaults and the OpenTelemetry and
// Jaeger guides use: an application configured as they say works unchanged. tailgate replaces the
// Jaeger agent or OpenTelemetry Collector agent that held these ports on the host.
struct ReceiversConfig {
  UdpReceiverConfig udp;
  RingReceiverConfig ring;
  UdpReceiverConfig jaeger_compact{.enabled = true, .endpoint = "127.0.0.1:6831"};
  UdpReceiverConfig jaeger_binary{.enabled = true, .endpoint = "127.0.0.1:6832"};
  OtlpReceiverConfig otlp_grpc{.enabled = true, .endpoint = "127.0.0.1:4317"};
  OtlpReceiverConfig otlp_http{.enabled = true, .endpoint = "127.0.0.1:4318"};
  JaegerSamplingConfig jaeger_sampling;
  bool operator==(const ReceiversConfig&) const = default;
};

struct PipelineConfig {
  std::size_t queue_spans = 262144;  ///< receivers → pipeline hand-off bound; past it, dropped
  std::size_t queue_bytes = 128u << 20;  ///< ... and the memory those spans may hold
  bool operator==(const PipelineConfig&) const = default;
};

// Sampling policies: one aggregate per kind. `name` travels into metrics and onto kept spans.
struct ErrorPolicyConfig {
  std::string name = "error";
  double probability = 1.0;  ///< for traces with any span whose status is ERROR
  bool operator==(const ErrorPolicyConfig&) const = default;
};
struct LatencyPolicyConfig {
  std::string name = "latency";
  std::chrono::milliseconds threshold = 100ms;  ///< trace duration: earliest start to latest end
  double probability = 1.0;
  bool operator==(const LatencyPolicyConfig&) const = default;
};
struct SpanNamePolicyConfig {
  std::string name = "critical";
  std::vector<std::string> patterns;  ///< glob: `*` matches any run, e.g. "genesis.order.*"
  double probability = 0.1;
  bool operator==(const SpanNamePolicyConfig&) const = default;
};
struct AttributePolicyConfig {
  std::string name;
  std::string key;                  ///< span attribute key, e.g. risk.passed
  std::vector<std::string> values;  ///< matches when the value's text is one of these
  double probability = 1.0;
  bool operator==(const AttributePolicyConfig&) const = default;
};
struct BasePolicyConfig {
  std::string name = "base";
  double probability = 0.01;  ///< for every trace; the start value when adaptive
  bool operator==(const BasePolicyConfig&) const = default;
};
using PolicyConfig = std::variant<ErrorPolicyConfig, LatencyPolicyConfig, SpanNamePolicyConfig,
                                  AttributePolicyConfig, BasePolicyConfig>;

inline std::vector<PolicyConfig> default_policies() {
  return {
      ErrorPolicyConfig{}, LatencyPolicyConfig{},
      SpanNamePolicyConfig{.patterns = {"genesis.order.*", "order_execution", "api.exchange.*"}},
      BasePolicyConfig{}};
}

struct SamplingConfig {
  std::chrono::milliseconds decision_wait = 2s;   ///< after the root span: time for late children
  std::chrono::milliseconds max_trace_age = 30s;  ///< decide a trace whose root never comes
  std::size_t max_buffered_bytes = 256u << 20;    ///< all buffered traces; past it: decide oldest
  std::size_t max_spans_per_trace = 10000;        ///< past it: decide the trace now
  std::size_t max_bytes_per_trace = 16u << 20;
  double target_spans_per_second = 0;  ///< budget for the base policy's share; 0: fixed rate
  std::size_t decision_cache_entries = 3600000;  ///< recent decisions, 4 bytes each
  double stress_enter = 0.9;  ///< buffer fill (of max_buffered_bytes) that starts shedding
  double stress_exit = 0.7;   ///< buffer fill that ends it (hysteresis)
  /// Spans sampled out before their trace was whole (decided on arrival under stress, or early
  /// for memory) wait this long in the hold, so a later error or slow span brings them back...
  std::chrono::milliseconds hold_time = 10s;
  std::size_t hold_bytes = 32u << 20;  ///< ... within this memory (oldest let go first)
  std::vector<PolicyConfig> policies = default_policies();
  bool operator==(const SamplingConfig&) const = default;
};

struct ExporterConfig {
  /// OTLP/gRPC host:port. No default: start-up refuses it empty (config/startup_checks.hpp),
  /// since on this host 4317 is the agent's own OTLP receiver and any other guess is wrong.
  std::string endpoint;
  bool insecure = true;          ///< plaintext; false means TLS
  std::string ca_file;           ///< PEM roots for TLS; empty: the system's roots
  std::string client_cert_file;  ///< PEM client certificate for mutual TLS; empty: none
  std::string client_key_file;   ///< its private key
  std::map<std::string, std::string> headers;  ///< gRPC metadata sent with every request
  Compression compression = Compression::None;
  std::chrono::milliseconds timeout = 5s;  ///< deadline of one export request
  std::size_t max_batch_spans = 512;
  std::chrono::milliseconds max_batch_delay = 200ms;
  std::size_t queue_spans = 262144;      ///< pipeline → exporter hand-off bound
  std::size_t queue_bytes = 128u << 20;  ///< ... and the memory those spans may hold
  std::size_t max_inflight_requests = 4;
  std::chrono::milliseconds initial_backoff = 100ms;
  std::chrono::milliseconds max_backoff = 5s;
  std::chrono::milliseconds max_retry_time = 60s;  ///< give up on a batch after this long
  std::chrono::milliseconds shutdown_grace = 5s;   ///< how long shutdown waits for delivery
  std::string spool_directory;  ///< undelivered batches wait here across outages and restarts
  std::size_t spool_max_bytes = 1u << 30;
  bool operator==(const ExporterConfig&) const = default;
};

struct AdminConfig {
  bool enabled = true;
  std::string endpoint = "127.0.0.1:14271";  ///< /health /ready /metrics /drop-rate
  std::chrono::milliseconds stall_after =
      5s;  ///< /health fails when the pipeline is stuck this long
  std::chrono::milliseconds export_failing_after = 30s;  ///< /ready warns after this much failing
  double queue_high_water = 0.8;                         ///< /ready warns above this queue fill
  double drop_rate_threshold = 0.001;                    ///< /drop-rate status: dropped / received
  double export_failure_threshold = 0.01;  ///< /drop-rate status: failed / export requests
  /// /debug/trace/<id>: decisions remembered in full (about 145 bytes each) beyond the cache.
  std::size_t trace_lookup_entries = 65536;
  std::string jaeger_ui_url;  ///< the status page links kept traces there when set
  bool operator==(const AdminConfig&) const = default;
};

/// The Prometheus label name an attribute key becomes: "order.type" -> "order_type".
[[nodiscard]] inline std::string metric_label_name(std::string_view key) {
  std::string out;
  for (const char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    out += ok ? c : '_';
  }
  if (out.empty() || (out[0] >= '0' && out[0] <= '9')) out.insert(out.begin(), '_');
  return out;
}

/// Metrics from every span before sampling: calls, errors and a duration histogram per
/// (service, span name, kind, status, dimensions).
struct SpanMetricsConfig {
  bool enabled = true;
  std::vector<std::string> dimensions;  ///< attribute keys added as labels (a few, low cardinality)
  std::vector<std::chrono::nanoseconds> buckets = {
      100us, 250us, 500us, 1ms, 2500us, 5ms, 10ms, 25ms, 50ms,
      100ms, 250ms, 500ms, 1s,  2500ms, 5s,  10s};  ///< histogram upper bounds, increasing
  std::size_t max_series = 5000;  ///< label sets past it fold into one "other" series
  /// Longest label value taken from a span (service.name, span name, dimension values), in bytes
  /// as written on /metrics (escapes included); longer ones are cut and end in "…".
  std::size_t max_label_value_bytes = 128;
  bool operator==(const SpanMetricsConfig&) const = default;
};

enum class RedactionAction { Remove, Hash };

/// Attribute values that never leave the agent (the trading guides: no API keys, secrets or user
/// ids in traces).
struct RedactionConfig {
  /// Attribute keys, as `*` globs matched without regard to letter case, '.' and '-' read as '_'
  /// (so *private_key* also catches private.key and Private-Key). No bare *key*: it would take
  /// messaging.kafka.message.key, cache keys, keyboard.layout.
  std::vector<std::string> keys = {
      "*api_key*",    "*apikey*",     "*secret*",        "*password*",   "*passwd*",
      "*passphrase*", "*token*",      "*authorization*", "*credential*", "*private_key*",
      "*privatekey*", "*access_key*", "*accesskey*",     "*cookie*",     "*connection_string*",
      "*user_id*",    "*userid*",     "*account_id*",    "*accountid*"};
  /// remove: the attribute goes; hash: its value becomes a keyed hash (same value, same hash,
  /// so traces can still be grouped by it without revealing it).
  RedactionAction action = RedactionAction::Hash;
  std::string hash_key;  ///< HMAC key; empty: a random one per start (hashes match within a run)
  bool operator==(const RedactionConfig&) const = default;
};

/// What one kept span may carry out of the agent; the rest is cut and counted.
struct LimitsConfig {
  std::size_t max_attribute_value_bytes = 1024;  ///< longer strings are cut and end in "…"
  std::size_t max_attributes_per_span = 128;  ///< OTLP dropped_attributes_count says how many went
  std::size_t max_events_per_span = 128;      ///< OTLP dropped_events_count
  std::size_t max_span_name_bytes = 256;
  std::size_t max_spans_per_trace = 10000;  ///< of a kept trace at its decision; the rest dropped
  bool operator==(const LimitsConfig&) const = default;
};

/// Where the agent keeps what must outlive it besides the spool: the crash-accounting state file.
struct StateConfig {
  std::string directory;  ///< empty: exporter.spool_directory; both empty: crashes go uncounted
  bool operator==(const StateConfig&) const = default;
};

/// Keep decisions shared between the agents of a fleet through Redis (docs/fleet.md). Off: the
/// agent decides alone, exactly as without this section.
struct PeersConfig {
  bool enabled = false;
  std::string endpoint = "127.0.0.1:6379";  ///< the Redis server, host:port
  /// The Redis password, read at start-up from the environment variable named by password_env or
  /// from password_file (never written in the YAML); empty: no AUTH.
  std::string password;
  std::string stream = "tailgate:keeps";   ///< the Redis stream every agent of the fleet shares
  std::string agent_id;                    ///< this agent's name in messages; empty: hostname:pid
  std::size_t max_stream_length = 100000;  ///< XADD MAXLEN ~: the stream's bound in Redis
  std::chrono::milliseconds publish_delay =
      20ms;                                   ///< keeps gathered this long go in one round trip
  std::size_t queue_keeps = 16384;            ///< bound of each hand-off (to publish, to follow)
  std::chrono::milliseconds timeout = 500ms;  ///< connect and command timeout
  std::chrono::milliseconds initial_backoff = 100ms;  ///< reconnect: first wait, doubling ...
  std::chrono::milliseconds max_backoff = 5s;         ///< ... up to this
  /// Sampled-out spans of cross-process traces wait this long for a peer's keep.
  std::chrono::milliseconds hold_time = 10s;
  std::size_t hold_bytes = 64u << 20;  ///< memory of those held spans; past it, oldest go first
  bool operator==(const PeersConfig&) const = default;
};

struct Config {
  LogConfig log;
  AdminConfig admin;
  ReceiversConfig receivers;
  PipelineConfig pipeline;
  SamplingConfig sampling;
  ExporterConfig exporter;
  SpanMetricsConfig span_metrics;
  RedactionConfig redaction;
  LimitsConfig limits;
  StateConfig state;
  PeersConfig peers;
  bool operator==(const Config&) const = default;
};

}  // namespace tailgate::config
