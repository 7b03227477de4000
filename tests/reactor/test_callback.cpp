// Tests of weft::Callback, the loop's move-only function type.
#include "weft/reactor/callback.hpp"

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <string>

namespace {

TEST(Callback, EmptyByDefault) {
  weft::Callback cb;
  EXPECT_FALSE(cb);
}

TEST(Callback, CallsSmallTrivialLambda) {
  int hits = 0;
  weft::Callback cb([&hits] { ++hits; });
  ASSERT_TRUE(cb);
  cb();
  cb();
  EXPECT_EQ(2, hits);
}

TEST(Callback, HoldsMoveOnlyCapture) {
  auto value = std::unique_ptr<int>(new int(41));
  int seen = 0;
  weft::Callback cb([v = std::move(value), &seen] { seen = *v + 1; });
  weft::Callback moved(std::move(cb));
  EXPECT_FALSE(cb);  // NOLINT: moved-from state is specified: empty
  moved();
  EXPECT_EQ(42, seen);
}

TEST(Callback, LargeCaptureGoesToHeapAndWorks) {
  std::array<char, 200> big{};
  big[199] = 'x';
  char seen = 0;
  weft::Callback cb([big, &seen] { seen = big[199]; });
  weft::Callback other;
  other = std::move(cb);
  other();
  EXPECT_EQ('x', seen);
}

TEST(Callback, DestroysCaptureExactlyOnce) {
  auto counter = std::make_shared<int>(0);
  {
    weft::Callback a([counter] { ++*counter; });
    EXPECT_EQ(2, counter.use_count());
    weft::Callback b(std::move(a));
    weft::Callback c;
    c = std::move(b);
    EXPECT_EQ(2, counter.use_count());
    c();
  }
  EXPECT_EQ(1, counter.use_count());
  EXPECT_EQ(1, *counter);
}

TEST(Callback, ResetDestroysNow) {
  auto counter = std::make_shared<int>(0);
  weft::Callback a([counter] {});
  a.reset();
  EXPECT_FALSE(a);
  EXPECT_EQ(1, counter.use_count());
}

TEST(Callback, MoveAssignReplacesAndReleasesOld) {
  auto first = std::make_shared<int>(1);
  auto second = std::make_shared<int>(2);
  int seen = 0;
  weft::Callback a([first, &seen] { seen = *first; });
  weft::Callback b([second, &seen] { seen = *second; });
  a = std::move(b);
  EXPECT_EQ(1, first.use_count());
  a();
  EXPECT_EQ(2, seen);
}

}  // namespace
