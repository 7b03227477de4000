// "Using asyncio.create_task to Schedule Tasks": both tasks start at once;
// awaiting them one by one still takes 2 s in all.
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
  weft::run([] {
    weft::Task<void> task1_task = weft::create_task(task1);
    weft::Task<void> task2_task = weft::create_task(task2);
    task1_task.get();
    task2_task.get();
  });
}
