// Tests of seeing the tasks and of debug mode (weft/fiber/debug.hpp):
// dump_tasks() names every task, its state and what it waits on, and draws
// the await tree; the dump on a signal; debug mode's slow-step and
// stack-depth warnings, the creation site of a task whose exception nobody
// retrieved, and the deadlock report. Debug mode is asyncio's
// (Lib/test/test_asyncio/test_base_events.py, test_debug_slow_callbacks).
#include "weft/fiber/debug.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "weft/fiber/fd_waits.hpp"
#include "weft/fiber/locks.hpp"
#include "weft/fiber/queues.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/tasks.hpp"
#include "weft/fiber/threads.hpp"
#include "weft/fiber/waiting.hpp"

namespace {

using std::chrono::milliseconds;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The line of the dump's table that starts with `name` (after the indent).
std::string row_of(const std::string& dump, const std::string& name) {
  std::istringstream lines(dump);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.compare(0, 2 + name.size() + 1, "  " + name + " ") == 0) return line;
  }
  return "";
}

// Collects what the loop's exception handler is given.
struct Reports {
  std::vector<std::string> messages;
  void install(weft::Loop& loop) {
    loop.set_exception_handler([this](weft::Loop&, const weft::ExceptionContext& c) { messages.push_back(c.message); });
  }
  std::string all() const {
    std::string text;
    for (const std::string& m : messages) text += m + "\n";
    return text;
  }
};

// --- dump_tasks -------------------------------------------------------------------

TEST(DumpTasks, NamesEveryTaskItsStateAndWhatItWaitsOn) {
  int fds[2];
  ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds));
  std::string dump, main_name;
  weft::run([&] {
    main_name = weft::current_task().get_name();
    weft::Queue<int> queue;
    weft::Event event;
    auto getter = weft::create_task([&] { return queue.get(); }, weft::TaskOptions{"getter"});
    auto sleeper = weft::create_task([] { weft::sleep(std::chrono::seconds(30)); }, weft::TaskOptions{"sleeper"});
    auto reader = weft::create_task([&] { weft::wait_readable(fds[0]); }, weft::TaskOptions{"reader"});
    auto waiter = weft::create_task([&] { event.wait(); }, weft::TaskOptions{"waiter"});
    auto parent = weft::create_task([&] { return getter.get(); }, weft::TaskOptions{"parent"});
    auto gatherer = weft::create_task([&] { weft::gather(sleeper, waiter); }, weft::TaskOptions{"gatherer"});
    auto fresh = weft::create_task([] {}, weft::TaskOptions{"fresh"});
    weft::sleep(milliseconds(1));  // let them all park (fresh ends)
    auto late = weft::create_task([] {}, weft::TaskOptions{"late"});
    std::ostringstream out;
    weft::dump_tasks(out);
    dump = out.str();
    queue.put_nowait(7);
    event.set();
    EXPECT_EQ(7, parent.get());
    sleeper.cancel();
    reader.cancel();
    EXPECT_THROW(gatherer.get(), weft::CancelledError);
    late.get();
  });
  close(fds[0]);
  close(fds[1]);

  // 7 live tasks: main, getter, sleeper, reader, waiter, parent, gatherer, late.
  EXPECT_TRUE(contains(dump, "weft: 8 tasks on loop 0x")) << dump;
  EXPECT_TRUE(contains(dump, "TASK")) << dump;
  const std::string getter = row_of(dump, "getter");
  EXPECT_TRUE(contains(getter, " parked ") && contains(getter, " s ") && contains(getter, "/256 KiB ") &&
              contains(getter, " queue get 0x")) << dump;
  const std::string sleeper = row_of(dump, "sleeper");
  EXPECT_TRUE(contains(sleeper, "sleep, due in 29.") || contains(sleeper, "sleep, due in 30.")) << dump;
  EXPECT_TRUE(contains(row_of(dump, "reader"), "fd " + std::to_string(fds[0]) + " readable")) << dump;
  EXPECT_TRUE(contains(row_of(dump, "waiter"), "event 0x")) << dump;
  EXPECT_TRUE(contains(row_of(dump, "parent"), "task 'getter'")) << dump;
  EXPECT_TRUE(contains(row_of(dump, "gatherer"), "gather of 2: task 'sleeper', task 'waiter'")) << dump;
  EXPECT_TRUE(contains(row_of(dump, main_name), " running ")) << dump;  // main, dumping
  const std::string late_row = row_of(dump, "late");
  EXPECT_TRUE(contains(late_row, " pending ") && late_row.size() > 3 && late_row.compare(late_row.size() - 3, 3, "  -") == 0)
      << "a task not started yet has no stack and waits on nothing:\n" << dump;
  EXPECT_EQ("", row_of(dump, "fresh")) << "a finished task is not listed:\n" << dump;

  // The await tree: parent over getter, gatherer over sleeper and waiter.
  EXPECT_TRUE(contains(dump, "await tree:\n")) << dump;
  EXPECT_TRUE(contains(dump, "  parent\n  └── getter\n")) << dump;
  EXPECT_TRUE(contains(dump, "  gatherer\n  ├── sleeper\n  └── waiter\n")) << dump;
}

