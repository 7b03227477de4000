// weft/fiber/exceptions.hpp — public header; includes only public headers and
// the standard library.
//
// asyncio's exceptions (Lib/asyncio/exceptions.py), for the fiber layer.
#pragma once

#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "weft/export.hpp"
#include "weft/reactor/errors.hpp"

namespace weft {

// asyncio.CancelledError: thrown at a task's suspension point when the task
// is cancelled. Deliberately NOT derived from std::exception, so that
// `catch (const std::exception&)` cannot swallow a cancellation (Python 3.8
// moved CancelledError out of Exception for the same reason). Code that
// catches everything with `catch (...)` must rethrow it.
class WEFT_API CancelledError {
 public:
  CancelledError() = default;
  explicit CancelledError(std::string message) : message_(std::move(message)) {}
  // The message given to Task::cancel(msg), or empty.
  const std::string& message() const noexcept { return message_; }
  const char* what() const noexcept { return message_.empty() ? "CancelledError" : message_.c_str(); }

 private:
  std::string message_;
};

// asyncio.TimeoutError (TimeoutError since 3.11): a deadline passed.
class WEFT_API TimeoutError : public std::runtime_error {
 public:
  TimeoutError() : std::runtime_error("TimeoutError") {}
  using std::runtime_error::runtime_error;
};

// asyncio's ExceptionGroup, raised by task_group() when children fail.
class WEFT_API ExceptionGroup : public std::runtime_error {
 public:
  ExceptionGroup(const std::string& message, std::vector<std::exception_ptr> exceptions)
      : std::runtime_error(describe(message, exceptions)), exceptions_(std::move(exceptions)) {}
  // The children's exceptions, in the order they finished.
  const std::vector<std::exception_ptr>& exceptions() const noexcept { return exceptions_; }

 private:
  static std::string describe(const std::string& message, const std::vector<std::exception_ptr>& errors);
  std::vector<std::exception_ptr> exceptions_;
};

// Describes an exception for messages: what() of a std::exception, the
// message of a CancelledError, or a placeholder.
WEFT_API std::string describe_exception(const std::exception_ptr& error);

}  // namespace weft
