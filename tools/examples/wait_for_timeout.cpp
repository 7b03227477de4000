// "Using asyncio.wait_for to Set a Timeout": the 5 s task is cancelled after
// 2 s, and wait_for throws weft::TimeoutError.
//   Output: Task timed out
#include <weft/weft.hpp>

#include <chrono>
#include <cstdio>
#include <string>

std::string long_task() {
  weft::sleep(std::chrono::seconds(5));
  return "Task complete";
}

int main() {
  weft::run([] {
    try {
      const std::string result = weft::wait_for(long_task, std::chrono::seconds(2));
      std::puts(result.c_str());
    } catch (const weft::TimeoutError&) {
      std::puts("Task timed out");
    }
  });
}