TEST(DumpTasks, DrawsNestedAwaitsAsATree) {
  std::string dump;
  weft::run([&] {
    weft::Event never;
    auto leaf = weft::create_task([&] { never.wait(); }, weft::TaskOptions{"leaf"});
    auto middle = weft::create_task([&] { leaf.get(); }, weft::TaskOptions{"middle"});
    auto top = weft::create_task([&] { middle.get(); }, weft::TaskOptions{"top"});
    weft::sleep(milliseconds(1));
    std::ostringstream out;
    weft::dump_tasks(out);
    dump = out.str();
    top.cancel();  // passed down to middle, then leaf
    EXPECT_THROW(top.get(), weft::CancelledError);
  });
  EXPECT_TRUE(contains(dump, "  top\n  └── middle\n      └── leaf\n")) << dump;
}

TEST(DumpTasks, NeedsALoop) {
  std::ostringstream out;
  EXPECT_THROW(weft::dump_tasks(out), weft::InvalidStateError);
}

// A signal handler that dumps: the dump is written by the loop to stderr.
TEST(DumpTasks, OnSignalWritesTheDumpToStderr) {
  std::fflush(stderr);
  char path[] = "/tmp/weft-dump-XXXXXX";
  const int file = mkstemp(path);
  ASSERT_GE(file, 0);
  const int saved = dup(2);
  dup2(file, 2);
  weft::run([] {
    weft::dump_tasks_on_signal(weft::get_running_loop(), SIGUSR2);
    auto idle = weft::create_task([] { weft::sleep(std::chrono::seconds(30)); }, weft::TaskOptions{"idle-one"});
    weft::sleep(milliseconds(1));
    raise(SIGUSR2);
    weft::sleep(milliseconds(20));  // the loop runs the handler in between
    idle.cancel();
    weft::get_running_loop().remove_signal_handler(SIGUSR2);
  });
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(file);
  std::ifstream in(path);
  std::ostringstream contents;
  contents << in.rdbuf();
  const std::string text = contents.str();
  unlink(path);
  EXPECT_TRUE(contains(text, "weft: 2 tasks on loop")) << text;
  EXPECT_TRUE(contains(text, "idle-one")) << text;
}

// --- debug mode ---------------------------------------------------------------------

TEST(DebugMode, IsOffByDefaultAndOnWithRunOptionsOrWEFT_DEBUG) {
  unsetenv("WEFT_DEBUG");
  EXPECT_FALSE(weft::run([] { return weft::get_running_loop().get_debug(); }));
  EXPECT_TRUE(weft::run([] { return weft::get_running_loop().get_debug(); }, weft::RunOptions{true}));
  setenv("WEFT_DEBUG", "1", 1);
  EXPECT_TRUE(weft::run([] { return weft::get_running_loop().get_debug(); }));
  setenv("WEFT_DEBUG", "0", 1);
  EXPECT_FALSE(weft::run([] { return weft::get_running_loop().get_debug(); }));
  unsetenv("WEFT_DEBUG");
  weft::Loop loop;
  EXPECT_EQ(milliseconds(100), loop.slow_callback_duration());
}

