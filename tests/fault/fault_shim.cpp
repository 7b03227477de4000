// tests/fault/fault_shim.cpp — libweft_fault, a test-only shim that makes
// the system calls under weft fail the ways the kernel and libc are allowed
// to (issue 11, "Fault injection"). It interposes on recv, send, read,
// write, accept, accept4 and getaddrinfo, either preloaded into an existing
// test program (LD_PRELOAD, configured by WEFT_FAULTS) or linked into one
// that drives it through fault_shim.h. At exit it prints one line to stderr
// with the faults it injected, by kind.
//
// Only faults a correct program can meet are injected, because a test that
// fails under an impossible one proves nothing:
//   - short counts and EINTR, on recv/send/read/write: always legal;
//   - EAGAIN, but only as the kernel reports it on an edge-triggered epoll
//     fd: "nothing now, an edge will come". A spurious EAGAIN while data is
//     waiting, with no edge after it, never happens (the kernel returns
//     data that is there) and would leave any edge-triggered program waiting
//     forever. So the shim records every epoll registration (epoll_ctl) and,
//     before it fails a call with EAGAIN, re-arms the fd's registration with
//     EPOLL_CTL_MOD, which makes epoll report the fd's current readiness
//     once more: to the program this is "the bytes (or the buffer space, or
//     the connection) arrived just after the call", which is real life. An
//     fd the shim has not seen registered gets no EAGAIN;
//   - accept: EINTR, EAGAIN (as above) and EMFILE, the last leaving the
//     connection in the backlog, as the kernel does;
//   - getaddrinfo of a name: a stall (a slow resolver) or EAI_AGAIN (a
//     resolver that timed out). Numeric lookups (AI_NUMERICHOST) and the
//     wildcard (no node) are left alone: they never touch a resolver, and
//     weft does them on the loop's thread, relying on that.
// Faults land on non-blocking sockets only, which is what weft uses. A test's
// own blocking helper sockets are left alone: EAGAIN on them is impossible,
// and EINTR or short counts would test the helpers, not weft. Child
// processes (nginx) run without the shim: it removes LD_PRELOAD from the
// environment when it loads. So preload it into the test program itself, not
// into a wrapper, which would keep it: `timeout 300 env LD_PRELOAD=... prog`.
//
// Decisions are draws from a counter-based generator (splitmix64 of seed +
// draw number), so a seed fixes the sequence of decisions; which call meets
// which decision still depends on how the threads and the kernel interleave.
#include "tests/fault/fault_shim.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

namespace {

// --- the next definitions (libc's, or a sanitizer's interceptors) ---------------------

template <class Fn>
Fn next_definition(const char* name) {
  void* symbol = dlsym(RTLD_NEXT, name);
  if (symbol == nullptr) {
    std::fprintf(stderr, "weft-fault: dlsym(RTLD_NEXT, %s) failed: %s\n", name, dlerror());
    std::abort();
  }
  Fn fn;
  static_assert(sizeof fn == sizeof symbol, "function and object pointers differ in size");
  std::memcpy(&fn, &symbol, sizeof fn);
  return fn;
}

ssize_t real_recv(int fd, void* buf, std::size_t n, int flags) {
  static const auto fn = next_definition<decltype(&::recv)>("recv");
  return fn(fd, buf, n, flags);
}
ssize_t real_send(int fd, const void* buf, std::size_t n, int flags) {
  static const auto fn = next_definition<decltype(&::send)>("send");
  return fn(fd, buf, n, flags);
}
ssize_t real_read(int fd, void* buf, std::size_t n) {
  static const auto fn = next_definition<decltype(&::read)>("read");
  return fn(fd, buf, n);
}
ssize_t real_write(int fd, const void* buf, std::size_t n) {
  static const auto fn = next_definition<decltype(&::write)>("write");
  return fn(fd, buf, n);
}
int real_accept(int fd, sockaddr* address, socklen_t* size) {
  static const auto fn = next_definition<decltype(&::accept)>("accept");
  return fn(fd, address, size);
}
int real_accept4(int fd, sockaddr* address, socklen_t* size, int flags) {
  static const auto fn = next_definition<decltype(&::accept4)>("accept4");
  return fn(fd, address, size, flags);
}
int real_close(int fd) {
  static const auto fn = next_definition<decltype(&::close)>("close");
  return fn(fd);
}
int real_epoll_ctl(int epfd, int op, int fd, epoll_event* event) {
  static const auto fn = next_definition<decltype(&::epoll_ctl)>("epoll_ctl");
  return fn(epfd, op, fd, event);
}
int real_getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** result) {
  static const auto fn = next_definition<decltype(&::getaddrinfo)>("getaddrinfo");
  return fn(node, service, hints, result);
}

