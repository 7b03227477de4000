// Probes of this test process for the reliability tests (issue 11): its
// resident memory, its knobs from the environment, and whether it runs under
// AddressSanitizer — whose shadow memory, larger frames and quarantine of
// freed blocks make those tests scale down and widen their memory bounds.
// The fd count is weft_test::open_fd_count() (tests/support/socket_helpers.hpp).
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

// g++ says __SANITIZE_ADDRESS__, clang __has_feature(address_sanitizer).
#if defined(__SANITIZE_ADDRESS__)
#define WEFT_TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_TEST_UNDER_ASAN 1
#endif
#endif
#ifndef WEFT_TEST_UNDER_ASAN
#define WEFT_TEST_UNDER_ASAN 0
#endif

namespace weft_test {

constexpr bool kUnderAsan = WEFT_TEST_UNDER_ASAN != 0;

// Resident set size in bytes: the second field of /proc/self/statm (pages),
// or 0 if it cannot be read.
inline std::size_t resident_bytes() {
  std::FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr) return 0;
  unsigned long size = 0;
  unsigned long resident = 0;
  const int fields = std::fscanf(statm, "%lu %lu", &size, &resident);
  std::fclose(statm);
  if (fields != 2) return 0;
  return static_cast<std::size_t>(resident) * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// The environment variable `name` as a non-negative integer; `fallback` if
// it is unset or empty. Anything else is a mistake worth stopping for, so
// it throws std::invalid_argument naming the variable.
inline unsigned long env_number(const char* name, unsigned long fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const unsigned long value = std::strtoul(text, &end, 10);
  if (*end != '\0' || text[0] == '-') {
    throw std::invalid_argument(std::string(name) + "='" + text + "': expected a non-negative integer");
  }
  return value;
}

}  // namespace weft_test
