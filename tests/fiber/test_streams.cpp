// Tests of Stream's read half (asyncio's StreamReader) on socket pairs: read,
// read_all, read_exactly, read_until, readline, EOF, limits, and bytes
// arriving in pieces. Ported from CPython's Lib/test/test_asyncio/
// test_streams.py (StreamTests), with the data written by a peer socket
// instead of feed_data(). Every test checks that no fd leaks.
#include "weft/fiber/streams.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "tests/support/socket_helpers.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/tasks.hpp"

namespace {

using std::chrono::milliseconds;
using weft_test::write_all;

using StreamRead = weft_test::FdLeakCheck;

// Runs body(stream, peer_fd) in a task: `stream` is one end of a socket
// pair, `peer_fd` the other, blocking, for the test to write to (small
// writes never block: the pair buffers far more).
template <class F>
void with_pair(F body, weft::StreamOptions options = weft::StreamOptions()) {
  weft::run([&] {
    std::pair<int, int> fds = weft_test::socket_pair();
    weft::Stream stream = weft::Stream::from_socket(fds.first, options);
    body(stream, fds.second);
    ::close(fds.second);
  });
}

// Writes `pieces` one by one, each in its own loop iteration, from a task.
weft::Task<void> write_pieces(int fd, std::vector<std::string> pieces) {
  return weft::create_task([fd, pieces] {
    for (const std::string& piece : pieces) {
      write_all(fd, piece);
      weft::sleep(milliseconds(1));
    }
  });
}

TEST_F(StreamRead, ReadReturnsWhatIsAvailableUpToN) {  // test_read
  with_pair([](weft::Stream& s, int peer) {
    write_all(peer, "line1\nline2\n");
    EXPECT_EQ("line1\nline2\n", s.read(30));
    write_all(peer, "0123456789");
    EXPECT_EQ("0123", s.read(4));
    EXPECT_EQ(6u, s.buffered());
    char out[16];
    EXPECT_EQ(6u, s.read(out, sizeof out));
    EXPECT_EQ("456789", std::string(out, 6));
  });
}

TEST_F(StreamRead, ReadZeroReturnsNothingAndKeepsTheBuffer) {  // test_read_zero
  with_pair([](weft::Stream& s, int peer) {
    write_all(peer, "data");
    EXPECT_EQ("da", s.read(2));
    EXPECT_EQ("", s.read(0));
    EXPECT_EQ(2u, s.buffered());
  });
}

TEST_F(StreamRead, ReadWaitsForData) {  // test_read_a_line / test_read_line_breaks
  with_pair([](weft::Stream& s, int peer) {
    auto writer = write_pieces(peer, {"line1", "line2"});
    EXPECT_EQ("line1", s.read(5));
    EXPECT_EQ("line2", s.read(5));
    writer.get();
  });
}

TEST_F(StreamRead, ReadAtEofReturnsEmpty) {  // test_read_eof
  with_pair([](weft::Stream& s, int peer) {
    ::shutdown(peer, SHUT_WR);
    EXPECT_EQ("", s.read(1024));
    EXPECT_TRUE(s.at_eof());
    char c;
    EXPECT_EQ(0u, s.read(&c, 1));
  });
}

TEST_F(StreamRead, ReadAllReadsUntilEof) {  // test_read_until_eof
  with_pair([](weft::Stream& s, int peer) {
    auto writer = weft::create_task([peer] {
      write_all(peer, "chunk1\n");
      weft::sleep(milliseconds(2));
      write_all(peer, "chunk2");
      weft::sleep(milliseconds(2));
      ::shutdown(peer, SHUT_WR);
    });
    EXPECT_EQ("chunk1\nchunk2", s.read_all());
    EXPECT_TRUE(s.at_eof());
    writer.get();
  });
}

TEST_F(StreamRead, AtEofOnlyOnceEverythingIsRead) {  // test_at_eof
  with_pair([](weft::Stream& s, int peer) {
    EXPECT_FALSE(s.at_eof());
    write_all(peer, "some data\n");
    ::shutdown(peer, SHUT_WR);
    EXPECT_FALSE(s.at_eof());
    EXPECT_EQ("some data\n", s.readline());
    EXPECT_FALSE(s.at_eof());  // EOF not seen yet: asyncio's feed_eof() came later too
    EXPECT_EQ("", s.readline());
    EXPECT_TRUE(s.at_eof());
  });
}

TEST_F(StreamRead, ReadlineAssemblesALineFromPieces) {  // test_readline
  with_pair([](weft::Stream& s, int peer) {
    auto writer = write_pieces(peer, {"chunk1 ", "chunk2 ", "chunk3 \n", " chunk4"});
    EXPECT_EQ("chunk1 chunk2 chunk3 \n", s.readline());
    writer.get();
    EXPECT_EQ(" chunk4", s.read(100));
  });
}

TEST_F(StreamRead, ReadlineByteByByte) {
  with_pair([](weft::Stream& s, int peer) {
    const std::string text = "one line\nsecond\n";
    std::vector<std::string> bytes;
    for (char c : text) bytes.push_back(std::string(1, c));
    auto writer = write_pieces(peer, bytes);
    EXPECT_EQ("one line\n", s.readline());
    EXPECT_EQ("second\n", s.readline());
    writer.get();
  });
}

TEST_F(StreamRead, ReadlineReturnsThePartialLineAtEof) {  // test_readline_eof
  with_pair([](weft::Stream& s, int peer) {
    write_all(peer, "some data");
    ::shutdown(peer, SHUT_WR);
    EXPECT_EQ("some data", s.readline());
    EXPECT_EQ("", s.readline());  // test_readline_empty_eof
  });
}

TEST_F(StreamRead, ReadlineLeavesTheRestBuffered) {  // test_readline_read_byte_count
  with_pair([](weft::Stream& s, int peer) {
    write_all(peer, "line1\nline2\nline3\n");
    EXPECT_EQ("line1\n", s.readline());
    EXPECT_EQ("line2\nl", s.read(7));
    EXPECT_EQ("ine3\n", s.readline());
  });
}

TEST_F(StreamRead, ReadlineLimitDiscardsTheOverlongLine) {  // test_readline_limit
  weft::StreamOptions options;
  options.limit = 7;
  with_pair(
      [](weft::Stream& s, int peer) {
        // Found beyond the limit: the line and its newline go.
        write_all(peer, "1234567890\nchunk\n");
        try {
          s.readline();
          ADD_FAILURE() << "no LimitOverrunError";
        } catch (const weft::LimitOverrunError& e) {
          EXPECT_EQ(10u, e.consumed());
        }
        EXPECT_EQ("chunk\n", s.readline());
        // Not found within the limit: everything buffered goes.
        write_all(peer, "0123456789abcdef");
        EXPECT_THROW(s.readline(), weft::LimitOverrunError);
        EXPECT_EQ(0u, s.buffered());
        write_all(peer, "ok\n");
        EXPECT_EQ("ok\n", s.readline());
      },
      options);
}

TEST_F(StreamRead, ReadlineLimitCountsTheLineWithoutItsNewline) {  // test_readline_limit_with_existing_data
  weft::StreamOptions options;
  options.limit = 3;
  with_pair(
      [](weft::Stream& s, int peer) {
        write_all(peer, "li\ne\n");
        EXPECT_EQ("li\n", s.readline());
        EXPECT_EQ("e\n", s.readline());
        write_all(peer, "abc\n");  // exactly the limit: allowed
        EXPECT_EQ("abc\n", s.readline());
      },
      options);
}

TEST_F(StreamRead, ReadUntilSeparator) {  // test_readuntil_separator, _multi_chunks
  with_pair([](weft::Stream& s, int peer) {
    EXPECT_THROW(s.read_until(""), std::invalid_argument);
    write_all(peer, "lineAAA");
    EXPECT_EQ("lineAAA", s.read_until("AAA"));
    write_all(peer, "QWEaa");
    write_all(peer, "XYaa");
    write_all(peer, "a");
    EXPECT_EQ("QWEaaXYaaa", s.read_until("aaa"));
    EXPECT_EQ(0u, s.buffered());
  });
}

TEST_F(StreamRead, ReadUntilSeparatorSplitAcrossWrites) {  // test_readuntil_multi_chunks_1
  with_pair([](weft::Stream& s, int peer) {
    auto writer = write_pieces(peer, {"QWEaa", "XYa", "a", "aa", "rest"});
    EXPECT_EQ("QWEaaXYaaa", s.read_until("aaa"));
    writer.get();
    EXPECT_EQ("arest", s.read_exactly(5));
  });
}

TEST_F(StreamRead, ReadUntilAtEofThrowsIncompleteReadError) {  // test_readuntil_eof
  with_pair([](weft::Stream& s, int peer) {
    write_all(peer, "some dataAA");
    ::shutdown(peer, SHUT_WR);
    try {
      s.read_until("AAA");
      ADD_FAILURE() << "no IncompleteReadError";
    } catch (const weft::IncompleteReadError& e) {
      EXPECT_EQ("some dataAA", e.partial());
      EXPECT_EQ(weft::IncompleteReadError::kUndefined, e.expected());
      EXPECT_STREQ("11 bytes read on a total of undefined expected bytes", e.what());
    }
    EXPECT_EQ(0u, s.buffered());
  });
}

TEST_F(StreamRead, ReadUntilLimitLeavesTheDataBuffered) {  // test_readuntil_limit_found_sep
  // asyncio's reader is fed as data arrives, weft's pulls when a call needs
  // bytes: each case here has its data written whole before the call.
  weft::StreamOptions options;
  options.limit = 3;
  with_pair(
      [](weft::Stream& s, int peer) {
        write_all(peer, "some dataAA");
        try {
          s.read_until("AAA");
          ADD_FAILURE() << "no LimitOverrunError";
        } catch (const weft::LimitOverrunError& e) {
          EXPECT_EQ("Separator is not found, and chunk exceed the limit", std::string(e.what()));
          EXPECT_EQ(9u, e.consumed());
        }
        EXPECT_EQ(11u, s.buffered());
        EXPECT_EQ("some dataAA", s.read(100));
        write_all(peer, "some dataAAA");
        try {
          s.read_until("AAA");
          ADD_FAILURE() << "no LimitOverrunError";
        } catch (const weft::LimitOverrunError& e) {
          EXPECT_EQ("Separator is found, but chunk is longer than limit", std::string(e.what()));
          EXPECT_EQ(9u, e.consumed());
        }
        EXPECT_EQ("some dataAAA", s.read(100));
      },
      options);
}

TEST_F(StreamRead, ReadExactly) {  // test_readexactly, test_readexactly_zero_or_less
  with_pair([](weft::Stream& s, int peer) {
    EXPECT_EQ("", s.read_exactly(0));
    const std::string data = "chunk1\nchunk2\nchunk3\n";
    auto writer = write_pieces(peer, {data, data, data});
    EXPECT_EQ(data + data, s.read_exactly(2 * data.size()));
    char out[21];
    s.read_exactly(out, sizeof out);
    EXPECT_EQ(data, std::string(out, sizeof out));
    writer.get();
  });
}

TEST_F(StreamRead, ReadExactlyBeyondTheLimit) {  // test_readexactly_limit
  weft::StreamOptions options;
  options.limit = 3;
  with_pair(
      [](weft::Stream& s, int peer) {
        write_all(peer, "chunk");
        EXPECT_EQ("chunk", s.read_exactly(5));
      },
      options);
}

TEST_F(StreamRead, ReadExactlyAtEofCarriesThePartialBytes) {  // test_readexactly_eof
  with_pair([](weft::Stream& s, int peer) {
    auto writer = weft::create_task([peer] {
      write_all(peer, "chunk");
      weft::sleep(milliseconds(2));
      ::shutdown(peer, SHUT_WR);
    });
    try {
      s.read_exactly(10);
      ADD_FAILURE() << "no IncompleteReadError";
    } catch (const weft::IncompleteReadError& e) {
      EXPECT_EQ("chunk", e.partial());
      EXPECT_EQ(10u, e.expected());
      EXPECT_STREQ("5 bytes read on a total of 10 expected bytes", e.what());
    }
    EXPECT_EQ(0u, s.buffered());
    writer.get();
  });
}

TEST_F(StreamRead, CancelledReadExactlyKeepsTheBytes) {
  with_pair([](weft::Stream& s, int peer) {
    write_all(peer, "ab");
    EXPECT_EQ("a", s.read(1));  // "b" stays buffered
    auto reader = weft::create_task([&s] { return s.read_exactly(10); });
    weft::sleep(milliseconds(2));
    write_all(peer, "cdef");
    weft::sleep(milliseconds(2));
    reader.cancel();
    EXPECT_THROW(reader.get(), weft::CancelledError);
    EXPECT_EQ(5u, s.buffered());
    write_all(peer, "ghijk");
    EXPECT_EQ("bcdefghijk", s.read_exactly(10));
  });
}

TEST_F(StreamRead, CancelledReadlineKeepsTheBytes) {
  with_pair([](weft::Stream& s, int peer) {
    auto reader = weft::create_task([&s] { return s.readline(); });
    weft::sleep(milliseconds(2));
    write_all(peer, "partial ");
    weft::sleep(milliseconds(2));
    reader.cancel();
    EXPECT_THROW(reader.get(), weft::CancelledError);
    write_all(peer, "line\n");
    EXPECT_EQ("partial line\n", s.readline());
  });
}

TEST_F(StreamRead, SecondReaderIsRefused) {  // streams.py: "already waiting for incoming data"
  with_pair([](weft::Stream& s, int peer) {
    auto first = weft::create_task([&s] { return s.read(10); });
    weft::yield();
    EXPECT_THROW(s.read(10), weft::InvalidStateError);
    write_all(peer, "x");
    EXPECT_EQ("x", first.get());
  });
}

TEST_F(StreamRead, CloseWakesABlockedReaderWithEof) {  // connection_lost -> feed_eof
  with_pair([](weft::Stream& s, int peer) {
    write_all(peer, "left");
    auto reader = weft::create_task([&s] { return s.read_exactly(10); });
    weft::yield();
    s.close();
    try {
      reader.get();
      ADD_FAILURE() << "no IncompleteReadError";
    } catch (const weft::IncompleteReadError& e) {
      EXPECT_EQ("left", e.partial());
    }
    EXPECT_TRUE(s.at_eof());
    EXPECT_EQ("", s.read(10));
  });
}

TEST_F(StreamRead, ReadOutsideATaskIsRefused) {
  weft::Loop loop;
  std::pair<int, int> fds = weft_test::socket_pair();
  weft::Stream stream;
  weft::run_until_complete(loop, [&] { stream = weft::Stream::from_socket(fds.first); });
  EXPECT_THROW(stream.read(1), weft::InvalidStateError);
  EXPECT_THROW(weft::Stream().read(1), weft::InvalidStateError);
  stream = weft::Stream();
  loop.close();
  ::close(fds.second);
}

TEST_F(StreamRead, FromSocketRejectsWhatIsNotASocket) {
  weft::run([] {
    int pipe_fds[2];
    ASSERT_EQ(0, ::pipe(pipe_fds));
    EXPECT_THROW(weft::Stream::from_socket(pipe_fds[0]), weft::OSError);  // closes it
    ::close(pipe_fds[1]);
  });
}

}  // namespace
