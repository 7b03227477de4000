// tools/fetch/saved_bodies.cpp — file names and files of -o DIR.
#include "tools/fetch/saved_bodies.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "weft/reactor/errors.hpp"

namespace weft_fetch {
namespace {

constexpr std::size_t kMaxSegment = 200;  // well under NAME_MAX (255)

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool escape = text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
                        hex_value(text[i + 2]) >= 0;
    if (escape) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

bool is_safe_byte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

// mkdir -p: each missing directory of `path`, from the top down.
void make_directories(const std::string& path) {
  for (std::size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
    const std::string prefix = path.substr(0, end);
    if (!prefix.empty() && ::mkdir(prefix.c_str(), 0777) != 0 && errno != EEXIST) {
      const int err = errno;
      throw weft::OSError(err, "cannot create directory '" + prefix + "'");
    }
    if (end == std::string::npos) return;
  }
}

}  // namespace

std::string saved_name(std::size_t index, const weft::http::URL& url) {
  const std::string& path = url.path();
  std::string segment = percent_decode(path.substr(path.rfind('/') + 1));
  if (segment.size() > kMaxSegment) segment.resize(kMaxSegment);
  for (char& c : segment) {
    if (!is_safe_byte(c)) c = '_';
  }
  return std::to_string(index) + "-" + (segment.empty() ? "index" : segment);
}

// --- OutputDir -------------------------------------------------------------------

OutputDir::OutputDir(const std::string& path) : path_(path) {
  make_directories(path);
  fd_ = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0) {
    const int err = errno;
    throw weft::OSError(err, "cannot open directory '" + path + "'");
  }
}

OutputDir::OutputDir(OutputDir&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)) {}

OutputDir& OutputDir::operator=(OutputDir&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

OutputDir::~OutputDir() {
  if (fd_ >= 0) ::close(fd_);
}

// --- SavedBody -------------------------------------------------------------------

SavedBody::SavedBody(const OutputDir& dir, std::string name) : dir_(&dir), name_(std::move(name)) {
  fd_ = ::openat(dir.fd(), name_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (fd_ < 0) {
    const int err = errno;
    throw weft::OSError(err, "cannot create '" + dir.path() + "/" + name_ + "'");
  }
}

SavedBody::SavedBody(SavedBody&& other) noexcept
    : dir_(std::exchange(other.dir_, nullptr)), name_(std::move(other.name_)), fd_(std::exchange(other.fd_, -1)) {}

SavedBody& SavedBody::operator=(SavedBody&& other) noexcept {
  if (this != &other) {
    discard();
    dir_ = std::exchange(other.dir_, nullptr);
    name_ = std::move(other.name_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

SavedBody::~SavedBody() { discard(); }

void SavedBody::write(const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t k = ::write(fd_, data, n);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) {
      const int err = errno;
      throw weft::OSError(err, "cannot write '" + dir_->path() + "/" + name_ + "'");
    }
    data += k;
    n -= static_cast<std::size_t>(k);
  }
}

void SavedBody::keep() {
  if (fd_ < 0) return;
  const int status = ::close(std::exchange(fd_, -1));
  if (status != 0 && errno != EINTR) {
    const int err = errno;
    discard();
    throw weft::OSError(err, "cannot write '" + dir_->path() + "/" + name_ + "'");
  }
  dir_ = nullptr;  // kept: discard() leaves it alone
}

void SavedBody::discard() noexcept {
  if (dir_ == nullptr) return;
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  ::unlinkat(dir_->fd(), name_.c_str(), 0);
  dir_ = nullptr;
}

}  // namespace weft_fetch
