// tests/tools/fetch_test_server.hpp — a small HTTP/1.1 server for the
// weft-fetch tests, on plain blocking sockets and one thread per
// connection, so that what it checks does not rest on the library under
// test. It serves a fixed set of paths and records every request it reads.
//
//   /hello            200, "hello, world\n"
//   /empty            200, empty body
//   /missing          404, "no such page\n"
//   /big              200, kBigSize bytes of big_body(), chunked
//   /gzip             200, kBigSize bytes of big_body(), gzip-encoded
//   /latin1           200, with a header value that is not UTF-8
//   /echo...          200, "ok\n" (the request is recorded, like every other)
//   /files/...        200, "file:" + the request target
//   /redirect/N       302 to /redirect/N-1; /redirect/0 is 200, "landed\n"
//   /delay/MS...      200 after MS milliseconds (counted in max_in_flight())
//   /slow             200 after 30 s (or when the server stops)
//   /stall-body       200 with Content-Length 100, then 10 bytes, then silence
//   /close            closes the connection without a response
//   anything else     404
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace weft_fetch_test {

constexpr std::size_t kBigSize = 300 * 1000;

// /big's body: a pattern no run of equal bytes hides a dropped piece in.
inline std::string big_body() {
  std::string body(kBigSize, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return body;
}

// `data` in the gzip format (RFC 1952), as a server sends it with
// Content-Encoding: gzip.
inline std::string gzip(const std::string& data) {
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer around the deflate stream.
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("gzip: deflateInit2 failed");
  }
  std::string out(deflateBound(&z, static_cast<uLong>(data.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(&out[0]);
  z.avail_out = static_cast<uInt>(out.size());
  const int status = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (status != Z_STREAM_END) throw std::runtime_error("gzip: deflate did not finish");
  return out;
}

inline bool iequal(const std::string& a, const std::string& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

struct RecordedRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // Every value of the header `name` (case-insensitive), in order.
  std::vector<std::string> header(const std::string& name) const {
    std::vector<std::string> values;
    for (const auto& field : headers) {
      if (iequal(field.first, name)) values.push_back(field.second);
    }
    return values;
  }
};

// Invariant: every connection accepted has its thread in threads_ and its
// socket in open_ until the thread ends; the destructor wakes and joins them.
class TestServer {
 public:
  TestServer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
        ::listen(listen_fd_, 1024) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
      throw std::runtime_error(std::string("test server: ") + std::strerror(errno));
    }
    port_ = ntohs(address.sin_port);
    accepter_ = std::thread([this] { accept_loop(); });
  }

  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  ~TestServer() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
    }
    wake_.notify_all();
    ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
    accepter_.join();
    ::close(listen_fd_);
    for (std::thread& thread : threads_) thread.join();
  }

  std::uint16_t port() const { return port_; }
  std::string url(const std::string& target) const {
    return "http://127.0.0.1:" + std::to_string(port_) + target;
  }

  std::vector<RecordedRequest> requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  // The recorded requests whose target is `target`.
  std::vector<RecordedRequest> requests_for(const std::string& target) const {
    std::vector<RecordedRequest> found;
    for (const RecordedRequest& r : requests()) {
      if (r.target == target) found.push_back(r);
    }
    return found;
  }
  // The most /delay/ requests ever answered at once.
  int max_in_flight() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return max_in_flight_;
  }

 private:
  void accept_loop() {
    for (;;) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) {
        if (fd >= 0) ::close(fd);
        return;
      }
      if (fd < 0) continue;
      open_.insert(fd);
      threads_.emplace_back([this, fd] { serve(fd); });
    }
  }

  void serve(int fd) {
    std::string buffer;
    RecordedRequest request;
    while (read_request(fd, buffer, request)) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        requests_.push_back(request);
      }
      if (!respond(fd, request)) break;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    open_.erase(fd);
    ::close(fd);
  }

  // Reads one request (head and Content-Length body) off `buffer` and the
  // socket; false at EOF or on anything it cannot parse.
  static bool read_request(int fd, std::string& buffer, RecordedRequest& request) {
    std::size_t end;
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (!receive(fd, buffer)) return false;
    }
    request = RecordedRequest();
    const std::string head = buffer.substr(0, end);
    buffer.erase(0, end + 4);
    std::size_t line_end = head.find("\r\n");
    const std::string request_line = head.substr(0, line_end);
    const std::size_t space1 = request_line.find(' ');
    const std::size_t space2 = request_line.find(' ', space1 + 1);
    if (space1 == std::string::npos || space2 == std::string::npos) return false;
    request.method = request_line.substr(0, space1);
    request.target = request_line.substr(space1 + 1, space2 - space1 - 1);
    while (line_end != std::string::npos) {
      const std::size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line = head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) return false;
      const std::size_t value = line.find_first_not_of(' ', colon + 1);
      request.headers.emplace_back(line.substr(0, colon), value == std::string::npos ? "" : line.substr(value));
    }
    const std::vector<std::string> lengths = request.header("Content-Length");
    const std::size_t length = lengths.empty() ? 0 : std::strtoul(lengths[0].c_str(), nullptr, 10);
    while (buffer.size() < length) {
      if (!receive(fd, buffer)) return false;
    }
    request.body = buffer.substr(0, length);
    buffer.erase(0, length);
    return true;
  }

  static bool receive(int fd, std::string& buffer) {
    char piece[16 * 1024];
    const ssize_t n = ::recv(fd, piece, sizeof piece, 0);
    if (n <= 0) return false;
    buffer.append(piece, static_cast<std::size_t>(n));
    return true;
  }

  static bool send_all(int fd, const std::string& bytes) {
    std::size_t at = 0;
    while (at < bytes.size()) {
      const ssize_t n = ::send(fd, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return false;
      at += static_cast<std::size_t>(n);
    }
    return true;
  }

  static std::string response(int status, const std::string& reason, const std::string& body,
                              const std::string& extra_headers = "") {
    return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
  }

  // Waits up to `d`, or less if the server stops; false if it stopped.
  bool pause(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mutex_);
    return !wake_.wait_for(lock, d, [this] { return stopping_; });
  }

  // Answers one request; false when the connection is to be closed.
  bool respond(int fd, const RecordedRequest& request) {
    const std::string& t = request.target;
    if (t == "/hello") return send_all(fd, response(200, "OK", "hello, world\n"));
    if (t == "/empty") return send_all(fd, response(200, "OK", ""));
    if (t == "/missing") return send_all(fd, response(404, "Not Found", "no such page\n"));
    if (t == "/big") return send_chunked(fd, big_body());
    if (t == "/gzip") return send_all(fd, response(200, "OK", gzip(big_body()), "Content-Encoding: gzip\r\n"));
    if (t == "/latin1") return send_all(fd, response(200, "OK", "x", "X-Latin1: caf\xe9\r\n"));
    if (t.compare(0, 5, "/echo") == 0) return send_all(fd, response(200, "OK", "ok\n"));
    if (t.compare(0, 7, "/files/") == 0) return send_all(fd, response(200, "OK", "file:" + t));
    if (t.compare(0, 10, "/redirect/") == 0) return redirect(fd, std::atoi(t.c_str() + 10));
    if (t.compare(0, 7, "/delay/") == 0) return delayed(fd, std::atoi(t.c_str() + 7));
    if (t == "/slow") return pause(std::chrono::seconds(30)) && send_all(fd, response(200, "OK", "late\n"));
    if (t == "/stall-body") {
      send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
      pause(std::chrono::seconds(30));
      return false;
    }
    if (t == "/close") return false;
    return send_all(fd, response(404, "Not Found", "unknown path\n"));
  }

  static bool send_chunked(int fd, const std::string& body) {
    std::string out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (std::size_t at = 0; at < body.size(); at += 10000) {
      const std::string piece = body.substr(at, 10000);
      char size[32];
      std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
      out += size + piece + "\r\n";
    }
    out += "0\r\n\r\n";
    return send_all(fd, out);
  }

  static bool redirect(int fd, int n) {
    if (n <= 0) return send_all(fd, response(200, "OK", "landed\n"));
    return send_all(fd, response(302, "Found", "", "Location: /redirect/" + std::to_string(n - 1) + "\r\n"));
  }

  bool delayed(int fd, int ms) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
    }
    const bool running = pause(std::chrono::milliseconds(ms));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --in_flight_;
    }
    return running && send_all(fd, response(200, "OK", "delayed\n"));
  }

  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread accepter_;
  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable wake_;
  bool stopping_ = false;
  std::set<int> open_;
  std::vector<std::thread> threads_;
  std::vector<RecordedRequest> requests_;
  int in_flight_ = 0;
  int max_in_flight_ = 0;
};

}  // namespace weft_fetch_test
