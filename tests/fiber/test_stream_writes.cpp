// Tests of Stream's write half and its closing (asyncio's StreamWriter and
// the selector transport under it): write + drain with the water marks,
// write_eof, close flushing what is queued, abort, a reset peer (typed
// errors, no SIGPIPE), and one task reading while another writes. Every
// test checks that no fd leaks.
#include "weft/fiber/streams.hpp"

#include <sys/socket.h>

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "tests/support/socket_helpers.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/tasks.hpp"

namespace {

using std::chrono::milliseconds;

using StreamWrite = weft_test::FdLeakCheck;

// A pair of connected Streams over a Unix socket pair, with small kernel
// buffers so that a few hundred KiB fill them.
std::pair<weft::Stream, weft::Stream> stream_pair(weft::StreamOptions options = weft::StreamOptions()) {
  std::pair<int, int> fds = weft_test::socket_pair();
  const int small = 16 * 1024;
  ::setsockopt(fds.first, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  ::setsockopt(fds.second, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  return {weft::Stream::from_socket(fds.first, options), weft::Stream::from_socket(fds.second)};
}

// Bytes 0..n-1 of a recognisable pattern, so that order and loss show.
std::string pattern(std::size_t n, std::size_t offset = 0) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>('a' + (offset + i) % 26);
  return out;
}

TEST_F(StreamWrite, WriteSendsAtOnceWhenNothingIsQueued) {
  weft::run([] {
    auto streams = stream_pair();
    streams.first.write("hello");
    EXPECT_EQ(0u, streams.first.write_buffer_size());
    EXPECT_EQ("hello", streams.second.read(100));
  });
}

TEST_F(StreamWrite, DrainBlocksAboveHighWaterUntilLowWater) {
  weft::StreamOptions options;
  options.write_high_water = 64 * 1024;
  options.write_low_water = 16 * 1024;
  const std::size_t total = 1024 * 1024;
  std::size_t received = 0;
  int blocked_drains = 0;
  weft::run([&] {
    auto streams = stream_pair(options);
    weft::Stream& writer = streams.first;
    weft::Stream& reader = streams.second;
    auto consumer = weft::create_task([&] {
      std::string all;
      char buf[4096];
      for (;;) {
        const std::size_t n = reader.read(buf, sizeof buf);
        if (n == 0) break;
        all.append(buf, n);
        weft::sleep(milliseconds(1));  // a slow reader
      }
      received = all.size();
      EXPECT_TRUE(all == pattern(total)) << "bytes lost or reordered";
    });
    for (std::size_t sent = 0; sent < total; sent += 16 * 1024) {
      writer.write(pattern(16 * 1024, sent));
      EXPECT_LE(writer.write_buffer_size(), options.write_high_water + 16 * 1024);
      const bool above = writer.write_buffer_size() > options.write_high_water;
      writer.drain();
      if (above) {
        ++blocked_drains;
        // Woken at the low-water mark; only the loop's flush ran since.
        EXPECT_LE(writer.write_buffer_size(), options.write_low_water);
      }
    }
    writer.write_eof();
    consumer.get();
  });
  EXPECT_EQ(total, received);
  EXPECT_GT(blocked_drains, 0);
}

TEST_F(StreamWrite, WriteBufferLimitsApplyAtOnce) {
  weft::run([] {
    auto streams = stream_pair();
    weft::Stream& writer = streams.first;
    writer.write(pattern(512 * 1024));
    const std::size_t queued = writer.write_buffer_size();
    ASSERT_GT(queued, 0u);
    // Raising both marks above what is queued resumes the writer at once
    // (asyncio: a paused protocol resumes only once at the low mark).
    writer.set_write_buffer_limits(queued + 1, queued);
    writer.drain();
    EXPECT_EQ(queued, writer.write_buffer_size());
    std::string all = streams.second.read_exactly(512 * 1024);
    EXPECT_TRUE(all == pattern(512 * 1024));
  });
}

TEST_F(StreamWrite, CancelledDrainKeepsTheQueuedBytes) {
  weft::run([] {
    auto streams = stream_pair();
    weft::Stream& writer = streams.first;
    writer.write(pattern(512 * 1024));
    auto drainer = weft::create_task([&] { writer.drain(); });
    weft::sleep(milliseconds(5));
    drainer.cancel();
    EXPECT_THROW(drainer.get(), weft::CancelledError);
    EXPECT_TRUE(streams.second.read_exactly(512 * 1024) == pattern(512 * 1024));
  });
}

TEST_F(StreamWrite, ConcurrentReadAndWriteOnOneStream) {
  weft::run([] {
    auto streams = stream_pair();
    weft::Stream& a = streams.first;
    weft::Stream& b = streams.second;
    // b echoes lines back.
    auto echo = weft::create_task([&] {
      for (;;) {
        std::string line = b.readline();
        if (line.empty()) break;
        b.write(line);
        b.drain();
      }
      b.write_eof();
    });
    const int kLines = 200;
    auto reader = weft::create_task([&] {
      int got = 0;
      for (;;) {
        std::string line = a.readline();
        if (line.empty()) break;
        EXPECT_EQ("line " + std::to_string(got) + "\n", line);
        ++got;
      }
      return got;
    });
    auto writer = weft::create_task([&] {
      for (int i = 0; i < kLines; ++i) {
        a.write("line " + std::to_string(i) + "\n");
        a.drain();
        if (i % 10 == 0) weft::yield();
      }
      a.write_eof();
    });
    writer.get();
    EXPECT_EQ(kLines, reader.get());
    echo.get();
  });
}

TEST_F(StreamWrite, WriteEofShutsDownSendingOnly) {
  weft::run([] {
    auto streams = stream_pair();
    streams.first.write("last");
    streams.first.write_eof();
    streams.first.write_eof();  // idempotent
    EXPECT_THROW(streams.first.write("more"), weft::InvalidStateError);
    EXPECT_EQ("last", streams.second.read_all());
    streams.second.write("still reading");
    streams.second.close();
    EXPECT_EQ("still reading", streams.first.read_all());
  });
}

TEST_F(StreamWrite, CloseFlushesQueuedBytesThenCloses) {
  weft::run([] {
    auto streams = stream_pair();
    weft::Stream& writer = streams.first;
    writer.write(pattern(1024 * 1024));
    ASSERT_GT(writer.write_buffer_size(), 0u);
    writer.close();
    EXPECT_TRUE(writer.is_closing());
    EXPECT_THROW(writer.write("x"), weft::InvalidStateError);
    auto reader = weft::create_task([&] { return streams.second.read_all(); });
    writer.wait_closed();
    EXPECT_TRUE(reader.get() == pattern(1024 * 1024));
    EXPECT_THROW(writer.drain(), weft::ConnectionResetError);  // asyncio: "Connection lost"
  });
}

TEST_F(StreamWrite, DestructorFlushesQueuedBytesInTheBackground) {
  weft::run([] {
    auto streams = stream_pair();
    {
      weft::Stream writer = std::move(streams.first);
      writer.write(pattern(1024 * 1024));
    }  // closed here, bytes still queued
    EXPECT_TRUE(streams.second.read_all() == pattern(1024 * 1024));
  });
}

TEST_F(StreamWrite, AbortDropsQueuedBytes) {
  weft::run([] {
    auto streams = stream_pair();
    weft::Stream& writer = streams.first;
    writer.write(pattern(1024 * 1024));
    writer.abort();
    writer.wait_closed();  // aborting is not an error to report
    EXPECT_LT(streams.second.read_all().size(), 1024u * 1024u);
  });
}

// A TCP pair on 127.0.0.1, whose peer can reset the connection.
struct TcpPair {
  weft::Stream ours;
  int peer = -1;
};

TcpPair tcp_pair() {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  ::bind(listener, reinterpret_cast<sockaddr*>(&address), size);
  ::listen(listener, 1);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &size);
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ::connect(client, reinterpret_cast<sockaddr*>(&address), size);
  TcpPair pair;
  pair.peer = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ::close(listener);
  pair.ours = weft::Stream::from_socket(client);
  return pair;
}

// SO_LINGER {on, 0}: close() sends an RST instead of a FIN.
void reset_peer(int fd) {
  const linger abortive = {1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
  ::close(fd);
}

TEST_F(StreamWrite, PeerResetMakesReadThrowConnectionResetError) {
  weft::run([] {
    TcpPair pair = tcp_pair();
    reset_peer(pair.peer);
    try {
      pair.ours.read(100);
      ADD_FAILURE() << "no ConnectionResetError";
    } catch (const weft::ConnectionResetError& e) {
      EXPECT_EQ(ECONNRESET, e.err());
      EXPECT_EQ("127.0.0.1", e.host());
      EXPECT_NE(std::string::npos, std::string(e.what()).find("recv from 127.0.0.1:")) << e.what();
    }
    EXPECT_THROW(pair.ours.read(100), weft::ConnectionResetError);  // and stays so
  });
}

// SIGPIPE keeps its default disposition: a send without MSG_NOSIGNAL would
// kill the test process.
TEST_F(StreamWrite, PeerResetMakesWriteThrowWithoutSigpipe) {
  weft::run([] {
    TcpPair pair = tcp_pair();
    reset_peer(pair.peer);
    weft::sleep(milliseconds(10));  // let the RST arrive
    bool thrown = false;
    for (int i = 0; i < 100 && !thrown; ++i) {
      try {
        pair.ours.write(pattern(1024));
        pair.ours.drain();
        weft::sleep(milliseconds(1));
      } catch (const weft::ConnectionError& e) {
        thrown = true;
        EXPECT_TRUE(e.err() == ECONNRESET || e.err() == EPIPE) << e.what();
      }
    }
    EXPECT_TRUE(thrown);
    EXPECT_TRUE(pair.ours.is_closing());
    EXPECT_THROW(pair.ours.write("x"), weft::ConnectionError);  // every later write
  });
}

TEST_F(StreamWrite, ResetDuringCloseFlushIsThrownByWaitClosed) {
  weft::run([] {
    TcpPair pair = tcp_pair();
    pair.ours.write(pattern(8 * 1024 * 1024));
    ASSERT_GT(pair.ours.write_buffer_size(), 0u);
    pair.ours.close();
    reset_peer(pair.peer);
    try {
      pair.ours.wait_closed();
      ADD_FAILURE() << "no ConnectionError";
    } catch (const weft::ConnectionError& e) {
      EXPECT_NE(std::string::npos, std::string(e.what()).find("unsent bytes dropped")) << e.what();
    }
  });
}

TEST_F(StreamWrite, ResetAfterTheHandleIsGoneIsReportedToTheLoop) {
  std::vector<std::string> reports;
  weft::run([&] {
    weft::get_running_loop().set_exception_handler(
        [&](weft::Loop&, const weft::ExceptionContext& context) { reports.push_back(context.message); });
    TcpPair pair = tcp_pair();
    {
      weft::Stream dropped = std::move(pair.ours);
      dropped.write(pattern(8 * 1024 * 1024));
    }
    reset_peer(pair.peer);
    for (int i = 0; i < 200 && reports.empty(); ++i) weft::sleep(milliseconds(5));
  });
  ASSERT_EQ(1u, reports.size());
  EXPECT_NE(std::string::npos, reports[0].find("unsent bytes dropped")) << reports[0];
}

TEST_F(StreamWrite, NamesOfBothEnds) {
  weft::run([] {
    TcpPair pair = tcp_pair();
    EXPECT_EQ(weft::AddressFamily::kIPv4, pair.ours.peername().family());
    EXPECT_EQ("127.0.0.1", pair.ours.peername().host());
    EXPECT_NE(0, pair.ours.peername().port());
    EXPECT_EQ("127.0.0.1", pair.ours.sockname().host());
    EXPECT_NE(pair.ours.peername().port(), pair.ours.sockname().port());
    ::close(pair.peer);
  });
}

}  // namespace
