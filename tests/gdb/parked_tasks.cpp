// The program tests/gdb/check_weft_gdb.py runs under gdb: it parks a few
// named tasks, each on a different kind of wait, then calls
// weft_gdb_test_ready(), where gdb stops to list them (`weft tasks`) and
// unwind the one parked in park_on_queue() (`weft bt getter`).
//
// Run alone it just exits: weft::run() cancels the parked tasks.
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "weft/fiber/fd_waits.hpp"
#include "weft/fiber/queues.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/tasks.hpp"
#include "weft/fiber/waiting.hpp"

// Where gdb breaks, once every task is parked. Not static and not inlined,
// so that the symbol table names it in a build without debug information.
extern "C" __attribute__((noinline)) void weft_gdb_test_ready() { asm volatile(""); }

// The frame `weft bt getter` must show. The use of the value after get()
// keeps the call from becoming a tail call, which would leave no frame.
__attribute__((noinline)) int park_on_queue(weft::Queue<int>& queue) {
  const int item = queue.get();
  asm volatile("" : : "r"(item));
  return item + 1;
}

int main() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) != 0) {
    std::perror("socketpair");
    return 1;
  }
  weft::run([&] {
    weft::Queue<int> queue;
    auto getter = weft::create_task([&] { return park_on_queue(queue); }, weft::TaskOptions{"getter"});
    auto sleeper = weft::create_task([] { weft::sleep(std::chrono::seconds(300)); }, weft::TaskOptions{"sleeper"});
    auto reader = weft::create_task([&] { weft::wait_readable(fds[0]); }, weft::TaskOptions{"reader"});
    auto parent = weft::create_task([&] { return getter.get(); }, weft::TaskOptions{"parent"});
    auto gatherer = weft::create_task([&] { weft::gather(sleeper, reader); }, weft::TaskOptions{"gatherer"});
    weft::sleep(std::chrono::milliseconds(1));  // every task parks
    weft_gdb_test_ready();
  });
  close(fds[0]);
  close(fds[1]);
  return 0;
}
