// A real nginx (Debian's /usr/sbin/nginx, from nginx-light, a declared test
// dependency) for the client's end-to-end tests: a child process with its
// own configuration, document root and temporary files in a fresh directory
// under /tmp, listening on 127.0.0.1 on a free port.
//
//   weft_test::NginxServer nginx;   // throws std::runtime_error if it cannot start
//   ... client requests to nginx.url("/small.txt") ...
//   // the destructor stops nginx and removes the directory
//
// The document root holds files the tests know the content of (content()):
//   small.txt     a short text/plain file
//   data.json     a small application/json document
//   text.txt      about 64 KiB of text/plain lines (gzip is on for it)
//   large.bin     `large_size` pseudo-random bytes (application/octet-stream,
//                 never gzipped)
//   f/<i>.txt     for i in [0, file_count): "<i> " followed by a line of text
//
// and /status, nginx's stub_status page ("Active connections: N", read with
// active_connections()).
//
// DESIGN.md, "Tests on this machine": worker_connections 4,096 (more if the
// test asks, as the soak's 10,000 connections do), a listen backlog of
// 4,096, a world-readable document root, a retry when the chosen port is
// taken, and raise_nofile_limit() for tests that open many sockets. Idle
// keep-alive connections stay open 10 minutes, for 10^8 requests each.
//
// TLS, optional: given a certificate and key (NginxTls), nginx also serves
// the same document root over TLS (TLSv1.2 and TLSv1.3, a shared session
// cache) on a second port of 127.0.0.1, tls_port(), https_url(). Responses
// there carry two extra headers for the tests: X-Connection (nginx's
// connection serial number: equal values mean one connection was reused)
// and X-Session-Reused ("r" when the TLS session was resumed, else ".").
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

namespace weft_test {

// Raises RLIMIT_NOFILE's soft limit to the hard limit; fails (as an
// AssertionResult, for ASSERT_TRUE) if the result is below `needed`.
inline ::testing::AssertionResult raise_nofile_limit(rlim_t needed = 4096) {
  rlimit limit = {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return ::testing::AssertionFailure() << "getrlimit(RLIMIT_NOFILE): " << std::strerror(errno);
  }
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      return ::testing::AssertionFailure() << "setrlimit(RLIMIT_NOFILE, " << limit.rlim_max
                                           << "): " << std::strerror(errno);
    }
  }
  if (limit.rlim_cur < needed) {
    return ::testing::AssertionFailure()
           << "RLIMIT_NOFILE is " << limit.rlim_cur << " (hard limit " << limit.rlim_max
           << "), below the " << needed << " file descriptors this test needs; raise the hard limit "
           << "(ulimit -Hn, or LimitNOFILE= for a service) and run it again";
  }
  return ::testing::AssertionSuccess();
}

// The certificate and key of NginxServer's TLS listener (PEM files that
// nginx can read); both empty: no TLS listener.
struct NginxTls {
  std::string certfile;
  std::string keyfile;
};

class NginxServer {
 public:
  static constexpr const char* kBinary = "/usr/sbin/nginx";

  // Generates the document root and starts nginx; returns once its port
  // accepts connections. Throws std::runtime_error saying what went wrong
  // (nginx missing, failed to start — with its log — or never listening).
  // `connections`: how many connections nginx may hold at once (at least
  // 4,096); the test process must have raised its own fd limit to match.
  explicit NginxServer(std::size_t large_size = 4 * 1024 * 1024, int file_count = 1000,
                       NginxTls tls = NginxTls(), std::size_t connections = 4096)
      : file_count_(file_count), connections_(connections < 4096 ? 4096 : connections), tls_(std::move(tls)) {
    if (::access(kBinary, X_OK) != 0) {
      throw std::runtime_error(std::string(kBinary) +
                               " not found or not executable: install the nginx-light package, a declared "
                               "dependency of weft's tests (apt-get install nginx-light)");
    }
    (void)raise_nofile_limit();  // nginx inherits it: worker_connections 4096
    char pattern[] = "/tmp/weft-nginx-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    dir_ = pattern;
    try {
      make_dir(dir_);
      make_dir(dir_ + "/tmp");
      make_dir(dir_ + "/www");
      make_dir(dir_ + "/www/f");
      write_files(large_size);
      start();
    } catch (...) {
      stop();
      remove_dir();
      throw;
    }
  }