// --- configuration ---------------------------------------------------------------------

// A per-call probability as a threshold on a 32-bit draw: 0 never, 2^32 always.
using Chance = std::atomic<std::uint64_t>;
constexpr std::uint64_t kAlways = std::uint64_t(1) << 32;

struct Config {
  Chance short_count{0};
  Chance eintr{0};
  Chance eagain{0};
  Chance emfile{0};
  Chance gai_fail{0};
  Chance gai_stall{0};
  std::atomic<int> gai_stall_ms{0};
  std::atomic<std::uint64_t> seed{1};
  std::atomic<bool> require{false};
};
Config g_config;

// Every kind of fault, in the order of the exit summary.
enum Kind : int {
  kRecvShort, kRecvEintr, kRecvEagain,
  kSendShort, kSendEintr, kSendEagain,
  kReadShort, kReadEintr, kReadEagain,
  kWriteShort, kWriteEintr, kWriteEagain,
  kAcceptEintr, kAcceptEagain, kAcceptEmfile,
  kGaiStall, kGaiFail,
  kKindCount
};
const char* const kKindNames[kKindCount] = {
    "recv.short",   "recv.eintr",    "recv.eagain",   "send.short",   "send.eintr",  "send.eagain",
    "read.short",   "read.eintr",    "read.eagain",   "write.short",  "write.eintr", "write.eagain",
    "accept.eintr", "accept.eagain", "accept.emfile", "getaddrinfo.stall", "getaddrinfo.fail"};

std::atomic<unsigned long> g_counts[kKindCount];
std::atomic<int> g_stalls_in_progress{0};
std::atomic<std::uint64_t> g_draws{0};

void count(Kind kind) { g_counts[kind].fetch_add(1, std::memory_order_relaxed); }

[[noreturn]] void bad_spec(const std::string& spec, const std::string& why) {
  std::fprintf(stderr, "weft-fault: bad configuration \"%s\": %s\n", spec.c_str(), why.c_str());
  std::abort();
}

std::uint64_t parse_chance(const std::string& spec, const std::string& value) {
  char* end = nullptr;
  const double p = std::strtod(value.c_str(), &end);
  if (end == value.c_str() || *end != '\0' || !(p >= 0.0 && p <= 1.0)) bad_spec(spec, "not a probability: " + value);
  return static_cast<std::uint64_t>(p * static_cast<double>(kAlways));
}

std::uint64_t parse_number(const std::string& spec, const std::string& value) {
  char* end = nullptr;
  const unsigned long long n = std::strtoull(value.c_str(), &end, 10);
  if (end == value.c_str() || *end != '\0') bad_spec(spec, "not a number: " + value);
  return n;
}

void configure(const std::string& spec) {
  std::uint64_t short_count = 0, eintr = 0, eagain = 0, emfile = 0, gai_fail = 0, gai_stall = 0;
  std::uint64_t gai_stall_ms = 0, require = 0;
  std::uint64_t seed = 1;
  if (const char* from_env = std::getenv("WEFT_FAULT_SEED")) seed = parse_number(spec, from_env);
  std::size_t begin = 0;
  while (begin < spec.size()) {
    std::size_t end = spec.find(',', begin);
    if (end == std::string::npos) end = spec.size();
    const std::string item = spec.substr(begin, end - begin);
    begin = end + 1;
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos) bad_spec(spec, "expected key=value: " + item);
    const std::string key = item.substr(0, eq);
    const std::string value = item.substr(eq + 1);
    if (key == "short") {
      short_count = parse_chance(spec, value);
    } else if (key == "eintr") {
      eintr = parse_chance(spec, value);
    } else if (key == "eagain") {
      eagain = parse_chance(spec, value);
    } else if (key == "emfile") {
      emfile = parse_chance(spec, value);
    } else if (key == "gai_fail") {
      gai_fail = parse_chance(spec, value);
    } else if (key == "gai_stall") {
      gai_stall = parse_chance(spec, value);
    } else if (key == "gai_stall_ms") {
      gai_stall_ms = parse_number(spec, value);
    } else if (key == "seed") {
      seed = parse_number(spec, value);
    } else if (key == "require") {
      require = parse_number(spec, value);
    } else {
      bad_spec(spec, "unknown key: " + key);
    }
  }
  g_config.short_count = short_count;
  g_config.eintr = eintr;
  g_config.eagain = eagain;
  g_config.emfile = emfile;
  g_config.gai_fail = gai_fail;
  g_config.gai_stall = gai_stall;
  g_config.gai_stall_ms = static_cast<int>(gai_stall_ms);
  g_config.seed = seed;
  g_config.require = require != 0;
}

