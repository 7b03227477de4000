// Tests of the loop's readiness callbacks (add_reader / add_writer) on pipes
// and socketpairs, with asyncio's level-triggered meaning.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "reactor/loop_impl.hpp"
#include "tests/support/loop_helpers.hpp"
#include "weft/reactor/loop.hpp"

namespace {

using weft_test::run_until;

struct Pipe {
  int r = -1;
  int w = -1;
  Pipe() {
    int fds[2];
    EXPECT_EQ(0, pipe2(fds, O_NONBLOCK | O_CLOEXEC));
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    if (r >= 0) ::close(r);
    if (w >= 0) ::close(w);
  }
};

struct SocketPair {
  int a = -1;
  int b = -1;
  SocketPair() {
    int fds[2];
    EXPECT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds));
    a = fds[0];
    b = fds[1];
  }
  ~SocketPair() {
    if (a >= 0) ::close(a);
    if (b >= 0) ::close(b);
  }
};

void write_all(int fd, const std::string& s) {
  ASSERT_EQ(static_cast<ssize_t>(s.size()), ::write(fd, s.data(), s.size()));
}

TEST(LoopIo, ReaderRunsWhenDataArrives) {
  weft::Loop loop;
  Pipe p;
  std::string got;
  loop.add_reader(p.r, [&] {
    char buf[64];
    const ssize_t n = ::read(p.r, buf, sizeof buf);
    if (n > 0) got.append(buf, static_cast<std::size_t>(n));
  });
  loop.call_later(std::chrono::milliseconds(5), [&] { write_all(p.w, "hello"); });
  ASSERT_TRUE(run_until(loop, [&] { return got == "hello"; }));
  EXPECT_TRUE(loop.remove_reader(p.r));
  EXPECT_FALSE(loop.remove_reader(p.r));
  EXPECT_EQ(0u, loop.impl().registered_fd_count());
}

TEST(LoopIo, ReaderOnAlreadyReadableFdRuns) {
  weft::Loop loop;
  Pipe p;
  write_all(p.w, "x");
  int calls = 0;
  loop.add_reader(p.r, [&] {
    char c;
    ASSERT_EQ(1, ::read(p.r, &c, 1));
    ++calls;
  });
  ASSERT_TRUE(run_until(loop, [&] { return calls == 1; }));
  loop.remove_reader(p.r);
}

TEST(LoopIo, ReaderThatDoesNotDrainIsCalledAgainNextIteration) {
  weft::Loop loop;
  Pipe p;
  write_all(p.w, "abc");
  std::string got;
  int calls = 0;
  loop.add_reader(p.r, [&] {
    char c;  // one byte per call: level-triggered means we come back
    if (::read(p.r, &c, 1) == 1) got.push_back(c);
    ++calls;
  });
  ASSERT_TRUE(run_until(loop, [&] { return got == "abc"; }));
  EXPECT_EQ(3, calls);
  // Drained: no further calls, however many iterations pass.
  for (int i = 0; i < 5; ++i) loop.run_once(false);
  EXPECT_EQ(3, calls);
  loop.remove_reader(p.r);
}

TEST(LoopIo, SecondAddReaderReplacesTheFirst) {
  weft::Loop loop;
  Pipe p;
  int first = 0;
  int second = 0;
  loop.add_reader(p.r, [&] { ++first; });
  loop.add_reader(p.r, [&] {
    char c;
    (void)::read(p.r, &c, 1);
    ++second;
  });
  write_all(p.w, "x");
  ASSERT_TRUE(run_until(loop, [&] { return second == 1; }));
  EXPECT_EQ(0, first);
  loop.remove_reader(p.r);
}

TEST(LoopIo, WriterRunsWhileWritable) {
  weft::Loop loop;
  SocketPair s;
  int calls = 0;
  loop.add_writer(s.a, [&] {
    if (++calls == 3) loop.remove_writer(s.a);
  });
  ASSERT_TRUE(run_until(loop, [&] { return calls == 3; }));
  for (int i = 0; i < 3; ++i) loop.run_once(false);
  EXPECT_EQ(3, calls);
}

