// "Running and Collecting Task Results": gather returns the results in the
// order the tasks were given, whatever order they finish in.
//   Output: [1, 4, 9]
#include <weft/weft.hpp>

#include <chrono>
#include <cstdio>
#include <vector>

int square(int x) {
  weft::sleep(std::chrono::seconds(1));
  return x * x;
}

int main() {
  weft::run([] {
    std::vector<weft::Task<int>> tasks;
    for (int x : {1, 2, 3}) tasks.push_back(weft::create_task([x] { return square(x); }));
    const std::vector<int> results = weft::gather(tasks);
    std::printf("[%d, %d, %d]\n", results[0], results[1], results[2]);
  });
}
