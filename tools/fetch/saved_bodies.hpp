// tools/fetch/saved_bodies.hpp — -o DIR: each body saved as a file in DIR,
// named "<index>-<last path segment>", and never anywhere else.
//
// Every file is created relative to DIR's open descriptor (openat) with
// O_NOFOLLOW, and its name holds only [A-Za-z0-9._-] after a "<index>-"
// prefix, so it can be neither a path nor "." or "..", and no symbolic link
// planted in DIR is followed.
#pragma once

#include <cstddef>
#include <string>

#include "weft/http/url.hpp"

namespace weft_fetch {

// The file name of URL number `index` (from 0): "<index>-<segment>", the
// segment being the last one of the URL's path, percent-decoded, with every
// byte outside [A-Za-z0-9._-] replaced by '_', cut to 200 bytes, and
// "index" when empty ("http://h/dir/" → "3-index").
std::string saved_name(std::size_t index, const weft::http::URL& url);

// DIR, created with its missing parents and held open. Move-only.
class OutputDir {
 public:
  OutputDir() noexcept = default;  // no -o: nothing is saved
  // Throws weft::OSError naming the directory if it cannot be created or
  // opened.
  explicit OutputDir(const std::string& path);
  OutputDir(OutputDir&& other) noexcept;
  OutputDir& operator=(OutputDir&& other) noexcept;
  OutputDir(const OutputDir&) = delete;
  OutputDir& operator=(const OutputDir&) = delete;
  ~OutputDir();

  explicit operator bool() const noexcept { return fd_ >= 0; }
  const std::string& path() const noexcept { return path_; }
  int fd() const noexcept { return fd_; }

 private:
  std::string path_;
  int fd_ = -1;
};

// One body on its way to DIR/name. A body that is not complete is not
// kept: the file is removed unless keep() is called. Move-only.
class SavedBody {
 public:
  SavedBody() noexcept = default;  // saves nothing
  // Creates (or truncates) DIR/name. Throws weft::OSError naming the file.
  SavedBody(const OutputDir& dir, std::string name);
  SavedBody(SavedBody&& other) noexcept;
  SavedBody& operator=(SavedBody&& other) noexcept;
  SavedBody(const SavedBody&) = delete;
  SavedBody& operator=(const SavedBody&) = delete;
  // Removes the file unless keep() was called.
  ~SavedBody();

  // Appends n bytes (blocking: a local file). Throws weft::OSError.
  void write(const char* data, std::size_t n);
  // The body is complete: closes the file and keeps it. Throws
  // weft::OSError if closing reports a write error.
  void keep();

 private:
  void discard() noexcept;

  const OutputDir* dir_ = nullptr;
  std::string name_;
  int fd_ = -1;
};

}  // namespace weft_fetch