TEST(DebugMode, WarnsWhenATaskHoldsTheLoopTooLong) {
  Reports reports;
  weft::run(
      [&] {
        weft::Loop& loop = weft::get_running_loop();
        reports.install(loop);
        loop.set_slow_callback_duration(milliseconds(20));
        auto slow = weft::create_task([] { std::this_thread::sleep_for(milliseconds(60)); },
                                      weft::TaskOptions{"slowpoke"});
        auto quick = weft::create_task([] {}, weft::TaskOptions{"quick"});
        slow.get();
        quick.get();
        weft::sleep(milliseconds(1));  // the warning is reported from a callback
      },
      weft::RunOptions{true});
  const std::string all = reports.all();
  EXPECT_TRUE(contains(all, "Executing task 'slowpoke' took 0.")) << all;
  EXPECT_FALSE(contains(all, "'quick'")) << all;
}

TEST(DebugMode, SlowStepsAreNotReportedOutsideDebugMode) {
  unsetenv("WEFT_DEBUG");
  Reports reports;
  weft::run([&] {
    weft::Loop& loop = weft::get_running_loop();
    reports.install(loop);
    loop.set_slow_callback_duration(milliseconds(1));
    weft::create_task([] { std::this_thread::sleep_for(milliseconds(20)); }).get();
    weft::sleep(milliseconds(1));
  });
  EXPECT_TRUE(reports.messages.empty()) << reports.all();
}

TEST(DebugMode, AnUnretrievedExceptionSaysWhereTheTaskWasCreated) {
  Reports reports;
  weft::run(
      [&] {
        reports.install(weft::get_running_loop());
        {
          auto failing = weft::create_task([]() -> int { throw std::runtime_error("nobody looks"); },
                                           weft::TaskOptions{"careless"});
          weft::sleep(milliseconds(1));  // it fails; the handle is dropped unread
        }
        weft::sleep(milliseconds(1));
      },
      weft::RunOptions{true});
  const std::string all = reports.all();
  EXPECT_TRUE(contains(all, "Task exception was never retrieved (task 'careless')")) << all;
  EXPECT_TRUE(contains(all, "task 'careless' was created by task 'Task-")) << all;
  EXPECT_TRUE(contains(all, "    #0 ")) << all;
}

// Touches about `Bytes` of stack below the caller: one frame that large,
// a byte in every kilobyte. (A recursion would not do: clang turns
// `x + f(n - 1)` into a loop that reuses one frame.)
template <std::size_t Bytes>
__attribute__((noinline)) int touch_stack() {
  volatile char frame[Bytes];
  for (std::size_t i = 0; i < Bytes; i += 1024) frame[i] = 1;
  return frame[0];
}

TEST(DebugMode, WarnsWhenAStackNearsItsGuard) {
  Reports reports;
  weft::run(
      [&] {
        reports.install(weft::get_running_loop());
        weft::TaskOptions deep{"deep-diver", 64 * 1024};
        weft::create_task([] { touch_stack<56 * 1024>(); weft::yield(); }, deep).get();
        weft::TaskOptions shallow{"shallow", 64 * 1024};
        weft::create_task([] { touch_stack<8 * 1024>(); weft::yield(); }, shallow).get();
        weft::sleep(milliseconds(1));
      },
      weft::RunOptions{true});
  const std::string all = reports.all();
  EXPECT_TRUE(contains(all, "task 'deep-diver' has used")) << all;
  EXPECT_TRUE(contains(all, "KiB stack, within a quarter of its guard")) << all;
  EXPECT_FALSE(contains(all, "'shallow'")) << all;
}

