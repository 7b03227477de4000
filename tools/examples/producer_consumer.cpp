// "Producer-Consumer with asyncio.Queue": the producer puts five items a
// second apart, then main puts a sentinel (Python's None) that stops the
// consumer.
#include <weft/weft.hpp>

#include <chrono>
#include <cstdio>

constexpr int kNone = -1;  // the sentinel: no real item is negative

void producer(weft::Queue<int>& queue) {
  for (int i = 0; i < 5; ++i) {
    std::printf("Producing %d\n", i);
    queue.put(i);
    weft::sleep(std::chrono::seconds(1));
  }
}

void consumer(weft::Queue<int>& queue) {
  for (;;) {
    const int item = queue.get();
    if (item == kNone) break;
    std::printf("Consuming %d\n", item);
    queue.task_done();
  }
}

int main() {
  weft::run([] {
    weft::Queue<int> queue;
    auto producer_task = weft::create_task([&] { producer(queue); });
    auto consumer_task = weft::create_task([&] { consumer(queue); });
    producer_task.get();
    queue.put(kNone);  // signal the consumer to stop
    consumer_task.get();
  });
}
