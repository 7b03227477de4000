// Tests of wait_readable() / wait_writable() on the user's own fds (pipes
// here): readiness, timeouts, cancellation, and the fd left unregistered so
// that the caller may close it at once.
#include "weft/fiber/fd_waits.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/socket_helpers.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/tasks.hpp"

namespace {

using std::chrono::milliseconds;

using FdWaits = weft_test::FdLeakCheck;

struct Pipe {
  int read_end = -1;
  int write_end = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
      read_end = fds[0];
      write_end = fds[1];
    }
  }
  ~Pipe() {
    ::close(read_end);
    ::close(write_end);
  }
};

TEST_F(FdWaits, ReadableOnceDataArrives) {
  weft::run([] {
    Pipe pipe;
    auto writer = weft::create_task([&] {
      weft::sleep(milliseconds(10));
      EXPECT_EQ(1, ::write(pipe.write_end, "x", 1));
    });
    EXPECT_TRUE(weft::wait_readable(pipe.read_end));
    char c = 0;
    EXPECT_EQ(1, ::read(pipe.read_end, &c, 1));
    EXPECT_EQ('x', c);
    writer.get();
  });
}

TEST_F(FdWaits, AlreadyReadyReturnsWithoutSuspending) {
  weft::run([] {
    Pipe pipe;
    EXPECT_EQ(1, ::write(pipe.write_end, "x", 1));
    int others = 0;
    auto ticker = weft::create_task([&] { ++others; });
    EXPECT_TRUE(weft::wait_readable(pipe.read_end, milliseconds(100)));
    EXPECT_TRUE(weft::wait_writable(pipe.write_end));
    EXPECT_EQ(0, others);
    ticker.get();
  });
}

TEST_F(FdWaits, TimeoutReturnsFalse) {
  weft::run([] {
    Pipe pipe;
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(weft::wait_readable(pipe.read_end, milliseconds(30)));
    EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(30));
    EXPECT_FALSE(weft::wait_readable(pipe.read_end, milliseconds(0)));  // a check only
    EXPECT_FALSE(weft::wait_readable(pipe.read_end, milliseconds(-5)));
  });
}

TEST_F(FdWaits, WritableOnceTheReaderMakesRoom) {
  weft::run([] {
    Pipe pipe;
    std::vector<char> block(65536, 'z');
    while (::write(pipe.write_end, block.data(), block.size()) > 0) {
    }
    EXPECT_FALSE(weft::wait_writable(pipe.write_end, milliseconds(10)));
    auto drainer = weft::create_task([&] {
      weft::sleep(milliseconds(10));
      while (::read(pipe.read_end, block.data(), block.size()) > 0) {
      }
    });
    EXPECT_TRUE(weft::wait_writable(pipe.write_end, std::chrono::seconds(10)));
    drainer.get();
  });
}

TEST_F(FdWaits, CancelledWaitThrowsAndUnregisters) {
  weft::run([] {
    Pipe pipe;
    auto waiter = weft::create_task([&] { return weft::wait_readable(pipe.read_end); });
    weft::yield();
    waiter.cancel();
    EXPECT_THROW(waiter.get(), weft::CancelledError);
    // Unregistered: a level-triggered reader may take the fd over.
    int calls = 0;
    weft::get_running_loop().add_reader(pipe.read_end, [&] { ++calls; });
    EXPECT_EQ(1, ::write(pipe.write_end, "x", 1));
    weft::sleep(milliseconds(5));
    EXPECT_GT(calls, 0);
    weft::get_running_loop().remove_reader(pipe.read_end);
  });
}

TEST_F(FdWaits, ReadAndWriteWaitsOnOneFdFromTwoTasks) {
  weft::run([] {
    std::pair<int, int> fds = weft_test::socket_pair();
    ::fcntl(fds.first, F_SETFL, O_NONBLOCK);
    // One task waits to read while another waits to write: the second
    // wait to finish must not cancel the first.
    auto reader = weft::create_task([&] { return weft::wait_readable(fds.first, std::chrono::seconds(10)); });
    weft::yield();
    EXPECT_TRUE(weft::wait_writable(fds.first));
    weft_test::write_all(fds.second, "x");
    EXPECT_TRUE(reader.get());
    ::close(fds.first);
    ::close(fds.second);
  });
}

TEST_F(FdWaits, SameDirectionTwiceIsRefused) {
  weft::run([] {
    Pipe pipe;
    auto first = weft::create_task([&] { return weft::wait_readable(pipe.read_end, milliseconds(50)); });
    weft::yield();
    EXPECT_THROW(weft::wait_readable(pipe.read_end), weft::InvalidStateError);
    EXPECT_FALSE(first.get());
  });
}

TEST_F(FdWaits, ClosedFdIsAnError) {
  weft::run([] {
    int fds[2];
    ASSERT_EQ(0, ::pipe(fds));
    ::close(fds[0]);
    ::close(fds[1]);
    EXPECT_THROW(weft::wait_readable(fds[0]), weft::OSError);
  });
}

TEST_F(FdWaits, OutsideATaskIsRefused) {
  EXPECT_THROW(weft::wait_readable(0), weft::InvalidStateError);
}

}  // namespace
