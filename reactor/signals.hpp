// reactor/signals.hpp — internal header of reactor/ (not installed).
//
// Process-wide signal plumbing for Loop::add_signal_handler, after asyncio's
// set_wakeup_fd: the sigaction handler only records that the signal arrived
// and writes to the owning loop's wake-up fd; the loop runs the user's
// callback in its next iteration. Nothing needs blocking in other threads, so
// this works in multi-threaded legacy programs.
#pragma once

namespace weft {
namespace detail {

// Takes over `sig` for the loop whose wake-up eventfd is wake_fd. Returns 0,
// EINVAL (not a catchable signal) or EBUSY (another loop holds it).
int claim_signal(int sig, int wake_fd);

// Restores the disposition that claim_signal() replaced.
void release_signal(int sig);

// True once per burst of arrivals of `sig` since the last call.
bool take_signal(int sig);

}  // namespace detail
}  // namespace weft
