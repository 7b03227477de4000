// Runs each example of tools/examples/ (the seed articles' programs) and
// checks its output line by line, and that its waits overlapped where the
// article says they do (generous bounds: only "faster than sequential").
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

struct ExampleRun {
  std::string output;
  int status = -1;
  double seconds = 0;
};

// Runs the example whose path Meson put in WEFT_EXAMPLE_<NAME>.
ExampleRun run_example(const char* name) {
  const std::string var = std::string("WEFT_EXAMPLE_") + name;
  const char* path = std::getenv(var.c_str());
  ExampleRun run;
  if (path == nullptr) {
    ADD_FAILURE() << var << " is not set";
    return run;
  }
  const auto start = std::chrono::steady_clock::now();
  FILE* pipe = popen(path, "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "popen " << path;
    return run;
  }
  char buf[256];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) run.output.append(buf, n);
  run.status = pclose(pipe);
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

void expect_ok(const ExampleRun& run) {
  ASSERT_TRUE(WIFEXITED(run.status)) << run.status;
  EXPECT_EQ(0, WEXITSTATUS(run.status));
}

TEST(Examples, Greet) {
  const ExampleRun run = run_example("greet");
  expect_ok(run);
  EXPECT_EQ("Hello\nWorld\n", run.output);
  EXPECT_GE(run.seconds, 1.0);
}

TEST(Examples, MultipleAwaits) {
  const ExampleRun run = run_example("multiple_awaits");
  expect_ok(run);
  EXPECT_EQ("Starting...\nHello\nWorld\nFinished!\n", run.output);
  EXPECT_GE(run.seconds, 2.0);
}

TEST(Examples, GatherRunsConcurrently) {
  const ExampleRun run = run_example("gather");
  expect_ok(run);
  EXPECT_EQ("Task 2 complete\nTask 1 complete\n", run.output);
  EXPECT_GE(run.seconds, 2.0);
  EXPECT_LT(run.seconds, 3.0);  // 2 s + 1 s had they run one after the other
}

TEST(Examples, CreateTaskRunsConcurrently) {
  const ExampleRun run = run_example("create_task");
  expect_ok(run);
  EXPECT_EQ("Task 2 complete\nTask 1 complete\n", run.output);
  EXPECT_LT(run.seconds, 3.0);
}

TEST(Examples, GatherCollectsResultsInOrder) {
  const ExampleRun run = run_example("gather_results");
  expect_ok(run);
  EXPECT_EQ("[1, 4, 9]\n", run.output);
  EXPECT_LT(run.seconds, 3.0);  // three 1 s squares at once
}

TEST(Examples, WaitForTimesOut) {
  const ExampleRun run = run_example("wait_for_timeout");
  expect_ok(run);
  EXPECT_EQ("Task timed out\n", run.output);
  EXPECT_GE(run.seconds, 2.0);
  EXPECT_LT(run.seconds, 5.0);  // the 5 s task did not run to its end
}

TEST(Examples, ProducerConsumer) {
  const ExampleRun run = run_example("producer_consumer");
  expect_ok(run);
  // Each item is consumed as soon as it is produced, before the next one.
  EXPECT_EQ(
      "Producing 0\nConsuming 0\nProducing 1\nConsuming 1\nProducing 2\nConsuming 2\n"
      "Producing 3\nConsuming 3\nProducing 4\nConsuming 4\n",
      run.output);
}

}  // namespace
