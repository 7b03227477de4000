// tests/fuzz/fuzz_content_decoder.cpp — libFuzzer target for the gzip /
// deflate body decoder (http/content_decoder.hpp), pulled the way
// Response::read(max_size) pulls it: into a buffer of a fixed size, asking
// for at most one byte past a size limit, so a decompression bomb must stop
// at the limit instead of filling memory.
//
// Two modes:
//   decode      the payload is a compressed body as a server might send it
//               (corrupt, truncated, a bomb, trailing garbage...);
//   round trip  the payload is plain text, compressed here with zlib (gzip,
//               one member or two; zlib; or raw deflate; levels 0-7), and
//               the decoder must give it back exactly.
// Either way the compressed body is decoded twice, fed whole and fed in the
// pieces the input's header chooses (fuzz_input.hpp), and the runs must
// agree: both succeed with the same bytes, or both stop at the limit, or
// both fail with ClientPayloadError, one's output a prefix of the other's
// (a throwing decode() call loses what it wrote, so a failure may come with
// fewer bytes in one run). Each decode() call writes into a heap block of
// exactly the room it is given, so a write past it is an ASan report.
//
// flags: bit 0     0 gzip, 1 deflate
//        bit 1     round trip
//        bits 2-3  output buffer size: 1, 7, 512 or 16384 bytes
//        bit 4     round trip: gzip in two members; deflate: raw, not zlib
//        bits 5-7  round trip: the compression level
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "http/content_decoder.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "weft/http/errors.hpp"

namespace {

using weft::http::detail::ContentDecoder;

// The size limit of the pull loop: a body decoding to more is a bomb. Small,
// so that a bomb pulled one byte at a time still runs in milliseconds.
constexpr std::size_t kLimit = 64 * 1024;
// decode() calls per run, at most; far above what kLimit needs even one
// byte at a time, so reaching it means the decoder spins without progress.
constexpr std::size_t kMaxCalls = 4 * kLimit;

enum class End { kComplete, kOverLimit, kError };

struct Outcome {
  End end = End::kComplete;
  std::string output;
};

// Decodes the pieces as the client's read loop does (http/response.cpp,
// ResponseState::read_body and Response::read).
Outcome decode(ContentDecoder::Coding coding, const std::vector<std::string>& pieces,
               std::size_t out_size) {
  Outcome outcome;
  ContentDecoder decoder(coding, std::string());
  std::size_t calls = 0;
  try {
    for (const std::string& piece : pieces) {
      std::unique_ptr<char[]> in(new char[piece.size() + 1]);
      std::memcpy(in.get(), piece.data(), piece.size());
      std::size_t at = 0;
      while (at < piece.size() || decoder.has_pending_output()) {
        const std::size_t room = std::min(out_size, kLimit + 1 - outcome.output.size());
        std::unique_ptr<char[]> out(new char[room]);
        std::size_t used = 0;
        const std::size_t produced = decoder.decode(in.get() + at, piece.size() - at, used, out.get(), room);
        WEFT_FUZZ_CHECK(produced <= room, "decode() writes at most the room it is given");
        WEFT_FUZZ_CHECK(used <= piece.size() - at, "decode() uses at most its input");
        outcome.output.append(out.get(), produced);
        at += used;
        if (outcome.output.size() > kLimit) {
          outcome.end = End::kOverLimit;
          return outcome;
        }
        ++calls;
        WEFT_FUZZ_CHECK(calls < kMaxCalls, "decode() makes progress");
        // Response::read_body's rule: no output and no input used with
        // input left is an error, not a reason to loop.
        if (produced == 0 && used == 0 && at < piece.size()) {
          outcome.end = End::kError;
          return outcome;
        }
      }
    }
    decoder.finish();
  } catch (const weft::http::ClientPayloadError&) {
    outcome.end = End::kError;
  }
  return outcome;
}

// zlib's deflate of `text` with the given windowBits (31 gzip, 15 zlib,
// -15 raw) and level.
std::string compress(const std::string& text, int window_bits, int level) {
  z_stream z;
  std::memset(&z, 0, sizeof z);
  WEFT_FUZZ_CHECK(deflateInit2(&z, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) == Z_OK,
                  "deflateInit2");
  std::string out(deflateBound(&z, static_cast<uLong>(text.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(&out[0]);
  z.avail_out = static_cast<uInt>(out.size());
  WEFT_FUZZ_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END, "deflate with deflateBound's room");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// The round trip's body for `text`, as the flags say.
std::string encode(const std::string& text, unsigned flags) {
  const bool deflate = (flags & 1) != 0;
  const bool variant = (flags & 16) != 0;
  const int level = static_cast<int>(flags >> 5);
  if (deflate) return compress(text, variant ? -15 : 15, level);
  if (!variant) return compress(text, 31, level);
  const std::size_t half = text.size() / 2;
  return compress(text.substr(0, half), 31, level) + compress(text.substr(half), 31, level);
}

void check_coding_for(const std::string& payload) {
  ContentDecoder::Coding coding;
  const std::string name = payload.substr(0, 16);
  if (!ContentDecoder::coding_for(name, coding)) return;
  std::string lower;
  for (char c : name) {
    if (c != ' ' && c != '\t') lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  const bool gzip = lower == "gzip" || lower == "x-gzip";
  WEFT_FUZZ_CHECK(gzip || lower == "deflate", "coding_for() accepts only its three names");
  WEFT_FUZZ_CHECK((coding == ContentDecoder::Coding::kGzip) == gzip, "coding_for() names the coding");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const weft_fuzz::FuzzInput in = weft_fuzz::parse_input(data, size);
  const auto coding = (in.flags & 1) != 0 ? ContentDecoder::Coding::kDeflate : ContentDecoder::Coding::kGzip;
  const bool round_trip = (in.flags & 2) != 0;
  static const std::size_t kOutSizes[] = {1, 7, 512, 16384};
  const std::size_t out_size = kOutSizes[(in.flags >> 2) & 3];

  check_coding_for(in.payload);
  const std::string body = round_trip ? encode(in.payload, in.flags) : in.payload;
  const Outcome whole = decode(coding, {body}, out_size);
  const Outcome split = decode(coding, weft_fuzz::cut(body, in.cuts), out_size);

  WEFT_FUZZ_CHECK(whole.output.size() <= kLimit + 1 && split.output.size() <= kLimit + 1,
                  "never more than one byte past the limit");
  WEFT_FUZZ_CHECK(whole.end == split.end, "the same ending fed whole and in pieces");
  if (whole.end == End::kError) {
    const std::size_t common = std::min(whole.output.size(), split.output.size());
    WEFT_FUZZ_CHECK(whole.output.compare(0, common, split.output, 0, common) == 0,
                    "failed runs agree on the bytes they produced");
  } else {
    WEFT_FUZZ_CHECK(whole.output == split.output, "the same bytes fed whole and in pieces");
  }
  if (round_trip) {
    WEFT_FUZZ_CHECK(whole.end == End::kComplete, "a zlib-compressed body decodes");
    WEFT_FUZZ_CHECK(whole.output == in.payload, "decoding gives back what was compressed");
  }
  return 0;
}
