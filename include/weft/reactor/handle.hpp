// weft/reactor/handle.hpp — public header; includes only weft/export.hpp and
// the standard library.
//
// Handles to scheduled callbacks, as asyncio's Handle and TimerHandle.
#pragma once

#include <chrono>
#include <cstdint>

#include "weft/export.hpp"

namespace weft {
namespace detail {
struct CallbackNode;
}  // namespace detail

// A cheap, copyable reference to a callback scheduled with call_soon (or, as
// a TimerHandle, call_later / call_at). A default-constructed Handle refers to
// nothing. Handles must not outlive their loop. Loop thread only.
class WEFT_API Handle {
 public:
  Handle() noexcept = default;

  // Cancels the callback if it has not run yet. Returns true if this call
  // cancelled it; false if it had already run, was already cancelled, or the
  // handle is empty. (asyncio's cancel() returns None; the bool is an extra.)
  bool cancel() noexcept;

  // True while the callback is scheduled: neither run nor cancelled.
  bool pending() const noexcept;

  explicit operator bool() const noexcept { return node_ != nullptr; }

 protected:
  friend class Loop;
  Handle(detail::CallbackNode* node, uint32_t generation) noexcept
      : node_(node), generation_(generation) {}

  detail::CallbackNode* node_ = nullptr;
  uint32_t generation_ = 0;
};

// A Handle of a timer, which also knows when it is due.
class TimerHandle : public Handle {
 public:
  TimerHandle() noexcept = default;

  // The deadline the timer was scheduled for.
  std::chrono::steady_clock::time_point when() const noexcept { return when_; }

 private:
  friend class Loop;
  TimerHandle(detail::CallbackNode* node, uint32_t generation,
              std::chrono::steady_clock::time_point when) noexcept
      : Handle(node, generation), when_(when) {}

  std::chrono::steady_clock::time_point when_{};
};

}  // namespace weft
