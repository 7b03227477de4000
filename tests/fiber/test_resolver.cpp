// Tests of weft::getaddrinfo() (asyncio's loop.getaddrinfo) and its TTL
// cache, and of SocketAddress. Names come from /etc/hosts ("localhost"), or
// are invalid DNS names that glibc rejects before sending a query: no test
// reaches past this machine.
#include "weft/fiber/resolver.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/socket_helpers.hpp"
#include "weft/fiber/runners.hpp"
#include "weft/fiber/tasks.hpp"

namespace {

using std::chrono::milliseconds;

using Resolver = weft_test::FdLeakCheck;

// Counts how many times other tasks ran while `fn` did: zero means fn did
// not suspend (a cache hit or a numeric address), more means it waited for
// a worker thread.
template <class F>
int others_ran_during(F fn) {
  int ticks = 0;
  bool stop = false;
  auto ticker = weft::create_task([&] {
    while (!stop) {
      ++ticks;
      weft::yield();
    }
  });
  weft::yield();  // let the ticker start
  const int before = ticks;
  fn();
  const int during = ticks - before;
  stop = true;
  ticker.get();
  return during;
}

TEST_F(Resolver, NumericAddressesNeedNoTaskAndNoThread) {
  std::vector<weft::SocketAddress> v4 = weft::getaddrinfo("127.0.0.1", 80);
  ASSERT_EQ(1u, v4.size());
  EXPECT_EQ(weft::AddressFamily::kIPv4, v4[0].family());
  EXPECT_EQ("127.0.0.1:80", v4[0].to_string());
  std::vector<weft::SocketAddress> v6 = weft::getaddrinfo("::1", 8080);
  ASSERT_EQ(1u, v6.size());
  EXPECT_EQ("[::1]:8080", v6[0].to_string());
  EXPECT_EQ(8080, v6[0].port());
}

TEST_F(Resolver, PassiveEmptyHostMeansEveryInterface) {
  weft::ResolveOptions options;
  options.passive = true;
  options.family = weft::AddressFamily::kIPv4;
  std::vector<weft::SocketAddress> any = weft::getaddrinfo("", 9000, options);
  ASSERT_EQ(1u, any.size());
  EXPECT_EQ("0.0.0.0:9000", any[0].to_string());
}

TEST_F(Resolver, NameIsResolvedOnAWorkerThreadThenCached) {
  weft::run([] {
    weft::clear_dns_cache();
    std::vector<weft::SocketAddress> first;
    EXPECT_GT(others_ran_during([&] { first = weft::getaddrinfo("localhost", 443); }), 0);
    ASSERT_FALSE(first.empty());
    for (const weft::SocketAddress& address : first) {
      EXPECT_EQ(443, address.port());
      EXPECT_TRUE(address.host() == "127.0.0.1" || address.host() == "::1") << address.to_string();
    }
    std::vector<weft::SocketAddress> again;
    EXPECT_EQ(0, others_ran_during([&] { again = weft::getaddrinfo("localhost", 443); }));
    EXPECT_TRUE(first == again);
    // Another port is another key.
    EXPECT_GT(others_ran_during([] { weft::getaddrinfo("localhost", 444); }), 0);
    weft::clear_dns_cache();
  });
}

TEST_F(Resolver, ZeroTtlBypassesTheCacheAndEntriesExpire) {
  weft::run([] {
    weft::clear_dns_cache();
    weft::ResolveOptions no_cache;
    no_cache.cache_ttl = milliseconds(0);
    weft::getaddrinfo("localhost", 80, no_cache);
    EXPECT_GT(others_ran_during([&] { weft::getaddrinfo("localhost", 80, no_cache); }), 0);
    weft::ResolveOptions short_ttl;
    short_ttl.cache_ttl = milliseconds(30);
    weft::getaddrinfo("localhost", 80, short_ttl);
    EXPECT_EQ(0, others_ran_during([&] { weft::getaddrinfo("localhost", 80, short_ttl); }));
    weft::sleep(milliseconds(60));
    EXPECT_GT(others_ran_during([&] { weft::getaddrinfo("localhost", 80, short_ttl); }), 0);
    weft::clear_dns_cache();
  });
}

TEST_F(Resolver, FailureIsAResolveErrorAndIsNotCached) {
  const std::string name = std::string(70, 'b') + ".invalid";  // an invalid DNS label: no query is sent
  weft::run([&] {
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        weft::getaddrinfo(name, 8080);
        ADD_FAILURE() << "no ResolveError";
      } catch (const weft::ResolveError& e) {
        EXPECT_EQ(name, e.host());
        EXPECT_EQ(8080, e.port());
        EXPECT_EQ(e.err(), e.eai_code());
        EXPECT_NE(std::string::npos, std::string(e.what()).find("getaddrinfo(" + name + ":8080): "));
      }
    }
  });
}

TEST_F(Resolver, CancelledLookupThrowsCancelledError) {
  weft::run([] {
    weft::clear_dns_cache();
    auto lookup = weft::create_task([] { return weft::getaddrinfo("localhost", 1); });
    weft::yield();  // the lookup is on its worker now
    lookup.cancel();
    EXPECT_THROW(lookup.get(), weft::CancelledError);
    weft::clear_dns_cache();
  });
}

TEST_F(Resolver, NameOutsideATaskIsRefused) {
  EXPECT_THROW(weft::getaddrinfo("localhost", 80), weft::InvalidStateError);
}

TEST_F(Resolver, SocketAddressConversions) {
  const weft::SocketAddress v4 = weft::SocketAddress::from_ip("10.1.2.3", 65535);
  EXPECT_EQ("10.1.2.3", v4.host());
  EXPECT_EQ(65535, v4.port());
  const weft::SocketAddress copy = weft::SocketAddress::from_native(v4.data(), v4.size());
  EXPECT_TRUE(copy == v4);
  EXPECT_FALSE(copy != v4);
  EXPECT_THROW(weft::SocketAddress::from_ip("localhost", 1), std::invalid_argument);
  const weft::SocketAddress unix_path = weft::SocketAddress::from_unix_path("/tmp/x.sock");
  EXPECT_EQ(weft::AddressFamily::kUnix, unix_path.family());
  EXPECT_EQ("/tmp/x.sock", unix_path.to_string());
  EXPECT_EQ(0, unix_path.port());
  const weft::SocketAddress abstract = weft::SocketAddress::from_unix_path(std::string("\0name", 5));
  EXPECT_EQ("@name", abstract.to_string());
  EXPECT_THROW(weft::SocketAddress::from_unix_path(std::string(200, 'p')), std::invalid_argument);
  const weft::SocketAddress empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ("", empty.to_string());
}

}  // namespace