TEST(LoopIo, WriterWaitsForSpaceAfterFillingTheBuffer) {
  weft::Loop loop;
  SocketPair s;
  std::string chunk(65536, 'z');
  while (::write(s.a, chunk.data(), chunk.size()) > 0) {
  }
  ASSERT_EQ(EAGAIN, errno);
  bool writable = false;
  loop.add_writer(s.a, [&] {
    writable = true;
    loop.remove_writer(s.a);
  });
  for (int i = 0; i < 3; ++i) loop.run_once(false);
  EXPECT_FALSE(writable);
  // Drain the peer: space appears and the writer runs.
  char buf[65536];
  while (::read(s.b, buf, sizeof buf) > 0) {
  }
  ASSERT_TRUE(run_until(loop, [&] { return writable; }));
}

TEST(LoopIo, PeerCloseMakesTheReaderRunAndReadSeesEof) {
  weft::Loop loop;
  SocketPair s;
  bool eof = false;
  loop.add_reader(s.a, [&] {
    char c;
    if (::read(s.a, &c, 1) == 0) {
      eof = true;
      loop.remove_reader(s.a);
    }
  });
  ::close(s.b);
  s.b = -1;
  ASSERT_TRUE(run_until(loop, [&] { return eof; }));
}

TEST(LoopIo, WriterSeesPeerClose) {
  weft::Loop loop;
  SocketPair s;
  ::close(s.b);
  s.b = -1;
  int err = 0;
  loop.add_writer(s.a, [&] {
    if (::send(s.a, "x", 1, MSG_NOSIGNAL) < 0) err = errno;
    loop.remove_writer(s.a);
  });
  ASSERT_TRUE(run_until(loop, [&] { return err != 0; }));
  EXPECT_EQ(EPIPE, err);
}

TEST(LoopIo, ReaderAndWriterOnTheSameFd) {
  weft::Loop loop;
  SocketPair s;
  int reads = 0;
  int writes = 0;
  loop.add_reader(s.a, [&] {
    char buf[16];
    if (::read(s.a, buf, sizeof buf) > 0) ++reads;
  });
  loop.add_writer(s.a, [&] {
    ++writes;
    loop.remove_writer(s.a);
  });
  write_all(s.b, "ping");
  ASSERT_TRUE(run_until(loop, [&] { return reads == 1 && writes == 1; }));
  EXPECT_EQ(1u, loop.impl().registered_fd_count());
  loop.remove_reader(s.a);
  EXPECT_EQ(0u, loop.impl().registered_fd_count());
}

TEST(LoopIo, CallbackRemovingAnotherFdsReaderInTheSameBatch) {
  weft::Loop loop;
  Pipe p1;
  Pipe p2;
  int calls1 = 0;
  int calls2 = 0;
  loop.add_reader(p1.r, [&] {
    ++calls1;
    loop.remove_reader(p1.r);
    loop.remove_reader(p2.r);
  });
  loop.add_reader(p2.r, [&] {
    ++calls2;
    loop.remove_reader(p1.r);
    loop.remove_reader(p2.r);
  });
  write_all(p1.w, "x");
  write_all(p2.w, "y");
  ASSERT_TRUE(run_until(loop, [&] { return calls1 + calls2 >= 1; }));
  for (int i = 0; i < 3; ++i) loop.run_once(false);
  EXPECT_EQ(1, calls1 + calls2);  // whichever ran first removed the other
}

