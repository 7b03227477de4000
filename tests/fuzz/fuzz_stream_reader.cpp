// tests/fuzz/fuzz_stream_reader.cpp — libFuzzer target for the read half of
// weft::Stream (fiber/stream_reader.cpp): read, read_exactly, read_until and
// readline, in both their string and pointer forms, over a socket pair whose
// peer writes the data in pieces, with a small or large buffer limit.
//
// The payload (fuzz_input.hpp) is a program followed by the data:
//
//   [p] [p bytes of operations] [data ...]
//
// The data is written to the peer socket twice over two runs: once in one
// write, once in the pieces the input's header chooses (or one byte per
// write), a task yielding to the loop between writes so that the reader
// mostly receives one piece at a time; then the peer closes. The reader runs the
// operations, then readline() until EOF, then read_all(), and checks each
// result against a model of the stream: the data not yet returned. Every
// result must be exactly what asyncio's StreamReader would give for that
// data, whatever the split: a line is the next bytes through the first
// "\n"; a LimitOverrunError consumes nothing from read_until() and exactly
// its line (or the `consumed()` bytes buffered) from readline(); at EOF
// IncompleteReadError carries all that was left. So the readline() results
// concatenated are the data, and nothing is lost or duplicated.
//
// Operations, one byte each (byte % 6) and their arguments:
//   0 readline()          1 read_until(sep): a length byte (1-3), then sep
//   2 read(n): n byte     3 read_exactly(n): n byte (0-255)
//   4 read(char*, n)      5 read_exactly(char*, n)
// flags: bits 0-2  the stream's limit: 1, 2, 3, 8, 16, 64, 1024, 65536
//        bit 3     write the data one byte at a time
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "tests/fuzz/fuzz_input.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/streams.hpp"
#include "weft/fiber/tasks.hpp"

namespace {

// The reader's program and the bytes of the program it has not run yet.
class Program {
 public:
  explicit Program(std::string ops) : ops_(std::move(ops)) {}
  bool done() const { return at_ >= ops_.size(); }
  unsigned next() { return at_ < ops_.size() ? static_cast<unsigned char>(ops_[at_++]) : 0u; }
  std::string take(std::size_t n) {
    std::string s = ops_.substr(at_, n);
    at_ += s.size();
    return s;
  }

 private:
  std::string ops_;
  std::size_t at_ = 0;
};

// Runs the checks of one reader against the data it should see. `rest_` is
// the model: the data the stream has not returned yet.
class Reader {
 public:
  Reader(weft::Stream& stream, std::string data, std::size_t limit)
      : stream_(stream), rest_(std::move(data)), limit_(limit) {}

  void run_operation(Program& program) {
    switch (program.next() % 6) {
      case 0:
        readline();
        break;
      case 1: {
        const std::size_t length = 1 + program.next() % 3;
        std::string separator = program.take(length);
        if (separator.empty()) separator = "\n";
        read_until(separator);
        break;
      }
      case 2:
        read(1 + program.next(), false);
        break;
      case 3:
        read_exactly(program.next(), false);
        break;
      case 4:
        read(1 + program.next(), true);
        break;
      default:
        read_exactly(program.next(), true);
        break;
    }
  }

  // readline() to EOF: the lines are the data, in order.
  void readlines() {
    for (;;) {
      if (!readline()) return;
    }
  }

  void read_all() {
    const std::string all = stream_.read_all();
    WEFT_FUZZ_CHECK(all == rest_, "read_all() returns all the rest");
    rest_.clear();
    WEFT_FUZZ_CHECK(stream_.at_eof(), "at EOF after read_all()");
    WEFT_FUZZ_CHECK(stream_.buffered() == 0, "nothing buffered after read_all()");
  }

 private:
  // Returns false at EOF.
  bool readline() {
    const std::size_t newline = rest_.find('\n');
    try {
      const std::string line = stream_.readline();
      if (newline == std::string::npos) {
        WEFT_FUZZ_CHECK(rest_.size() <= limit_, "a last line within the limit");
        WEFT_FUZZ_CHECK(line == rest_, "readline() at EOF returns the partial line");
      } else {
        WEFT_FUZZ_CHECK(newline <= limit_, "a line within the limit");
        WEFT_FUZZ_CHECK(line == rest_.substr(0, newline + 1), "readline() returns the next line");
      }
      consume(line.size());
      return !line.empty();
    } catch (const weft::LimitOverrunError& e) {
      const std::size_t position = e.consumed();
      WEFT_FUZZ_CHECK(position > limit_, "LimitOverrunError only past the limit");
      if (found(e)) {
        WEFT_FUZZ_CHECK(position == newline, "readline() overrun: consumed() is the newline's offset");
        consume(position + 1);  // the line and its newline are dropped
      } else {
        // Everything buffered is dropped; consumed() says how much that was.
        WEFT_FUZZ_CHECK(position <= rest_.size(), "readline() overrun: no more than was sent");
        WEFT_FUZZ_CHECK(newline == std::string::npos || newline >= position,
                        "readline() overrun: no newline in what it drops");
        consume(position);
      }
      return true;
    }
  }

