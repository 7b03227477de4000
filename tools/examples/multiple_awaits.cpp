// "Multiple Awaits in a Coroutine": main awaits greet, which awaits sleep.
// In weft a coroutine that awaits another is a plain function calling one.
#include <weft/weft.hpp>

#include <chrono>
#include <cstdio>

void greet() {
  std::puts("Hello");
  weft::sleep(std::chrono::seconds(2));  // pauses this task, not the thread
  std::puts("World");
}

int main() {
  weft::run([] {
    std::puts("Starting...");
    greet();
    std::puts("Finished!");
  });
}