// --- decisions -------------------------------------------------------------------------

// splitmix64 of the seed and the draw's number: lock-free and thread-safe.
std::uint64_t draw() {
  std::uint64_t z = g_config.seed.load(std::memory_order_relaxed) +
                    (g_draws.fetch_add(1, std::memory_order_relaxed) + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

bool happens(const Chance& chance) {
  const std::uint64_t threshold = chance.load(std::memory_order_relaxed);
  return threshold != 0 && (draw() >> 32) < threshold;
}

bool any_socket_fault() {
  return g_config.short_count.load(std::memory_order_relaxed) != 0 ||
         g_config.eintr.load(std::memory_order_relaxed) != 0 ||
         g_config.eagain.load(std::memory_order_relaxed) != 0;
}

bool nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && (flags & O_NONBLOCK) != 0;
}

bool nonblocking_socket(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && nonblocking(fd);
}

// --- epoll registrations: where EAGAIN's edge comes from -------------------------------

// What epoll_ctl last registered for each fd below kTracked (fds above it get
// no EAGAIN). An epoll fd's registrations die with it, and a closed fd's with
// its number, so close() forgets them before the number can be reused.
constexpr int kTracked = 1 << 16;
struct Registration {
  bool live;
  int epfd;
  epoll_event event;
};
std::mutex g_registrations_mutex;
Registration g_registrations[kTracked];
bool g_is_epoll[kTracked];

void remember(int epfd, int op, int fd, const epoll_event* event) {
  if (fd < 0 || fd >= kTracked || epfd < 0 || epfd >= kTracked) return;
  std::lock_guard<std::mutex> lock(g_registrations_mutex);
  g_is_epoll[epfd] = true;
  Registration& r = g_registrations[fd];
  if (op == EPOLL_CTL_DEL) {
    r.live = false;
  } else if (event != nullptr) {
    r.live = true;
    r.epfd = epfd;
    r.event = *event;
  }
}

void forget(int fd) {
  if (fd < 0 || fd >= kTracked) return;
  std::lock_guard<std::mutex> lock(g_registrations_mutex);
  g_registrations[fd].live = false;
  if (!g_is_epoll[fd]) return;
  g_is_epoll[fd] = false;
  for (Registration& r : g_registrations) {
    if (r.live && r.epfd == fd) r.live = false;
  }
}

// Makes epoll report fd's readiness again (EPOLL_CTL_MOD with its own
// registration), so that an EAGAIN the shim is about to return is followed
// by an edge, as a real one is. False if fd is not registered: then the
// shim must not return EAGAIN.
bool announce_edge(int fd) {
  if (fd < 0 || fd >= kTracked) return false;
  Registration r;
  {
    std::lock_guard<std::mutex> lock(g_registrations_mutex);
    r = g_registrations[fd];
  }
  return r.live && real_epoll_ctl(r.epfd, EPOLL_CTL_MOD, fd, &r.event) == 0;
}

// --- the faults of one transfer (recv, send, read, write) ------------------------------

struct TransferKinds {
  Kind short_count, eintr, eagain;
};
constexpr TransferKinds kRecvKinds = {kRecvShort, kRecvEintr, kRecvEagain};
constexpr TransferKinds kSendKinds = {kSendShort, kSendEintr, kSendEagain};
constexpr TransferKinds kReadKinds = {kReadShort, kReadEintr, kReadEagain};
constexpr TransferKinds kWriteKinds = {kWriteShort, kWriteEintr, kWriteEagain};

// True if the call is to fail now, with errno set; otherwise *n may have
// been shortened, and the real call is to be made with it.
bool transfer_fault(const TransferKinds& kinds, int fd, std::size_t* n) {
  if (happens(g_config.eintr)) {
    count(kinds.eintr);
    errno = EINTR;
    return true;
  }
  if (happens(g_config.eagain) && announce_edge(fd)) {
    count(kinds.eagain);
    errno = EAGAIN;
    return true;
  }
  if (*n > 1 && happens(g_config.short_count)) {
    count(kinds.short_count);
    *n = 1 + static_cast<std::size_t>(draw() % (*n - 1));
  }
  return false;
}

bool accept_fault(int fd) {
  if (g_config.eintr.load(std::memory_order_relaxed) == 0 && g_config.eagain.load(std::memory_order_relaxed) == 0 &&
      g_config.emfile.load(std::memory_order_relaxed) == 0) {
    return false;
  }
  if (!nonblocking(fd)) return false;
  if (happens(g_config.emfile)) {
    count(kAcceptEmfile);
    errno = EMFILE;
    return true;
  }
  if (happens(g_config.eintr)) {
    count(kAcceptEintr);
    errno = EINTR;
    return true;
  }
  if (happens(g_config.eagain) && announce_edge(fd)) {
    count(kAcceptEagain);
    errno = EAGAIN;
    return true;
  }
  return false;
}

// --- load and exit ---------------------------------------------------------------------

__attribute__((constructor)) void load() {
  const char* spec = std::getenv("WEFT_FAULTS");
  configure(spec != nullptr ? spec : "");
  // Children (nginx, re-executed death tests) run without the shim.
  ::unsetenv("LD_PRELOAD");
}

__attribute__((destructor)) void summarise() {
  unsigned long total = 0;
  std::string line = "weft-fault: pid " + std::to_string(::getpid()) + ", seed " +
                     std::to_string(g_config.seed.load()) + ":";
  for (int kind = 0; kind < kKindCount; ++kind) {
    const unsigned long n = g_counts[kind].load();
    total += n;
    line += std::string(" ") + kKindNames[kind] + "=" + std::to_string(n);
  }
  line += "; " + std::to_string(total) + " faults injected\n";
  std::fputs(line.c_str(), stderr);
  if (g_config.require.load() && total == 0) {
    std::fputs("weft-fault: require=1, but no fault was injected: the shim was not in the way\n", stderr);
    std::fflush(stderr);
    ::_exit(1);
  }
}

}  // namespace

