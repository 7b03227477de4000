// tools/fetch/demo_server.cpp — DemoServer: one task per connection, reading
// requests through llhttp (request mode) and answering each after a delay.
#include "tools/fetch/demo_server.hpp"

#include <llhttp.h>

#include <cstddef>
#include <string>

#include "weft/fiber/tasks.hpp"
#include "weft/fiber/stream_errors.hpp"

namespace weft_fetch {
namespace {

// Reads requests off a connection's bytes, one at a time: llhttp pauses at
// the end of each request (on_message_complete returns HPE_PAUSED), so
// bytes of a pipelined next request stay unparsed until this one has been
// answered.
//
// Invariant: complete() is true from the end of a request until next();
// meanwhile target() and keep_alive() describe that request.
class RequestReader {
 public:
  RequestReader() {
    llhttp_settings_init(&settings_);
    settings_.on_message_begin = on_message_begin;
    settings_.on_url = on_url;
    settings_.on_message_complete = on_message_complete;
    llhttp_init(&parser_, HTTP_REQUEST, &settings_);
    parser_.data = this;
  }
  RequestReader(const RequestReader&) = delete;
  RequestReader& operator=(const RequestReader&) = delete;

  // Parses up to n bytes, stopping after the end of a request. Returns how
  // many were used; 0 and failed() when the request is malformed.
  std::size_t feed(const char* data, std::size_t n) {
    const llhttp_errno_t status = llhttp_execute(&parser_, data, n);
    if (status == HPE_OK) return n;
    if (status == HPE_PAUSED) {
      const std::size_t used = static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - data);
      llhttp_resume(&parser_);
      return used;
    }
    failed_ = true;
    return 0;
  }

  bool failed() const { return failed_; }
  bool complete() const { return complete_; }
  const std::string& target() const { return target_; }
  bool keep_alive() const { return keep_alive_; }
  // Done with this request: parsing goes on.
  void next() { complete_ = false; }

 private:
  static RequestReader& self(llhttp_t* parser) { return *static_cast<RequestReader*>(parser->data); }

  static int on_message_begin(llhttp_t* parser) {
    self(parser).target_.clear();
    return HPE_OK;
  }
  static int on_url(llhttp_t* parser, const char* at, std::size_t n) {
    self(parser).target_.append(at, n);
    return HPE_OK;
  }
  static int on_message_complete(llhttp_t* parser) {
    RequestReader& reader = self(parser);
    // Asked now: llhttp resets its flags once the callback returns.
    reader.keep_alive_ = llhttp_should_keep_alive(parser) != 0;
    reader.complete_ = true;
    return HPE_PAUSED;
  }

  llhttp_settings_t settings_;
  llhttp_t parser_;
  std::string target_;
  bool keep_alive_ = true;
  bool complete_ = false;
  bool failed_ = false;
};

std::string response_for(const std::string& target, bool keep_alive) {
  const std::string body = "weft-fetch demo: " + target + "\n";
  return "HTTP/1.1 200 OK\r\n"
         "Content-Type: text/plain; charset=utf-8\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n" + (keep_alive ? "" : "Connection: close\r\n") + "\r\n" + body;
}

const char kBadRequest[] =
    "HTTP/1.1 400 Bad Request\r\n"
    "Content-Length: 0\r\n"
    "Connection: close\r\n"
    "\r\n";

// One connection: requests are answered in order until the client closes,
// asks to close, or sends something that is not HTTP.
void serve_connection(weft::Stream stream, std::chrono::milliseconds delay) {
  RequestReader reader;
  try {
    for (;;) {
      const std::string bytes = stream.read(16 * 1024);
      if (bytes.empty()) return;  // the client closed the connection
      std::size_t at = 0;
      while (at < bytes.size()) {
        at += reader.feed(bytes.data() + at, bytes.size() - at);
        if (reader.failed()) {
          stream.write(kBadRequest);
          stream.drain();
          return;
        }
        if (!reader.complete()) continue;
        weft::sleep(delay);
        stream.write(response_for(reader.target(), reader.keep_alive()));
        stream.drain();
        if (!reader.keep_alive()) return;
        reader.next();
      }
    }
  } catch (const weft::OSError&) {
    // The client went away (a reset, a broken pipe): nobody to answer.
  }
}

}  // namespace

// The handler holds the delay by value, not `this`: a connection's task may
// outlive the DemoServer that accepted it.
DemoServer::DemoServer(std::chrono::milliseconds delay)
    : server_(weft::start_server([delay](weft::Stream stream) { serve_connection(std::move(stream), delay); },
                                 "127.0.0.1", 0)) {}

void DemoServer::close() {
  server_.close();
  server_.close_clients();
  server_.wait_closed();
}

}  // namespace weft_fetch
