// The seed's first example, "Basic Coroutine":
//
//   async def greet():
//       print("Hello")
//       await asyncio.sleep(1)
//       print("World")
//   asyncio.run(greet())
#include <weft/weft.hpp>

#include <chrono>
#include <cstdio>

void greet() {
  std::puts("Hello");
  weft::sleep(std::chrono::seconds(1));
  std::puts("World");
}

int main() { weft::run(greet); }
