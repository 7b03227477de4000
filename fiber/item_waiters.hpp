// fiber/item_waiters.hpp — internal header of fiber/ (not installed).
//
// The tasks parked on a queue or a channel, and the few operations on them.
// asyncio's queues.py keeps a deque of futures per side (_getters,
// _putters); weft keeps an intrusive FIFO of ItemWaiter nodes instead, each
// on its task's own stack (queues.hpp declares the node), so that waiting
// allocates nothing:
//
//   getters_ ⇄ [waiter A] ⇄ [waiter B] ⇄ (back to getters_)     parked
//   woken_   ⇄ [waiter C] ⇄ (back to woken_)                    woken, not resumed
//                stack A       stack B        stack C
//
// Invariants: a node is linked from the moment its task parks in park_in()
// (queues.hpp) until the task, resumed, destroys the node, which unlinks
// it; no one else frees a node. Waking a task
// moves its node from its waiting list to the owner's woken list, so every
// list the owner holds names only tasks that will still look at their node,
// and the owner's destructor can tell each of them that it is gone
// (orphan_all). A node is woken at most once: whoever takes it off its
// waiting list decides its state, and a task already woken by its own
// cancellation is skipped (its Waker refuses), as asyncio's _wakeup_next
// skips futures that are done.
#pragma once

#include "weft/fiber/detail/task_core.hpp"
#include "weft/fiber/queues.hpp"

namespace weft {
namespace detail {

inline ItemWaiter* as_waiter(ItemWaitLink* link) noexcept { return static_cast<ItemWaiter*>(link); }

// asyncio queues.py, Queue._wakeup_next: wakes the first waiter of `list`
// whose task can still be woken, marks it `state` and moves it to `woken`;
// the ones before it, already woken by a cancellation, leave the list marked
// kSkipped. Returns the woken waiter, or null if there was none.
inline ItemWaiter* wake_first(ItemWaitList& list, ItemWaitList& woken,
                              ItemWaitState state = ItemWaitState::kWoken) noexcept {
  while (list.linked()) {
    ItemWaiter* w = as_waiter(list.next);
    w->unlink();
    if (w->waker()) {
      w->state = state;
      link_back(woken, *w);
      return w;
    }
    w->state = ItemWaitState::kSkipped;
  }
  return nullptr;
}

// Wakes every waiter of `list`, as wake_first() would, in order.
inline void wake_all(ItemWaitList& list, ItemWaitList& woken, ItemWaitState state) noexcept {
  while (wake_first(list, woken, state) != nullptr) {
  }
}

// The owner of `list` is being destroyed: every waiter leaves the list
// marked orphaned, and a parked one is woken to find out.
inline void orphan_all(ItemWaitList& list) noexcept {
  while (list.linked()) {
    ItemWaiter* w = as_waiter(list.next);
    w->unlink();
    w->orphaned = true;
    w->waker();  // refused if the task was woken already
  }
}

}  // namespace detail
}  // namespace weft
