// content_decoder.hpp — internal header of http/ (not installed).
//
// ContentDecoder: decodes a gzip or deflate body (RFC 9110 section 8.4.1)
// as it streams in, with zlib, never producing more than the caller asks
// for, so a small compressed body cannot blow up into unbounded memory (a
// "zip bomb"): the caller pulls decoded bytes into a buffer of its size.
//
//   gzip     RFC 1952; several members one after another are one body
//            (RFC 1952 section 2.2), as gzip(1) and Python's gzip read them.
//   deflate  RFC 9110 means the zlib format (RFC 1950), but servers have long
//            sent raw deflate (RFC 1951); as aiohttp (and browsers) do, the
//            first two bytes decide: a valid zlib header is zlib, anything
//            else raw deflate.
//
// Errors are ClientPayloadError naming the URL: corrupt data, bytes after
// the end of the compressed stream, or a body that ends before it.
#ifndef WEFT_HTTP_CONTENT_DECODER_HPP
#define WEFT_HTTP_CONTENT_DECODER_HPP

#include <cstddef>
#include <string>

#include <zlib.h>

namespace weft {
namespace http {
namespace detail {

// Invariant: once initialised, stream_ is a live inflate stream until the
// destructor ends it; done_ is true between a stream end and the next input
// (for gzip, the next member), and at the end of a zlib/raw stream for good.
class ContentDecoder {
 public:
  enum class Coding { kGzip, kDeflate };

  // The coding named by a Content-Encoding value ("gzip", "x-gzip",
  // "deflate", ASCII case-insensitive, surrounding spaces ignored); false
  // for anything else, which is passed through undecoded (so is an
  // "identity" or a list of several codings, which no server sends to a
  // client that asked for "gzip, deflate").
  static bool coding_for(const std::string& content_encoding, Coding& coding);

  ContentDecoder(Coding coding, std::string url);
  ContentDecoder(const ContentDecoder&) = delete;
  ContentDecoder& operator=(const ContentDecoder&) = delete;
  ~ContentDecoder();

  // Decodes from in[0, in_size) into out[0, out_size): returns the bytes
  // written and sets `consumed` to the input bytes used. Returns 0 with
  // consumed == in_size only when all the input went into zlib's window
  // without output yet; the caller then feeds more.
  std::size_t decode(const char* in, std::size_t in_size, std::size_t& consumed, char* out,
                     std::size_t out_size);

  // Whether zlib holds decoded bytes it has not handed out yet (it may,
  // after a decode() that filled `out`): the caller calls decode() with no
  // input to drain them.
  bool has_pending_output() const noexcept { return pending_output_; }

  // The compressed body ended: throws ClientPayloadError unless the stream
  // ended too.
  void finish() const;

 private:
  void init(int window_bits);
  [[noreturn]] void fail(const char* what) const;

  Coding coding_;
  std::string url_;
  z_stream stream_;
  bool initialised_ = false;
  bool sniffed_ = false;        // deflate: zlib vs raw decided
  bool done_ = false;           // the (current) stream ended
  bool any_member_ = false;     // gzip: at least one member ended
  bool pending_output_ = false;
  unsigned char sniff_[2];      // deflate: the first byte, kept until the second comes
  std::size_t sniff_size_ = 0;
};

}  // namespace detail
}  // namespace http
}  // namespace weft

#endif  // WEFT_HTTP_CONTENT_DECODER_HPP
