// ContentDecoder: streaming gzip / deflate decoding with zlib (see
// content_decoder.hpp).
#include "content_decoder.hpp"

#include <cstring>
#include <new>

#include "weft/http/errors.hpp"
#include "weft/http/headers.hpp"

namespace weft {
namespace http {
namespace detail {
namespace {

// zlib's windowBits (inflateInit2): 15 is the largest window; +16 reads a
// gzip wrapper only; a negative value reads raw deflate.
constexpr int kZlibWindow = 15;
constexpr int kGzipWindow = 15 + 16;
constexpr int kRawWindow = -15;

std::string trim(const std::string& s) {
  std::size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return std::string();
  std::size_t end = s.find_last_not_of(" \t");
  return s.substr(begin, end - begin + 1);
}

// RFC 1950 section 2.2: CM = 8 (deflate) in the low nibble of CMF, and
// CMF * 256 + FLG a multiple of 31.
bool is_zlib_header(unsigned char cmf, unsigned char flg) {
  return (cmf & 0x0f) == 8 && (cmf >> 4) <= 7 && ((cmf << 8) | flg) % 31 == 0;
}

}  // namespace

bool ContentDecoder::coding_for(const std::string& content_encoding, Coding& coding) {
  const std::string name = trim(content_encoding);
  if (iequals(name, "gzip") || iequals(name, "x-gzip")) {
    coding = Coding::kGzip;
    return true;
  }
  if (iequals(name, "deflate")) {
    coding = Coding::kDeflate;
    return true;
  }
  return false;
}

ContentDecoder::ContentDecoder(Coding coding, std::string url) : coding_(coding), url_(std::move(url)) {
  std::memset(&stream_, 0, sizeof stream_);
  // gzip needs no sniffing; deflate waits for its first two bytes.
  if (coding_ == Coding::kGzip) init(kGzipWindow);
}

ContentDecoder::~ContentDecoder() {
  if (initialised_) inflateEnd(&stream_);
}

void ContentDecoder::init(int window_bits) {
  const int rc = inflateInit2(&stream_, window_bits);
  if (rc == Z_MEM_ERROR) throw std::bad_alloc();
  if (rc != Z_OK) fail("zlib inflateInit2 failed");
  initialised_ = true;
  sniffed_ = true;
}

void ContentDecoder::fail(const char* what) const {
  std::string message = std::string("Can not decode content-encoding: ") +
                        (coding_ == Coding::kGzip ? "gzip" : "deflate") + ": " + what;
  if (stream_.msg != nullptr) message += std::string(" (zlib: ") + stream_.msg + ")";
  throw ClientPayloadError(message, url_);
}

std::size_t ContentDecoder::decode(const char* in, std::size_t in_size, std::size_t& consumed, char* out,
                                   std::size_t out_size) {
  consumed = 0;
  const unsigned char* input = reinterpret_cast<const unsigned char*>(in);
  std::size_t input_size = in_size;
  std::size_t produced = 0;

  if (!sniffed_) {
    while (sniff_size_ < 2 && consumed < in_size) sniff_[sniff_size_++] = input[consumed++];
    if (sniff_size_ < 2) return 0;
    init(is_zlib_header(sniff_[0], sniff_[1]) ? kZlibWindow : kRawWindow);
    // The two sniffed bytes go in first; zlib keeps what it cannot use yet
    // in its bit buffer, so they are always taken whole with room to write.
    stream_.next_in = sniff_;
    stream_.avail_in = 2;
    stream_.next_out = reinterpret_cast<unsigned char*>(out);
    stream_.avail_out = static_cast<uInt>(out_size);
    const int rc = inflate(&stream_, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) done_ = true;
    else if (rc != Z_OK && rc != Z_BUF_ERROR) fail("corrupt data");
    if (stream_.avail_in != 0) fail("corrupt data");  // cannot happen with out_size > 0
    produced = out_size - stream_.avail_out;
    input += consumed;
    input_size -= consumed;
  }

  while (produced < out_size && (input_size > 0 || pending_output_)) {
    if (done_) {
      if (input_size == 0) break;
      // Bytes after the end of a stream: the next gzip member, or an error.
      if (coding_ != Coding::kGzip) fail("data after the end of the deflate stream");
      if (inflateReset(&stream_) != Z_OK) fail("inflateReset failed");
      done_ = false;
    }
    // zlib counts in uInt; a body piece is far below 4 GiB, but clamp anyway.
    const uInt take = static_cast<uInt>(input_size > 0x40000000u ? 0x40000000u : input_size);
    const std::size_t room = out_size - produced;
    stream_.next_in = const_cast<unsigned char*>(input);  // zlib's API is not const-correct
    stream_.avail_in = take;
    stream_.next_out = reinterpret_cast<unsigned char*>(out + produced);
    stream_.avail_out = static_cast<uInt>(room > 0x40000000u ? 0x40000000u : room);
    const uInt out_before = stream_.avail_out;
    const int rc = inflate(&stream_, Z_NO_FLUSH);
    const std::size_t used = take - stream_.avail_in;
    const std::size_t wrote = out_before - stream_.avail_out;
    input += used;
    input_size -= used;
    consumed += used;
    produced += wrote;
    // With its output full, zlib may hold more; with room left, it does not.
    pending_output_ = stream_.avail_out == 0;
    if (rc == Z_STREAM_END) {
      done_ = true;
      any_member_ = true;
      pending_output_ = false;
      continue;
    }
    if (rc == Z_BUF_ERROR) {  // no progress possible: needs input or room
      pending_output_ = false;
      break;
    }
    if (rc == Z_MEM_ERROR) throw std::bad_alloc();
    if (rc != Z_OK) fail(rc == Z_NEED_DICT ? "a preset dictionary is required" : "corrupt data");
    if (used == 0 && wrote == 0) break;
  }
  return produced;
}

void ContentDecoder::finish() const {
  if (!sniffed_) {
    if (sniff_size_ == 0) return;  // an empty body: nothing was encoded
    fail("the body ends inside the stream header");
  }
  if (!done_) {
    // An empty gzip body (no member at all) is an empty body.
    if (coding_ == Coding::kGzip && !any_member_ && stream_.total_in == 0) return;
    fail("the body ends before the compressed stream does");
  }
}

}  // namespace detail
}  // namespace http
}  // namespace weft
