// A real nginx sized for the soak test (test_soak.cpp): one worker that may
// hold `connections` keep-alive connections at once, for as long as the
// test runs. tests/http/nginx_server.hpp fixes worker_connections at 4,096,
// which 10,000 clients would exhaust, so this helper writes its own
// configuration; it starts and stops nginx the same way (a child process
// of this one, its files in a fresh directory under /tmp, a retry when the
// chosen port is taken).
//
//   weft_test::SoakNginx nginx(10000);   // throws std::runtime_error if it cannot start
//   ... requests to nginx.url("/f/7.txt"), bodies checked against nginx.content(7) ...
//   // the destructor stops nginx and removes the directory
//
// The configuration, and why:
//   worker_connections, worker_rlimit_nofile   connections + 1,024 of
//       headroom (the listening socket, logs, the status requests);
//   keepalive_timeout 600 s, keepalive_requests 100,000,000   nginx never
//       closes a client's connection during a run, so every reconnect the
//       test sees is the client's doing;
//   listen backlog 4,096 (the usual net.core.somaxconn)   10,000 clients
//       connect at once; a SYN the queue drops is retried by the kernel;
//   /status   stub_status, whose "Active connections" is the server's side
//       of the count;
//   f/<i>.txt   "<i> is the number of this file\n": each body names its own
//       file, so a response handed to the wrong request is caught.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace weft_test {

class SoakNginx {
 public:
  static constexpr const char* kBinary = "/usr/sbin/nginx";

  // Writes the configuration and the document root (`file_count` files)
  // and starts nginx; returns once its port accepts connections.
  explicit SoakNginx(std::size_t connections, int file_count = 100) : connections_(connections) {
    if (::access(kBinary, X_OK) != 0) {
      throw std::runtime_error(std::string(kBinary) + " not found: install nginx-light, a test dependency");
    }
    char pattern[] = "/tmp/weft-soak-nginx-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    dir_ = pattern;
    try {
      make_dir(dir_);
      make_dir(dir_ + "/tmp");
      make_dir(dir_ + "/www");
      make_dir(dir_ + "/www/f");
      for (int i = 0; i < file_count; ++i) {
        files_.push_back(std::to_string(i) + " is the number of this file\n");
        write_file(dir_ + "/www/f/" + std::to_string(i) + ".txt", files_.back());
      }
      start();
    } catch (...) {
      stop();
      remove_dir();
      throw;
    }
  }

  SoakNginx(const SoakNginx&) = delete;
  SoakNginx& operator=(const SoakNginx&) = delete;

  ~SoakNginx() {
    stop();
    remove_dir();
  }

  // "http://127.0.0.1:PORT" + path (which starts with '/').
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  // The path of file i, and its bytes.
  static std::string file_path(int i) { return "/f/" + std::to_string(i) + ".txt"; }
  const std::string& content(int i) const { return files_.at(static_cast<std::size_t>(i)); }
  int file_count() const { return static_cast<int>(files_.size()); }

  // What nginx logged, for failure messages.
  std::string logs() const { return read_file(dir_ + "/error.log") + read_file(dir_ + "/stderr.log"); }

  // "Active connections: N" of a stub_status body, or -1 if absent.
  static long active_connections(const std::string& status_body) {
    static const char kLabel[] = "Active connections:";
    const std::size_t at = status_body.find(kLabel);
    if (at == std::string::npos) return -1;
    return std::strtol(status_body.c_str() + at + sizeof kLabel - 1, nullptr, 10);
  }

 private:
  static void make_dir(const std::string& path) {
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      throw std::runtime_error("mkdir " + path + ": " + std::strerror(errno));
    }
    ::chmod(path.c_str(), 0755);  // world-readable whatever the umask
  }

  static void write_file(const std::string& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << data;
    out.close();
    if (!out) throw std::runtime_error("cannot write " + path);
    ::chmod(path.c_str(), 0644);
  }

  static std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }

  // A port that was free a moment ago.
  static std::uint16_t pick_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0;
    ::close(fd);
    if (!ok) throw std::runtime_error("bind 127.0.0.1:0 failed");
    return ntohs(address.sin_port);
  }

  bool port_accepts() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port_);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return ok;
  }

  void write_config() const {
    const std::string& d = dir_;
    const std::size_t slots = connections_ + 1024;
    std::ostringstream conf;
    conf << "daemon off;\n"
         << "master_process off;\n"
         << "worker_processes 1;\n"
         << "worker_rlimit_nofile " << slots << ";\n"
         << "pid " << d << "/nginx.pid;\n"
         << "lock_file " << d << "/nginx.lock;\n"
         << "error_log " << d << "/error.log warn;\n"
         << "events {\n  worker_connections " << slots << ";\n}\n"
         << "http {\n"
         << "  access_log off;\n"
         << "  client_body_temp_path " << d << "/tmp/body;\n"
         << "  proxy_temp_path " << d << "/tmp/proxy;\n"
         << "  fastcgi_temp_path " << d << "/tmp/fastcgi;\n"
         << "  uwsgi_temp_path " << d << "/tmp/uwsgi;\n"
         << "  scgi_temp_path " << d << "/tmp/scgi;\n"
         << "  types {\n    text/plain txt;\n  }\n"
         << "  keepalive_timeout 600s;\n"
         << "  keepalive_requests 100000000;\n"
         << "  open_file_cache max=1000;\n"
         << "  server {\n"
         << "    listen 127.0.0.1:" << port_ << " backlog=4096;\n"
         << "    server_name localhost;\n"
         << "    root " << d << "/www;\n"
         << "    location = /status {\n      stub_status;\n    }\n"
         << "  }\n"
         << "}\n";
    write_file(d + "/nginx.conf", conf.str());
  }

  void spawn() {
    const std::string conf = dir_ + "/nginx.conf";
    const std::string log = dir_ + "/stderr.log";
    const std::string prefix = dir_ + "/";
    // Nothing allocates after fork(): another thread may hold malloc's lock.
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // nginx dies with the test, even if that crashes
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
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = pick_port();
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
        if (port_accepts()) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      const std::string log = logs();
      if (pid_ > 0 || log.find("Address already in use") == std::string::npos) {
        stop();
        throw std::runtime_error("nginx did not start listening on 127.0.0.1:" + std::to_string(port_) +
                                 "; its log:\n" + log);
      }
      ::unlink((dir_ + "/error.log").c_str());  // a port race: try another port
      ::unlink((dir_ + "/stderr.log").c_str());
    }
    throw std::runtime_error("nginx: every port tried was taken");
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

  std::size_t connections_;
  std::string dir_;
  std::vector<std::string> files_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace weft_test
