// fiber/byte_buffer.hpp — internal header of fiber/ (not installed).
//
// ByteBuffer is the byte queue a stream reads into and writes from: one
// contiguous block, consumed at the front and filled at the back, after
// muduo's net/Buffer.h:
//
//   +------------------+--------------------+--------------------+
//   |  consumed space  |  readable bytes    |  writable space    |
//   +------------------+--------------------+--------------------+
//   0              begin_               end_              capacity_
//
// Invariant: 0 <= begin_ <= end_ <= capacity_. Consuming everything resets
// both indices to 0, so a stream whose reads keep up with its data (the
// steady state) never moves a byte; space is reclaimed by sliding the
// readable bytes to the front only when the back has too little room, and
// the block grows geometrically otherwise. The block is allocated on first
// use, uninitialised, so an idle stream costs no buffer at all.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>

namespace weft {
namespace detail {

class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;

  std::size_t size() const noexcept { return end_ - begin_; }
  bool empty() const noexcept { return end_ == begin_; }
  const char* data() const noexcept { return data_.get() + begin_; }
  std::size_t capacity() const noexcept { return capacity_; }

  // Drops the first n readable bytes (n <= size()).
  void consume(std::size_t n) noexcept {
    assert(n <= size());
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  void clear() noexcept { begin_ = end_ = 0; }

  // Moves the first n readable bytes out as a string.
  std::string take(std::size_t n) {
    std::string out(data(), n);
    consume(n);
    return out;
  }

  // Makes at least n bytes writable and returns where they start; fill
  // them, then commit() what was written. Invalidates data().
  char* reserve(std::size_t n) {
    if (capacity_ - end_ < n) make_room(n);
    return data_.get() + end_;
  }
  std::size_t writable() const noexcept { return capacity_ - end_; }
  void commit(std::size_t n) noexcept {
    assert(n <= writable());
    end_ += n;
  }

  void append(const char* bytes, std::size_t n) {
    if (n == 0) return;
    std::memcpy(reserve(n), bytes, n);
    commit(n);
  }

  // Puts n bytes back in front of the readable ones (a read that is
  // abandoned part-way returns what it took).
  void prepend(const char* bytes, std::size_t n) {
    if (n == 0) return;
    if (begin_ < n) {
      // Rebuild as [bytes][readable] in a block of its own.
      const std::size_t old = size();
      std::unique_ptr<char[]> block(new char[std::max(n + old, capacity_)]);
      std::memcpy(block.get() + n, data(), old);
      capacity_ = std::max(n + old, capacity_);
      data_ = std::move(block);
      begin_ = n;
      end_ = n + old;
    }
    begin_ -= n;
    std::memcpy(data_.get() + begin_, bytes, n);
  }

  // Frees the block if it is empty and larger than `keep` bytes, so that a
  // burst does not pin memory for the rest of a long-lived connection.
  void shrink_if_idle(std::size_t keep) noexcept {
    if (empty() && capacity_ > keep) {
      data_.reset();
      capacity_ = 0;
      begin_ = end_ = 0;
    }
  }

 private:
  void make_room(std::size_t n) {
    const std::size_t used = size();
    // Sliding is enough when the consumed space at the front makes room,
    // and cheap when little is left to move.
    if (capacity_ - used >= n && used <= capacity_ / 2) {
      std::memmove(data_.get(), data(), used);
      begin_ = 0;
      end_ = used;
      return;
    }
    std::size_t grown = capacity_ * 2;
    if (grown < kMinimumBlock) grown = kMinimumBlock;
    while (grown - used < n) grown *= 2;
    std::unique_ptr<char[]> block(new char[grown]);
    if (used != 0) std::memcpy(block.get(), data(), used);
    data_ = std::move(block);
    capacity_ = grown;
    begin_ = 0;
    end_ = used;
  }

  static constexpr std::size_t kMinimumBlock = 4096;

  std::unique_ptr<char[]> data_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace detail
}  // namespace weft
