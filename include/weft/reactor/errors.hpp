// weft/reactor/errors.hpp — public header; includes only weft/export.hpp and
// the standard library.
//
// The error types of the reactor layer. Misuse of an API (a closed loop, a
// call from the wrong thread, a blocking call outside a task) derives from
// std::logic_error; a failed system call is an OSError carrying its errno.
#pragma once

#include <stdexcept>
#include <string>
#include <system_error>

#include "weft/export.hpp"

namespace weft {

// asyncio.InvalidStateError, and asyncio's RuntimeErrors about the loop's
// state ("Event loop is closed", "This event loop is already running").
class WEFT_API InvalidStateError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// asyncio's OSError: a system call failed. code().value() is the errno;
// what() names the call and its object ("add_reader(fd 7): Bad file
// descriptor").
class WEFT_API OSError : public std::system_error {
 public:
  OSError(int err, const std::string& what)
      : std::system_error(err, std::generic_category(), what) {}
  int err() const noexcept { return code().value(); }
};

}  // namespace weft
