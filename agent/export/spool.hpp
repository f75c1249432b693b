#pragma once
// The exporter's disk spool: export requests that could not be delivered in time (backend down,
// queue backed up, agent stopping) wait here, and are replayed oldest first when the backend
// answers again and at the next start. One file per request:
//
//   <sequence, 20 digits>-<spans>.otlp = magic "TGSP" | version u32 | spans u32 | crc32 u32 |
//                                        payload bytes u64 | payload (ExportTraceServiceRequest)
//
// The span count is in the name as well as in the header, so that the spans of a file whose
// header is destroyed are still known (files named <sequence>.otlp, from older versions, are
// still read; their spans are known only from an intact header).
//
// Written as .tmp, fsynced, renamed, and the directory fsynced: a crash leaves either a whole
// file or a .tmp that the next start deletes. A file whose header, length or checksum is wrong (a
// torn write the filesystem let through, a disk error, a foreign file) is logged, counted (files,
// bytes, and its spans as dropped spool_corrupt when known) and removed, never sent: it cannot be
// sent, and keeping it would let damaged files take disk space outside spool_max_bytes. Every
// length is checked against the file's real size before anything is allocated for it. Delivery is
// at least once: a crash between a successful export and the file's removal sends it again.
// Bounded in bytes; past the bound put() refuses and the caller counts the drop.
// Thread-safe (the exporter thread writes, gRPC callbacks remove).

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace tailgate::exporter {

class Spool final {
 public:
  struct Batch {
    std::uint64_t sequence = 0;
    std::uint32_t spans = 0;
    std::string payload;
  };

  /// Opens (creating it, mode 0700) the directory and indexes what an earlier run left; files
  /// whose header does not match their size are removed and counted at once. Throws
  /// std::runtime_error naming the directory if it cannot be used.
  Spool(std::string directory, std::size_t max_bytes);

  /// Writes a batch; false (nothing written) when it would pass max_bytes or the write fails.
  bool put(const std::string& payload, std::uint32_t spans);
  /// The same, at a place in the order taken earlier with reserve(): a batch cut before others
  /// but spooled after them is still replayed before them.
  bool put(const std::string& payload, std::uint32_t spans, std::uint64_t sequence);
  /// A place in the replay order, after every batch on disk and every place reserved before.
  std::uint64_t reserve();
  /// The sequence take_oldest() would return next; 0 when every file is taken or none is left.
  [[nodiscard]] std::uint64_t oldest_available() const;
  /// The oldest batch not already taken, read and verified; corrupt files are removed and
  /// counted on the way. Taken batches stay on disk until remove() or release().
  std::optional<Batch> take_oldest();
  /// Delivered: delete it.
  void remove(std::uint64_t sequence);
  /// Not delivered: it stays on disk and may be taken again.
  void release(std::uint64_t sequence);
  /// Taken, but its payload is not what we wrote (checked by the caller): counted as corrupt.
  void discard_corrupt(std::uint64_t sequence, const char* reason);

  [[nodiscard]] std::size_t bytes() const;
  [[nodiscard]] std::size_t files() const;
  [[nodiscard]] std::size_t available() const;  ///< files not taken
  [[nodiscard]] std::uint64_t spans() const;    ///< spans in all files
  /// Spans in the files an earlier run left, corrupt ones included where their count is known.
  [[nodiscard]] std::uint64_t recovered_spans() const;
  [[nodiscard]] std::uint64_t corrupt_files() const;
  [[nodiscard]] std::uint64_t corrupt_bytes() const;
  /// Spans in corrupt files whose count was known (name or header): lost, dropped spool_corrupt.
  [[nodiscard]] std::uint64_t corrupt_spans() const;

 private:
  struct FileInfo {
    std::string name;
    std::size_t bytes;
    std::uint32_t spans;
  };
  void index_file(const std::string& name);  // constructor only
  /// Logs, counts and deletes a damaged file; `spans` empty when nothing says how many it held.
  void count_corrupt(const std::string& name, std::size_t bytes, std::optional<std::uint32_t> spans,
                     const char* reason);  // mutex_ held
  void drop_file(std::uint64_t sequence);  // mutex_ held

  const std::string directory_;
  const std::size_t max_bytes_;
  mutable std::mutex mutex_;
  std::map<std::uint64_t, FileInfo> files_;
  std::set<std::uint64_t> taken_;
  std::uint64_t next_sequence_ = 1;
  std::size_t bytes_ = 0;
  std::uint64_t spans_ = 0;
  std::uint64_t recovered_spans_ = 0;
  std::uint64_t corrupt_ = 0;
  std::uint64_t corrupt_bytes_ = 0;
  std::uint64_t corrupt_spans_ = 0;
};

}  // namespace tailgate::exporter
