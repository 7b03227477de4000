// "Running Coroutines with asyncio.gather": both run concurrently, so task 2
// (1 s) finishes before task 1 (2 s), and the whole takes 2 s, not 3.
#include <weft/weft.hpp>

#include <chrono>
#include <cstdio>

void task1() {
  weft::sleep(std::chrono::seconds(2));
  std::puts("Task 1 complete");
}

void task2() {
  weft::sleep(std::chrono::seconds(1));
  std::puts("Task 2 complete");
}

int main() {
  weft::run([] { weft::gather(task1, task2); });
}