// In debug mode a stack goes back to the pool without the pages its task
// touched, so the next task's high-water mark is its own.
TEST(DebugMode, AReusedStackStartsClean) {
  std::string dump;
  weft::run(
      [&] {
        weft::create_task([] { touch_stack<160 * 1024>(); }, weft::TaskOptions{"greedy"}).get();
        auto next = weft::create_task([&] {
          std::ostringstream out;
          weft::dump_tasks(out);
          dump = out.str();
        }, weft::TaskOptions{"modest"});
        next.get();
      },
      weft::RunOptions{true});
  const std::string row = row_of(dump, "modest");
  const std::size_t slash = row.find("/256 KiB");
  ASSERT_NE(std::string::npos, slash) << dump;
  const std::size_t start = row.rfind(' ', slash) + 1;
  EXPECT_LT(std::stoi(row.substr(start, slash - start)), 64) << dump;
}

// --- the deadlock report ----------------------------------------------------------------

TEST(DebugMode, ReportsADeadlockInsteadOfHanging) {
  std::string main_name;
  try {
    weft::run(
        [&] {
          main_name = weft::current_task().get_name();
          weft::Queue<int> queue;
          auto consumer = weft::create_task([&] { return queue.get(); }, weft::TaskOptions{"consumer"});
          consumer.get();  // nobody will ever put
        },
        weft::RunOptions{true});
    FAIL() << "no DeadlockError";
  } catch (const weft::DeadlockError& e) {
    const std::string what = e.what();
    EXPECT_TRUE(contains(what, "deadlock: every task is waiting")) << what;
    EXPECT_TRUE(contains(row_of(what, "consumer"), "queue get 0x")) << what;
    EXPECT_TRUE(contains(what, "\n  " + main_name + "\n  └── consumer\n")) << what;
  }
}

TEST(DebugMode, ReportsTwoTasksAwaitingEachOther) {
  try {
    weft::run(
        [] {
          weft::Task<void> a, b;
          a = weft::create_task([&] { weft::yield(); b.get(); }, weft::TaskOptions{"alpha"});
          b = weft::create_task([&] { weft::yield(); a.get(); }, weft::TaskOptions{"beta"});
          a.get();
        },
        weft::RunOptions{true});
    FAIL() << "no DeadlockError";
  } catch (const weft::DeadlockError& e) {
    const std::string what = e.what();
    EXPECT_TRUE(contains(row_of(what, "alpha"), "task 'beta'")) << what;
    EXPECT_TRUE(contains(row_of(what, "beta"), "task 'alpha'")) << what;
    EXPECT_TRUE(contains(what, "(see above)")) << what;
  }
}

TEST(DebugMode, AWaitThatATimerOrAThreadWillEndIsNoDeadlock) {
  const int got = weft::run(
      [] {
        weft::Queue<int> queue;
        auto consumer = weft::create_task([&] { return queue.get(); });
        weft::get_running_loop().call_later(milliseconds(30), [&] { queue.put_nowait(5); });
        const int slow = weft::to_thread([] {
          std::this_thread::sleep_for(milliseconds(30));
          return 1;
        });
        return consumer.get() + slow;
      },
      weft::RunOptions{true});
  EXPECT_EQ(6, got);
}

TEST(DebugMode, ALoopFedByAnotherThreadIsNotDeadlocked) {
  weft::Loop loop;
  loop.set_debug(true);
  weft::Future<int> answer(loop);
  std::thread feeder([&] {
    std::this_thread::sleep_for(milliseconds(20));
    loop.call_soon_threadsafe([] {});  // the first submission from a thread
    std::this_thread::sleep_for(milliseconds(50));
    loop.call_soon_threadsafe([&] { answer.set_result(3); });
  });
  // Debug mode cannot know that a thread will submit work before its first
  // submission (weft/fiber/debug.hpp); from then on the loop keeps waiting.
  std::this_thread::sleep_for(milliseconds(40));
  EXPECT_EQ(3, weft::run_until_complete(loop, answer));
  feeder.join();
  loop.close();
}

}  // namespace
