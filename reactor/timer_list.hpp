// reactor/timer_list.hpp — internal header of reactor/ (not installed).
//
// The intrusive link every scheduled timer carries, and the doubly linked
// list the wheel's slots are made of. Removal is O(1) given the entry.
#pragma once

#include <cstdint>

namespace weft {
namespace detail {

struct TimerList;

struct TimerEntry {
  TimerEntry* prev = nullptr;
  TimerEntry* next = nullptr;
  TimerList* list = nullptr;  // the list holding this entry, or null
  uint64_t when = 0;          // deadline, in wheel ticks
};

// A doubly linked list of entries, in insertion order.
struct TimerList {
  TimerEntry* head = nullptr;
  TimerEntry* tail = nullptr;

  bool empty() const { return head == nullptr; }

  void push_back(TimerEntry* e) {
    e->list = this;
    e->next = nullptr;
    e->prev = tail;
    if (tail != nullptr) {
      tail->next = e;
    } else {
      head = e;
    }
    tail = e;
  }

  void erase(TimerEntry* e) {
    if (e->prev != nullptr) {
      e->prev->next = e->next;
    } else {
      head = e->next;
    }
    if (e->next != nullptr) {
      e->next->prev = e->prev;
    } else {
      tail = e->prev;
    }
    e->prev = e->next = nullptr;
    e->list = nullptr;
  }

  // Detaches the whole list and returns its first entry; the entries keep
  // their next links (prev and list are left stale: the caller relinks them).
  TimerEntry* take_all() {
    TimerEntry* first = head;
    head = tail = nullptr;
    return first;
  }
};

}  // namespace detail
}  // namespace weft