TEST(LoopIo, FdClosedAndReusedWithoutRemoveDoesNotConfuseTheLoop) {
  weft::Loop loop;
  int stale = 0;
  int fresh = 0;
  {
    Pipe p;
    loop.add_reader(p.r, [&] { ++stale; });
    loop.remove_reader(p.r);
  }
  Pipe q;  // likely the same fd numbers
  loop.add_reader(q.r, [&] {
    char c;
    (void)::read(q.r, &c, 1);
    ++fresh;
  });
  write_all(q.w, "x");
  ASSERT_TRUE(run_until(loop, [&] { return fresh == 1; }));
  EXPECT_EQ(0, stale);
  loop.remove_reader(q.r);
}

TEST(LoopIo, InvalidFdsAreClearErrors) {
  weft::Loop loop;
  EXPECT_THROW(loop.add_reader(-1, [] {}), std::invalid_argument);
  // A closed fd: EBADF, named in the message.
  Pipe p;
  const int closed = p.r;
  ::close(p.r);
  p.r = -1;
  try {
    loop.add_reader(closed, [] {});
    FAIL() << "no error for a closed fd";
  } catch (const weft::OSError& e) {
    EXPECT_EQ(EBADF, e.err());
    EXPECT_NE(std::string::npos, std::string(e.what()).find("fd " + std::to_string(closed)));
  }
  // A regular file cannot be polled: EPERM.
  char path[] = "/tmp/weft-test-XXXXXX";
  const int file = mkstemp(path);
  ASSERT_GE(file, 0);
  unlink(path);
  try {
    loop.add_reader(file, [] {});
    FAIL() << "no error for a regular file";
  } catch (const weft::OSError& e) {
    EXPECT_EQ(EPERM, e.err());
  }
  ::close(file);
  EXPECT_EQ(0u, loop.impl().registered_fd_count());
}

TEST(LoopIo, ThrowingReaderIsReportedAndStaysRegistered) {
  weft::Loop loop;
  Pipe p;
  int calls = 0;
  int reported = 0;
  loop.set_exception_handler([&](weft::Loop&, const weft::ExceptionContext&) { ++reported; });
  loop.add_reader(p.r, [&] {
    char c;
    (void)::read(p.r, &c, 1);
    ++calls;
    throw std::runtime_error("reader failed");
  });
  write_all(p.w, "ab");
  ASSERT_TRUE(run_until(loop, [&] { return calls == 1; }));
  write_all(p.w, "c");  // still registered: called again
  ASSERT_TRUE(run_until(loop, [&] { return calls >= 2; }));
  EXPECT_EQ(calls, reported);
  loop.remove_reader(p.r);
}

TEST(LoopIo, InternalWaitFiresOnceOnTheNextEdge) {
  weft::Loop loop;
  SocketPair s;
  auto& impl = loop.impl();
  impl.watch_fd(s.a, true);
  int woke = 0;
  impl.wait_io(s.a, weft::detail::IoDirection::kRead, [&] { ++woke; });
  EXPECT_THROW(impl.wait_io(s.a, weft::detail::IoDirection::kRead, [] {}), weft::InvalidStateError);
  EXPECT_THROW(loop.add_reader(s.a, [] {}), weft::InvalidStateError);  // owned by a "stream"
  write_all(s.b, "x");
  ASSERT_TRUE(run_until(loop, [&] { return woke == 1; }));
  write_all(s.b, "y");  // no waiter now: nothing runs
  for (int i = 0; i < 3; ++i) loop.run_once(false);
  EXPECT_EQ(1, woke);
  // A cancelled wait never fires.
  impl.wait_io(s.a, weft::detail::IoDirection::kWrite, [&] { ++woke; });
  EXPECT_TRUE(impl.cancel_io(s.a, weft::detail::IoDirection::kWrite));
  EXPECT_FALSE(impl.cancel_io(s.a, weft::detail::IoDirection::kWrite));
  for (int i = 0; i < 3; ++i) loop.run_once(false);
  EXPECT_EQ(1, woke);
  impl.unwatch_fd(s.a);
  EXPECT_EQ(0u, impl.registered_fd_count());
}

}  // namespace