// --- the interposed functions ----------------------------------------------------------

extern "C" {

ssize_t recv(int fd, void* buf, std::size_t n, int flags) {
  if (any_socket_fault() && ((flags & MSG_DONTWAIT) != 0 || nonblocking(fd)) && transfer_fault(kRecvKinds, fd, &n)) {
    return -1;
  }
  return real_recv(fd, buf, n, flags);
}

ssize_t send(int fd, const void* buf, std::size_t n, int flags) {
  if (any_socket_fault() && ((flags & MSG_DONTWAIT) != 0 || nonblocking(fd)) && transfer_fault(kSendKinds, fd, &n)) {
    return -1;
  }
  return real_send(fd, buf, n, flags);
}

ssize_t read(int fd, void* buf, std::size_t n) {
  if (any_socket_fault() && nonblocking_socket(fd) && transfer_fault(kReadKinds, fd, &n)) return -1;
  return real_read(fd, buf, n);
}

ssize_t write(int fd, const void* buf, std::size_t n) {
  if (any_socket_fault() && nonblocking_socket(fd) && transfer_fault(kWriteKinds, fd, &n)) return -1;
  return real_write(fd, buf, n);
}

int accept(int fd, sockaddr* address, socklen_t* size) {
  if (accept_fault(fd)) return -1;
  return real_accept(fd, address, size);
}

int accept4(int fd, sockaddr* address, socklen_t* size, int flags) {
  if (accept_fault(fd)) return -1;
  return real_accept4(fd, address, size, flags);
}

int close(int fd) {
  forget(fd);  // first: once closed, another thread may get the number
  return real_close(fd);
}

int epoll_ctl(int epfd, int op, int fd, epoll_event* event) noexcept {
  const int rc = real_epoll_ctl(epfd, op, fd, event);
  if (rc == 0) remember(epfd, op, fd, event);
  return rc;
}

int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** result) {
  const bool resolves = node != nullptr && (hints == nullptr || (hints->ai_flags & AI_NUMERICHOST) == 0);
  if (resolves && happens(g_config.gai_stall)) {
    count(kGaiStall);
    g_stalls_in_progress.fetch_add(1);
    std::this_thread::sleep_for(std::chrono::milliseconds(g_config.gai_stall_ms.load()));
    g_stalls_in_progress.fetch_sub(1);
  }
  if (resolves && happens(g_config.gai_fail)) {
    count(kGaiFail);
    *result = nullptr;
    return EAI_AGAIN;
  }
  return real_getaddrinfo(node, service, hints, result);
}

void weft_fault_configure(const char* spec) { configure(spec != nullptr ? spec : ""); }

unsigned long weft_fault_count(const char* kind) {
  for (int k = 0; k < kKindCount; ++k) {
    if (std::strcmp(kKindNames[k], kind) == 0) return g_counts[k].load();
  }
  std::fprintf(stderr, "weft-fault: unknown fault kind \"%s\"\n", kind);
  std::abort();
}

int weft_fault_stalls_in_progress(void) { return g_stalls_in_progress.load(); }

}  // extern "C"
