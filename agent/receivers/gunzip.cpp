#include "receivers/gunzip.hpp"

#include <zlib.h>

#include <array>
#include <memory>

namespace tailgate::receivers {
namespace {

struct InflateEnd {
  void operator()(z_stream* z) const noexcept { inflateEnd(z); }
};

}  // namespace

Inflate gunzip(std::span<const std::string_view> in, std::size_t limit, std::string& out) {
  out.clear();
  z_stream stream{};
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) return Inflate::Corrupt;
  const std::unique_ptr<z_stream, InflateEnd> guard(&stream);
  std::array<char, 64 * 1024> chunk{};
  int rc = Z_OK;
  for (const auto piece : in) {
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(piece.data()));
    stream.avail_in = static_cast<uInt>(piece.size());
    // Until this piece is used up and zlib holds nothing more for a full output chunk.
    do {
      stream.next_out = reinterpret_cast<Bytef*>(chunk.data());
      stream.avail_out = static_cast<uInt>(chunk.size());
      rc = inflate(&stream, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) return Inflate::Corrupt;
      const auto produced = chunk.size() - stream.avail_out;
      if (out.size() + produced > limit) return Inflate::TooLarge;
      out.append(chunk.data(), produced);
    } while (rc == Z_OK && (stream.avail_in > 0 || stream.avail_out == 0));
    if (rc == Z_STREAM_END) break;
  }
  return rc == Z_STREAM_END ? Inflate::Ok : Inflate::Corrupt;
}

}  // namespace tailgate::receivers