  NginxServer(const NginxServer&) = delete;
  NginxServer& operator=(const NginxServer&) = delete;

  ~NginxServer() {
    stop();
    remove_dir();
  }

  std::uint16_t port() const { return port_; }
  // "http://127.0.0.1:PORT" + path ('/' added in front if missing).
  std::string url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + (path.empty() || path[0] != '/' ? "/" : "") + path;
  }
  // The TLS listener's port (0 without one), and "https://HOST:TLS_PORT" +
  // path; `host` may be "localhost" (the certificate's DNS name) or
  // "127.0.0.1" (its IP address), as the test's certificate allows.
  std::uint16_t tls_port() const { return tls_port_; }
  std::string https_url(const std::string& path = "/", const std::string& host = "127.0.0.1") const {
    return "https://" + host + ":" + std::to_string(tls_port_) + (path.empty() || path[0] != '/' ? "/" : "") + path;
  }
  bool has_tls() const { return !tls_.certfile.empty(); }
  const std::string& dir() const { return dir_; }
  int file_count() const { return file_count_; }

  // The bytes of a generated file, by its path under the document root
  // ("small.txt", "f/12.txt"). Throws std::out_of_range for another name.
  const std::string& content(const std::string& name) const { return files_.at(name); }

  // What nginx wrote to its logs so far, for failure messages.
  std::string logs() const { return read_file(dir_ + "/error.log") + read_file(dir_ + "/stderr.log"); }

  // "Active connections: N" of a /status body, or -1 if absent.
  static long active_connections(const std::string& status_body) {
    static const char kLabel[] = "Active connections:";
    const std::size_t at = status_body.find(kLabel);
    if (at == std::string::npos) return -1;
    return std::strtol(status_body.c_str() + at + sizeof kLabel - 1, nullptr, 10);
  }

  // 64-bit FNV-1a, a checksum for large bodies.
  static std::uint64_t fnv1a(const std::string& data, std::uint64_t hash = 1469598103934665603ull) {
    for (unsigned char c : data) {
      hash ^= c;
      hash *= 1099511628211ull;
    }
    return hash;
  }

 private:
  static void make_dir(const std::string& path) {
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      throw std::runtime_error("mkdir " + path + ": " + std::strerror(errno));
    }
    ::chmod(path.c_str(), 0755);  // world-readable whatever the umask
  }

  static std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }

  void put(const std::string& name, const std::string& data) {
    const std::string path = dir_ + "/www/" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    out.close();
    if (!out) throw std::runtime_error("cannot write " + path);
    ::chmod(path.c_str(), 0644);
    files_[name] = data;
  }

  void write_files(std::size_t large_size) {
    put("small.txt", "hello from nginx\n");
    put("data.json", "{\"name\": \"weft\", \"values\": [1, 2, 3], \"nested\": {\"ok\": true}}\n");
    std::string text;
    for (int i = 0; text.size() < 64 * 1024; ++i) {
      text += "line " + std::to_string(i) + ": the quick brown fox jumps over the lazy dog\n";
    }
    put("text.txt", text);
    std::string large(large_size, '\0');
    std::uint64_t x = 0x9E3779B97F4A7C15ull;  // xorshift64
    for (std::size_t i = 0; i < large_size; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      large[i] = static_cast<char>(x >> 56);
    }
    put("large.bin", large);
    for (int i = 0; i < file_count_; ++i) {
      put("f/" + std::to_string(i) + ".txt", std::to_string(i) + " is the number of this file\n");
    }
  }

  // A port that was free a moment ago (bind to port 0, read it, close).
  static std::uint16_t pick_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
      const int error = errno;
      ::close(fd);
      throw std::runtime_error(std::string("bind 127.0.0.1:0: ") + std::strerror(error));
    }
    ::close(fd);
    return ntohs(address.sin_port);
  }

  static bool port_accepts(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return ok;
  }

  void write_config() const {
    const std::string& d = dir_;
    std::ofstream conf(d + "/nginx.conf", std::ios::trunc);
    conf << "daemon off;\n"
         << "master_process off;\n"
         << "worker_processes 1;\n"
         << "worker_rlimit_nofile " << connections_ + 1024 << ";\n"
         << "pid " << d << "/nginx.pid;\n"
         << "lock_file " << d << "/nginx.lock;\n"
         << "error_log " << d << "/error.log warn;\n"
         << "events {\n  worker_connections " << connections_ << ";\n}\n"
         << "http {\n"
         << "  access_log off;\n"
         << "  client_body_temp_path " << d << "/tmp/body;\n"
         << "  proxy_temp_path " << d << "/tmp/proxy;\n"
         << "  fastcgi_temp_path " << d << "/tmp/fastcgi;\n"
         << "  uwsgi_temp_path " << d << "/tmp/uwsgi;\n"
         << "  scgi_temp_path " << d << "/tmp/scgi;\n"
         << "  types {\n    text/plain txt;\n    application/json json;\n"
         << "    application/octet-stream bin;\n  }\n"
         << "  default_type application/octet-stream;\n"
         << "  keepalive_timeout 600s;\n"
         << "  keepalive_requests 100000000;\n"
         << "  gzip on;\n"
         << "  gzip_types text/plain application/json;\n"
         << "  gzip_min_length 0;\n"
         << "  server {\n"
         << "    listen 127.0.0.1:" << port_ << " backlog=4096;\n"
         << "    server_name localhost;\n"
         << "    root " << d << "/www;\n"
         << "    location = /status {\n      stub_status;\n    }\n"
         << "  }\n";
    if (has_tls()) {
      conf << "  ssl_protocols TLSv1.2 TLSv1.3;\n"
           << "  ssl_session_cache shared:weft_tls:1m;\n"
           << "  ssl_session_timeout 10m;\n"
           << "  server {\n"
           << "    listen 127.0.0.1:" << tls_port_ << " ssl;\n"
           << "    server_name localhost;\n"
           << "    ssl_certificate " << tls_.certfile << ";\n"
           << "    ssl_certificate_key " << tls_.keyfile << ";\n"
           << "    root " << d << "/www;\n"
           << "    add_header X-Connection $connection always;\n"
           << "    add_header X-Session-Reused $ssl_session_reused always;\n"
           << "  }\n";
    }
    conf << "}\n";
    conf.close();
    if (!conf) throw std::runtime_error("cannot write " + d + "/nginx.conf");
  }

  void spawn() {
    const std::string conf = dir_ + "/nginx.conf";
    const std::string log = dir_ + "/stderr.log";
    const std::string prefix = dir_ + "/";
    // Nothing allocates after fork(): another thread may hold malloc's lock.
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
      // The child: nginx dies with the test process, even if that crashes.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int null_fd = ::open("/dev/null", O_RDONLY);
      const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (null_fd >= 0) ::dup2(null_fd, 0);
      if (log_fd >= 0) {
        ::dup2(log_fd, 1);
        ::dup2(log_fd, 2);
      }
      ::execl(kBinary, "nginx", "-p", prefix.c_str(), "-c", conf.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    pid_ = pid;
  }

  void start() {
    std::string why;
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = pick_port();
      if (has_tls()) {
        do {
          tls_port_ = pick_port();
        } while (tls_port_ == port_);
      }
      write_config();
      spawn();
      // Generous: the machine is small and often loaded.
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (std::chrono::steady_clock::now() < give_up) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          break;
        }
        if (port_accepts(port_) && (!has_tls() || port_accepts(tls_port_))) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      const std::string log = logs();
      if (pid_ > 0) {  // still running but never listening
        stop();
        throw std::runtime_error("nginx did not accept connections on 127.0.0.1:" + std::to_string(port_) +
                                 (has_tls() ? " and :" + std::to_string(tls_port_) : std::string()) +
                                 " within 30 s; its log:\n" + log);
      }
      why = log;
      if (log.find("Address already in use") == std::string::npos) break;  // not a port race
      ::unlink((dir_ + "/error.log").c_str());
      ::unlink((dir_ + "/stderr.log").c_str());
    }
    throw std::runtime_error("nginx (" + std::string(kBinary) + ") failed to start; its log:\n" + why);
  }

  void stop() noexcept {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > give_up) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
  }

  static int remove_entry(const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }

  void remove_dir() noexcept {
    if (dir_.empty()) return;
    ::nftw(dir_.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    dir_.clear();
  }

  std::string dir_;
  int file_count_;
  std::size_t connections_;
  NginxTls tls_;
  std::map<std::string, std::string> files_;
  std::uint16_t port_ = 0;
  std::uint16_t tls_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace weft_test