  void read_until(const std::string& separator) {
    const std::size_t found_at = rest_.find(separator);
    try {
      const std::string chunk = stream_.read_until(separator);
      WEFT_FUZZ_CHECK(found_at != std::string::npos && found_at <= limit_,
                      "read_until() succeeds only with the separator within the limit");
      WEFT_FUZZ_CHECK(chunk == rest_.substr(0, found_at + separator.size()),
                      "read_until() returns through the first separator");
      consume(chunk.size());
    } catch (const weft::LimitOverrunError& e) {
      // Nothing is consumed: the next read sees the same bytes.
      WEFT_FUZZ_CHECK(e.consumed() > limit_, "LimitOverrunError only past the limit");
      if (found(e)) {
        WEFT_FUZZ_CHECK(e.consumed() == found_at, "read_until() overrun: consumed() is the separator's offset");
      } else {
        WEFT_FUZZ_CHECK(found_at == std::string::npos || found_at + separator.size() > e.consumed(),
                        "read_until() overrun: the separator was not in the buffer");
      }
    } catch (const weft::IncompleteReadError& e) {
      WEFT_FUZZ_CHECK(found_at == std::string::npos, "IncompleteReadError only without the separator");
      WEFT_FUZZ_CHECK(e.partial() == rest_, "read_until() at EOF: partial() is all the rest");
      consume(rest_.size());
    }
  }

  void read(std::size_t n, bool into_memory) {
    std::string got;
    if (into_memory) {
      std::vector<char> out(n);
      got.assign(out.data(), stream_.read(out.data(), n));
    } else {
      got = stream_.read(n);
    }
    WEFT_FUZZ_CHECK(got.size() <= n, "read(n) returns at most n bytes");
    WEFT_FUZZ_CHECK(rest_.empty() == got.empty(), "read(n) returns nothing only at EOF");
    WEFT_FUZZ_CHECK(rest_.compare(0, got.size(), got) == 0, "read(n) returns the next bytes");
    consume(got.size());
  }

  void read_exactly(std::size_t n, bool into_memory) {
    try {
      std::string got;
      if (into_memory) {
        std::vector<char> out(n + 1);
        stream_.read_exactly(out.data(), n);
        got.assign(out.data(), n);
      } else {
        got = stream_.read_exactly(n);
      }
      WEFT_FUZZ_CHECK(rest_.size() >= n, "read_exactly(n) succeeds only with n bytes to read");
      WEFT_FUZZ_CHECK(got == rest_.substr(0, n), "read_exactly(n) returns the next n bytes");
      consume(n);
    } catch (const weft::IncompleteReadError& e) {
      WEFT_FUZZ_CHECK(rest_.size() < n, "IncompleteReadError only short of n bytes");
      WEFT_FUZZ_CHECK(e.expected() == n, "IncompleteReadError expected() is n");
      WEFT_FUZZ_CHECK(e.partial() == rest_, "read_exactly() at EOF: partial() is all the rest");
      consume(rest_.size());
    }
  }

  // asyncio's two messages tell the two overruns apart.
  static bool found(const weft::LimitOverrunError& e) {
    return std::strncmp(e.what(), "Separator is found", 18) == 0;
  }

  void consume(std::size_t n) { rest_.erase(0, n); }

  weft::Stream& stream_;
  std::string rest_;
  std::size_t limit_;
};

// One run: the peer writes `pieces` while the reader runs `ops` over them.
void run(const std::string& ops, const std::vector<std::string>& pieces, std::size_t limit) {
  std::string data;
  for (const std::string& piece : pieces) data += piece;
  weft::run([&] {
    int fds[2];
    WEFT_FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0, "socketpair");
    weft::StreamOptions options;
    options.limit = limit;
    weft::Stream stream = weft::Stream::from_socket(fds[0], options);
    const int peer = fds[1];  // blocking; the pair buffers far more than max_len
    auto writer = weft::create_task([&] {
      for (const std::string& piece : pieces) {
        WEFT_FUZZ_CHECK(::send(peer, piece.data(), piece.size(), MSG_NOSIGNAL) ==
                            static_cast<ssize_t>(piece.size()),
                        "the peer writes its piece");
        weft::yield();
      }
      ::close(peer);
    });
    Reader reader(stream, data, limit);
    Program program(ops);
    while (!program.done()) reader.run_operation(program);
    reader.readlines();
    reader.read_all();
    writer.get();
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* raw, std::size_t size) {
  const weft_fuzz::FuzzInput in = weft_fuzz::parse_input(raw, size);
  static const std::size_t kLimits[] = {1, 2, 3, 8, 16, 64, 1024, 64 * 1024};
  const std::size_t limit = kLimits[in.flags & 7];

  const std::size_t program_size = in.payload.empty() ? 0 : static_cast<unsigned char>(in.payload[0]);
  const std::string ops = in.payload.substr(in.payload.empty() ? 0 : 1, program_size);
  const std::string data = in.payload.substr(std::min(in.payload.size(), 1 + ops.size()));

  run(ops, {data}, limit);
  std::vector<std::string> pieces;
  if ((in.flags & 8) != 0) {
    for (char c : data) pieces.push_back(std::string(1, c));
  } else {
    pieces = weft_fuzz::cut(data, in.cuts);
  }
  run(ops, pieces, limit);
  return 0;
}
