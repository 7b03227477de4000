// tests/fuzz/fuzz_input.hpp — what every fuzz target shares: the layout of a
// fuzz input, the pieces it is cut into, and the invariant check.
//
// A fuzz input is a small header, then the payload the target parses:
//
//   [flags] [k] [len_1] ... [len_k] [payload ...]
//
//   flags   one byte, read by each target in its own way (modes, limits)
//   k       the number of cuts, 0..kMaxCuts (the byte modulo kMaxCuts + 1)
//   len_i   the length of piece i (0..255; a 0 makes an empty piece)
//
// The payload is fed once whole, and once as pieces of len_1, ..., len_k
// bytes followed by whatever is left; a piece that would run past the end
// is cut short. Split points therefore come from the input itself, so a run
// is reproducible from the input file alone, and libFuzzer mutates the
// split points as it mutates anything else. tools/fuzz-corpus.py writes
// seeds in this layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace weft_fuzz {

constexpr std::size_t kMaxCuts = 15;

struct FuzzInput {
  unsigned flags = 0;
  std::vector<std::size_t> cuts;  // piece lengths as the header gives them
  std::string payload;
};

// Splits raw libFuzzer bytes into header and payload. A truncated header
// reads as zeros: every byte string is a valid input.
inline FuzzInput parse_input(const std::uint8_t* data, std::size_t size) {
  FuzzInput in;
  std::size_t at = 0;
  auto next = [&]() -> unsigned { return at < size ? data[at++] : 0u; };
  in.flags = next();
  const std::size_t k = next() % (kMaxCuts + 1);
  for (std::size_t i = 0; i < k; ++i) in.cuts.push_back(next());
  if (at < size) in.payload.assign(reinterpret_cast<const char*>(data) + at, size - at);
  return in;
}

// The payload cut as the header says: pieces of the given lengths (each cut
// short at the end of the data), then the rest if any. Concatenated, the
// pieces are always `data`.
inline std::vector<std::string> cut(const std::string& data, const std::vector<std::size_t>& lengths) {
  std::vector<std::string> pieces;
  std::size_t at = 0;
  for (std::size_t length : lengths) {
    const std::size_t n = length < data.size() - at ? length : data.size() - at;
    pieces.push_back(data.substr(at, n));
    at += n;
  }
  if (at < data.size()) pieces.push_back(data.substr(at));
  return pieces;
}

}  // namespace weft_fuzz

// The invariant check: a broken invariant is a crash to libFuzzer, which
// then saves the input. (Not assert(): release builds define NDEBUG.)
#define WEFT_FUZZ_CHECK(condition, what)                                                        \
  do {                                                                                          \
    if (!(condition)) {                                                                         \
      std::fprintf(stderr, "%s:%d: invariant broken: %s (%s)\n", __FILE__, __LINE__, (what), \
                   #condition);                                                                 \
      std::abort();                                                                             \
    }                                                                                           \
  } while (false)
